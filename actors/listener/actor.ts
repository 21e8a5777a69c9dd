// The listener actor: starts the QUIC + TLS listener with the node's key (asked of the vault over
// the bus), and turns each accepted connection into `connection.accepted` for the protocol actor of
// its ALPN. A connection whose ALPN has no live protocol actor is closed with a clear reason.
import { assign, fromCallback, fromPromise, setup, type EventObject } from 'xstate';
import type { Bus } from '../../bus/index.ts';
import type { Connection } from './connection.ts';
import type { ConnectionHandoff } from './handoff.ts';
import { PEERS_SYSTEM_ID } from '../peers/messages.ts';
import { startListener, type Listener, type ListenerLimits } from './listener.ts';
import type { NodeKeyPair } from './tlsIdentity.ts';
import type { TransportLogger } from './logger.ts';

/** The node's logger (pino fits); the transport's refusals are logged through it too. */
export type ListenerLog = TransportLogger;

export interface ListenerActorInput {
  bus: Bus;
  host: string;
  port: number;
  alpns: string[];
  /** The node's key pair; the node asks the vault for it. */
  identity: () => Promise<NodeKeyPair>;
  /** Where accepted connections wait for their protocol actor to claim them (once each). */
  connections: ConnectionHandoff;
  limits?: ListenerLimits;
  log: ListenerLog;
  transportLogger?: TransportLogger;
  /** Called once the listener accepts connections. */
  onListening?: (listener: Listener) => void;
  /** On shutdown, open connections get this long to be closed by their sessions before they are cut. */
  drainMs?: number;
}

interface ListenerContext {
  input: ListenerActorInput;
  listener: Listener | null;
  address: string | null;
}

export function protocolSystemId(alpn: string): string {
  return `protocol:${alpn}`;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** Open connections per peer node id, so `peer.disconnected` is published when a peer's last one closes. */
class PeerConnections {
  readonly #count = new Map<string, number>();
  opened(nodeId: string): void {
    this.#count.set(nodeId, (this.#count.get(nodeId) ?? 0) + 1);
  }
  /** True when this was the peer's last connection. */
  closed(nodeId: string): boolean {
    const left = (this.#count.get(nodeId) ?? 1) - 1;
    if (left > 0) this.#count.set(nodeId, left);
    else this.#count.delete(nodeId);
    return left <= 0;
  }
}

/** Why this connection may not use its ALPN (the peers service's answer), or undefined when it may. */
async function alpnRefusal(bus: Bus, conn: Connection): Promise<string | undefined> {
  try {
    const answer = await bus.request(PEERS_SYSTEM_ID, 'peers.authorize', { nodeId: conn.peer?.nodeId ?? null, alpn: conn.alpn }, { deadlineMs: 5_000 });
    return answer.allowed ? undefined : answer.reason;
  } catch (err) {
    return `authorization unavailable: ${err instanceof Error ? err.message.slice(0, 120) : 'failed'}`;
  }
}

/**
 * Hands one accepted connection to its protocol actor, or closes it with the reason why not: no
 * live actor for its ALPN, or the ALPN refused to this peer (peers.toml alpns/denyAlpns).
 */
async function routeConnection(input: ListenerActorInput, peers: PeerConnections, conn: Connection): Promise<void> {
  const { bus, connections, log } = input;
  const target = protocolSystemId(conn.alpn);
  const peer = conn.peer ? { nodeId: conn.peer.nodeId, publicKey: hex(conn.peer.publicKey) } : null;
  const fields = { connId: conn.id, alpn: conn.alpn, transport: conn.transport, peer: peer?.nodeId ?? 'anonymous', remote: `${conn.remote.host}:${conn.remote.port}` };
  if (!bus.isRegistered(target)) {
    log.warn(fields, 'connection refused: no live actor for its ALPN');
    conn.close(`no live actor for ALPN ${conn.alpn}`).catch(() => {});
    return;
  }
  const refusal = await alpnRefusal(bus, conn);
  if (refusal !== undefined) {
    log.warn({ ...fields, reason: refusal }, 'connection refused');
    conn.close(`refused: ${refusal}`).catch(() => {});
    return;
  }
  if (!connections.offer(conn)) {
    log.warn(fields, 'connection refused: too many connections waiting for their protocol actor');
    conn.close('the node is busy; retry later').catch(() => {});
    return;
  }
  const nodeId = conn.peer?.nodeId;
  if (nodeId) peers.opened(nodeId);
  conn.closed.then(({ reason }) => {
    log.info({ connId: conn.id, alpn: conn.alpn, reason }, 'connection closed');
    bus.publish('connection.closed', { connId: conn.id, reason: reason.slice(0, 1024) });
    if (nodeId && peers.closed(nodeId)) bus.publish('peer.disconnected', { nodeId });
  });
  const payload = { connId: conn.id, alpn: conn.alpn, transport: conn.transport, peer, remote: conn.remote };
  log.info(fields, 'connection accepted');
  bus.publish('connection.accepted', payload);
  const refused = bus.send(target, 'connection.accepted', payload);
  if (refused) connections.withdraw(conn.id)?.close(`${conn.alpn}: ${refused.message}`).catch(() => {});
}

/** Stops accepting at once, then closes the servers when the last connection is gone or the drain ends. */
async function closeWhenDrained(listener: Listener, drainMs: number): Promise<void> {
  await listener.stopAccepting().catch(() => {});
  const deadline = Date.now() + drainMs;
  while (listener.connectionCount() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  await listener.close('node is shutting down').catch(() => {});
}

export const listenerActorLogic = setup({
  types: { input: {} as ListenerActorInput, context: {} as ListenerContext },
  actors: {
    start: fromPromise<Listener, ListenerActorInput>(async ({ input }) => {
      const identity = await input.identity();
      const peers = new PeerConnections();
      return startListener({
        host: input.host,
        port: input.port,
        alpns: input.alpns,
        identity,
        limits: input.limits,
        logger: input.transportLogger ?? input.log,
        onConnection: (conn) => void routeConnection(input, peers, conn),
      });
    }),
    /** Owns the running listener: its cleanup (shutdown, restart, crash) drains and closes it. */
    own: fromCallback<EventObject, { listener: Listener; drainMs: number }>(({ input }) => () => {
      void closeWhenDrained(input.listener, input.drainMs);
    }),
  },
  actions: {
    announce: ({ context }) => {
      const listener = context.listener!;
      context.input.log.info({ address: listener.address, quicPort: listener.quicPort, tcpPort: listener.tcpPort, alpns: context.input.alpns }, 'listening');
      context.input.onListening?.(listener);
    },
    fail: ({ event }) => {
      const error = (event as { error?: unknown }).error;
      throw new Error(`listener could not start: ${error instanceof Error ? error.message : String(error)}`);
    },
  },
}).createMachine({
  id: 'listener',
  context: ({ input }) => ({ input, listener: null, address: null }),
  initial: 'starting',
  states: {
    starting: {
      invoke: {
        src: 'start',
        input: ({ context }) => context.input,
        onDone: {
          target: 'accepting',
          actions: [assign({ listener: ({ event }) => event.output, address: ({ event }) => event.output.address }), 'announce'],
        },
        onError: { actions: 'fail' },
      },
    },
    accepting: {
      invoke: { src: 'own', input: ({ context }) => ({ listener: context.listener!, drainMs: context.input.drainMs ?? 2_000 }) },
      on: { shutdown: 'stopped' },
    },
    stopped: { type: 'final' },
  },
});
