// The `alknet/call` protocol: every stream a peer opens carries one call (QUIC: many streams per
// connection; TLS: the connection is the one stream). The caller is the peer's certificate key,
// looked up in peers.toml, or the token in the request; the node's own key holds every scope.
import type { ProtocolSpec, SessionServices } from '../protocol.ts';
import { sessionFromHandler } from '../protocol.ts';
import type { OperationRegistry, Caller } from '../../operations/catalogue.ts';
import type { PeerList } from '../../actors/peers/peerList.ts';
import { createConnectionCallServer } from './server.ts';

export const CALL_ALPN = 'alknet/call';

/** What a call session needs from the node (startNode puts these in SessionServices). */
export interface CallServices extends SessionServices {
  operations: OperationRegistry;
  peers: PeerList;
}

const SELF: Caller = { nodeId: null, scopes: new Set(['*']) };

export function callProtocol(): ProtocolSpec {
  return {
    alpn: CALL_ALPN,
    session: sessionFromHandler(({ conn, services }) => {
      const { operations, peers, nodeId } = services as CallServices;
      const peerId = conn.peer?.nodeId ?? null;
      const server = createConnectionCallServer({
        registry: operations,
        caller: (token?: string) => (peerId !== null && peerId === nodeId ? { ...SELF, nodeId: peerId } : peers.callerFor(peerId, token)),
      });
      conn.onStream((stream) => void server.serve(stream));
    }),
  };
}
