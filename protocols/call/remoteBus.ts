// The bus across nodes: `bus.request({node, actor}, type, payload)` travels as the `bus/request`
// operation of alknet/call. The sending side keeps one pooled client per peer node; the serving
// side hands the message to `bus.serveRemote`, which validates it against the catalogue and marks
// it as coming from that node (services refuse remote callers what is local-only).
import { Type } from '@sinclair/typebox';
import type { Bus, RemoteTransport } from '../../bus/index.ts';
import { BusError } from '../../bus/index.ts';
import { readKnownNodes } from '../../actors/peers/knownNodes.ts';
import { defineOperation, type OperationSpec } from '../../operations/catalogue.ts';
import { connect, type ConnectOptions, type NodeClient } from './connect.ts';

export const BUS_SCOPE = 'bus';

const BusRequestInput = Type.Object({
  actor: Type.String({ minLength: 1, maxLength: 128 }),
  type: Type.String({ minLength: 1, maxLength: 128 }),
  payload: Type.Unknown(),
});

/** Served by every node: a remote peer's request to one of our actors (needs the `bus` scope). */
export function busRequestOperation(bus: Bus): OperationSpec {
  return defineOperation({
    name: 'bus/request',
    type: 'mutation',
    description: 'Deliver a catalogue message to a local actor and return its reply (the remote bus).',
    input: BusRequestInput,
    output: Type.Object({ reply: Type.Unknown() }),
    scopes: [BUS_SCOPE],
    visibility: 'external',
    async handler(input, ctx) {
      const reply = await bus.serveRemote({
        from: ctx.caller.nodeId ?? 'anonymous',
        actor: input.actor,
        type: input.type,
        payload: input.payload,
        deadlineMs: Math.max(1, ctx.deadline - Date.now()),
        correlationId: ctx.correlationId,
        signal: ctx.signal,
      });
      return { reply };
    },
  });
}

export interface RemoteBusOptions extends ConnectOptions {
  /** Where a node is reached: its address, or undefined. Default: the known_nodes file's entry for it. */
  resolve?: (nodeId: string) => Promise<string | undefined>;
}

/** Finds `NODEID@host:port` for a node id in known_nodes (the nodes this one has met). */
function knownNodesResolver(knownNodesPath: string) {
  return async (nodeId: string): Promise<string | undefined> => {
    const entry = (await readKnownNodes(knownNodesPath)).find((n) => n.nodeId === nodeId);
    return entry ? `${nodeId}@${entry.address}` : undefined;
  };
}

/** The sending side: one pooled client per peer node, re-dialled after a failure. */
export function createRemoteTransport(options: RemoteBusOptions): RemoteTransport & { close(): Promise<void> } {
  const resolve = options.resolve ?? (options.knownNodesPath ? knownNodesResolver(options.knownNodesPath) : async () => undefined);
  const clients = new Map<string, Promise<NodeClient>>();

  const clientFor = (node: string): Promise<NodeClient> => {
    let client = clients.get(node);
    if (!client) {
      client = (async () => {
        const address = await resolve(node);
        if (!address) throw new BusError('UNAVAILABLE', `no address known for node ${node}: connect to it once (alknet call ADDR node/info) or add it to known_nodes`);
        return connect(address, options);
      })();
      clients.set(node, client);
      client.catch(() => clients.delete(node)); // the next request tries again
    }
    return client;
  };

  return {
    async request(node, actor, type, payload, opts) {
      const client = await clientFor(node);
      const { reply } = await client.call<{ reply: unknown }>('bus/request', { actor, type, payload }, { deadlineMs: opts.deadlineMs, ...(opts.signal ? { signal: opts.signal } : {}) });
      return reply;
    },
    async close() {
      const all = [...clients.values()];
      clients.clear();
      await Promise.all(all.map(async (c) => (await c.catch(() => null))?.close()));
    },
  };
}
