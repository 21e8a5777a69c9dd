// The peers actor: a supervised service that owns peers.toml (grants, tokens) and known_nodes and
// answers the peers.* messages. It learns the node's own id from the vault once at start (the
// node's own key holds every scope and every ALPN on its node), then answers from the PeerList,
// which re-reads peers.toml whenever the file changed (so `alknet peer add` in another process
// takes effect on the next request). Requests that arrive while it starts are held (bounded).
import path from 'node:path';
import { assign, fromPromise, setup } from 'xstate';
import type { Bus } from '../../bus/bus.ts';
import type { BusRequestEvent } from '../../bus/events.ts';
import { BusError, toErrorShape } from '../../bus/errors.ts';
import { VAULT_SYSTEM_ID } from '../vault/messages.ts';
import { readKnownNodes } from './knownNodes.ts';
import { PeerList } from './peerList.ts';
import { missingScopes } from './scopes.ts';
import { authorizeKey } from './authorizedKeys.ts';
import { AuthorizedKeysFile } from './authorizedKeysFile.ts';
import { isPeersMessageType, type PeersMessageType } from './messages.ts';
import type { ReplyOf, RequestOf } from '../../bus/catalogue.ts';

export interface PeersInput {
  home: string;
  bus: Pick<Bus, 'request'>;
  log?: { warn(obj: object, msg?: string): void };
  /** Requests held while the actor starts (default 256); more are answered BUSY. */
  maxPending?: number;
}

type PeersRequest = BusRequestEvent<PeersMessageType>;

/** The PeerList in the context, shown in snapshots by its file only. */
export class PeerListRef {
  constructor(readonly list: PeerList) {}
  toJSON(): { file: string } {
    return { file: this.list.file };
  }
}

/** A request parked while the actor starts: snapshots show its type, never its payload (it may hold a token). */
class QueuedPeersRequest {
  constructor(readonly event: PeersRequest) {}
  toJSON(): { type: string } {
    return { type: this.event.type };
  }
}

interface PeersContext {
  home: string;
  bus: PeersInput['bus'];
  peers: PeerListRef;
  authorizedKeys: AuthorizedKeysFile;
  selfNodeId: string | null;
  pending: readonly QueuedPeersRequest[];
  maxPending: number;
}

const EVERYTHING = ['*'];

function authorize(ctx: PeersContext, req: RequestOf<'peers.authorize'>): ReplyOf<'peers.authorize'> {
  if (req.nodeId !== null && req.nodeId === ctx.selfNodeId) return { allowed: true, nodeId: req.nodeId, scopes: EVERYTHING, known: true };
  // One stat of peers.toml per request (was one per question below).
  const list = ctx.peers.list.current();
  const refusal = list.alpnRefusal(req.nodeId, req.alpn);
  if (refusal) return { allowed: false, reason: refusal };
  let scopes: ReadonlySet<string>;
  try {
    scopes = list.callerFor(req.nodeId, req.token).scopes;
  } catch (err) {
    return { allowed: false, reason: toErrorShape(err).message };
  }
  const missing = missingScopes(scopes, req.scopes ?? []);
  if (missing.length > 0) return { allowed: false, reason: `needs scope ${missing.map((s) => `"${s}"`).join(', ')}` };
  const known = req.nodeId !== null && list.peer(req.nodeId)?.enabled === true;
  return { allowed: true, nodeId: req.nodeId, scopes: [...scopes], known };
}

async function answer(ctx: PeersContext, event: PeersRequest): Promise<void> {
  const port = event.replyTo as { reply(v: unknown): void; fail(code: string, message: string): void };
  try {
    switch (event.type) {
      case 'peers.authorize':
        return port.reply(authorize(ctx, event.payload as RequestOf<'peers.authorize'>));
      case 'peers.authorizeSshKey': {
        const req = event.payload as RequestOf<'peers.authorizeSshKey'>;
        const decision = authorizeKey(ctx.authorizedKeys.current(), req.keyType, req.publicKey, req.remoteHost);
        if (!decision.allowed) return port.reply({ allowed: false, reason: decision.reason });
        const { key } = decision;
        return port.reply({ allowed: true, line: key.line, comment: key.comment, options: { ...key.options } });
      }
      case 'peers.list':
        return port.reply({ peers: ctx.peers.list.peers() });
      case 'peers.resolve': {
        const { nodeId } = event.payload as RequestOf<'peers.resolve'>;
        const entry = (await readKnownNodes(path.join(ctx.home, 'known_nodes'))).find((n) => n.nodeId === nodeId);
        return port.reply({ address: entry ? `${nodeId}@${entry.address}` : null });
      }
    }
  } catch (err) {
    const shape = toErrorShape(err);
    port.fail(shape.code, shape.message);
  }
}

export const peersMachine = setup({
  types: { input: {} as PeersInput, context: {} as PeersContext, events: {} as PeersRequest | { type: 'shutdown' } },
  actors: {
    learnSelf: fromPromise<string, PeersInput['bus']>(async ({ input }) => (await input.request(VAULT_SYSTEM_ID, 'vault.identity', {}, { deadlineMs: 30_000 })).nodeId),
  },
  guards: {
    isRequest: ({ event }) => isPeersMessageType(event.type),
    pendingFull: ({ context, event }) => isPeersMessageType(event.type) && context.pending.length >= context.maxPending,
  },
  actions: {
    answer: ({ context, event }) => {
      if (isPeersMessageType(event.type)) void answer(context, event as PeersRequest);
    },
    queue: assign({ pending: ({ context, event }) => [...context.pending, new QueuedPeersRequest(event as PeersRequest)] }),
    rejectBusy: ({ event }) => (event as PeersRequest).replyTo.fail('BUSY', 'peers: starting; too many requests waiting'),
    answerPending: assign(({ context }) => {
      for (const q of context.pending) void answer(context, q.event);
      return { pending: [] };
    }),
    fail: ({ context, event }) => {
      const reason = (event as { error?: unknown }).error;
      for (const q of context.pending) q.event.replyTo.fail('UNAVAILABLE', 'peers: could not start');
      throw new BusError('UNAVAILABLE', `peers: cannot learn the node id from the vault: ${reason instanceof Error ? reason.message : 'failed'}`);
    },
  },
}).createMachine({
  id: 'peers',
  context: ({ input }) => ({
    home: input.home,
    bus: input.bus,
    // Throws (the actor fails to start) if peers.toml exists and is malformed: a node must not run on it.
    peers: new PeerListRef(new PeerList(input.home, { onError: (err) => input.log?.warn({ error: err.message }, 'peers.toml not reloaded') })),
    authorizedKeys: new AuthorizedKeysFile(input.home, input.log),
    selfNodeId: null,
    pending: [],
    maxPending: input.maxPending ?? 256,
  }),
  initial: 'starting',
  on: { shutdown: '.stopped' },
  states: {
    starting: {
      invoke: {
        src: 'learnSelf',
        input: ({ context }) => context.bus,
        onDone: { target: 'ready', actions: assign({ selfNodeId: ({ event }) => event.output }) },
        onError: { actions: 'fail' },
      },
      on: {
        '*': [
          { guard: 'pendingFull', actions: 'rejectBusy' },
          { guard: 'isRequest', actions: 'queue' },
        ],
      },
    },
    ready: {
      entry: 'answerPending',
      on: { '*': { guard: 'isRequest', actions: 'answer' } },
    },
    stopped: { type: 'final' },
  },
});
