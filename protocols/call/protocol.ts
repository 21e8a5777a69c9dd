// The `alknet/call` protocol: every stream a peer opens carries calls, multiplexed by id (QUIC: a
// client keeps one shared stream, plus one per subscription or bulk call; TLS: the connection is the
// one stream). It only translates frames into the node's
// operation catalogue: who the caller is and what it may do is the peers service's answer
// (`peers.authorize`, asked per call with the request's token, so grants and revocations apply at
// once), and the operation itself is a bus request to the actor that owns it.
//
// Before anything is buffered the connection's peer is looked up once: a connection that is not
// the node itself or a listed peer may send request frames (every frame of every stream, not only
// the first) of at most limits.maxFirstFrameBytes (64 KiB by default), so anonymous clients cannot
// make the node hold 16 MiB each.
import type { Duplex } from 'node:stream';
import type { ProtocolSpec, SessionServices } from '../protocol.ts';
import { sessionFromHandler } from '../protocol.ts';
import type { Caller } from '../../operations/catalogue.ts';
import { CallError } from '../../operations/errors.ts';
import { PEERS_SYSTEM_ID } from '../../actors/peers/messages.ts';
import type { ReplyOf } from '../../bus/catalogue.ts';
import { createConnectionCallServer } from './server.ts';
import { CallFrameError } from './callFrameCodec.ts';
import { shareInFlight } from '../../lib/shareInFlight.ts';

export const CALL_ALPN = 'alknet/call';

function authorize(services: SessionServices, nodeId: string | null, token: string | undefined): Promise<ReplyOf<'peers.authorize'>> {
  return services.bus.request(
    PEERS_SYSTEM_ID,
    'peers.authorize',
    { nodeId, alpn: CALL_ALPN, ...(token !== undefined ? { token } : {}) },
    { deadlineMs: 5_000 },
  );
}

/** The caller of one call, as the peers service sees it; FORBIDDEN with its reason when refused. */
async function callerOf(services: SessionServices, nodeId: string | null, token: string | undefined): Promise<Caller> {
  const answer = await authorize(services, nodeId, token);
  if (!answer.allowed) throw new CallError('FORBIDDEN', answer.reason);
  return { nodeId: answer.nodeId, scopes: new Set(answer.scopes) };
}

/**
 * A connection's callers: asked per call, but calls that arrive (with the same token) while an
 * answer is on its way share that answer instead of asking again. Nothing is kept once it arrives,
 * so a grant or a revocation still applies to every call that starts after it.
 */
function sharedCallerOf(services: SessionServices, nodeId: string | null): (token: string | undefined) => Promise<Caller> {
  return shareInFlight((token: string | undefined) => callerOf(services, nodeId, token));
}

export function callProtocol(): ProtocolSpec {
  return {
    alpn: CALL_ALPN,
    session: sessionFromHandler(({ conn, services }) => {
      const peerId = conn.peer?.nodeId ?? null;
      const { limits } = services;
      const server = authorize(services, peerId, undefined)
        .then((answer) => answer.allowed && answer.known, () => false)
        .then((known) =>
          createConnectionCallServer({
            registry: services.operations,
            caller: sharedCallerOf(services, peerId),
            limits: { maxFrameBytes: limits.maxFrameBytes, maxRequestBytes: known ? limits.maxFrameBytes : limits.maxFirstFrameBytes },
            budget: services.buffers,
            // Bad frames and silent streams are worth a line; a client closing its stream is not.
            onStreamError: (err) => {
              if (err instanceof CallFrameError || /^no call\.requested/.test(err.message)) {
                services.log.warn({ connId: conn.id, alpn: CALL_ALPN, error: err.message.slice(0, 200) }, 'call stream refused');
              }
            },
          }),
        );
      conn.onStream((stream: Duplex) => void server.then((s) => s.serve(stream)));
    }),
  };
}
