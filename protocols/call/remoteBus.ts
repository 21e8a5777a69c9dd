// The bus across nodes, sending side: `bus.request({node, actor}, type, payload)` travels as the
// `bus/request` operation of alknet/call (served by operations/builtins.ts), one pooled client per
// peer node. Where a node is found is the peers service's answer (`peers.resolve`, from known_nodes).
import type { Bus, RemoteTransport } from '../../bus/index.ts';
import { BusError } from '../../bus/index.ts';
import { PEERS_SYSTEM_ID } from '../../actors/peers/messages.ts';
import { connect, type ConnectOptions, type NodeClient } from './connect.ts';

export interface RemoteBusOptions extends ConnectOptions {
  /** Where a node is reached: its address, or undefined. Default: ask the peers service (`peers.resolve`) on `bus`. */
  resolve?: (nodeId: string) => Promise<string | undefined>;
  /** The local bus whose peers service resolves node ids (when `resolve` is not given). */
  bus?: Pick<Bus, 'request'>;
}

/** Finds `NODEID@host:port` for a node id through the peers service (known_nodes: the nodes this one has met). */
function peersResolver(bus: Pick<Bus, 'request'>) {
  return async (nodeId: string): Promise<string | undefined> =>
    (await bus.request(PEERS_SYSTEM_ID, 'peers.resolve', { nodeId }, { deadlineMs: 5_000 })).address ?? undefined;
}

/** The sending side: one pooled client per peer node, re-dialled after a failure. */
export function createRemoteTransport(options: RemoteBusOptions): RemoteTransport & { close(): Promise<void> } {
  const resolve = options.resolve ?? (options.bus ? peersResolver(options.bus) : async () => undefined);
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
