// The client library: `const node = await connect('NODEID@127.0.0.1:4433')`, then `node.call(op,
// input)`, `for await (const x of node.subscribe(op, input))`, `node.close()`.
// One pooled connection per client, dialled at connect() (a wrong key or an unreachable node fails
// there) and again on the next call after it dropped. Calls share one stream on it (CallClient):
// QUIC: a stream of the pooled connection, subscriptions and bulk calls get a stream each.
// TLS: the pooled TLS connection is the shared stream; a subscription or bulk call dials a TLS
// connection of its own (TLS carries one stream), closed when that call ends.
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { dial, parseAddress, type ParsedAddress } from '../../actors/listener/dial.ts';
import type { Connection } from '../../actors/listener/connection.ts';
import type { NodeKeyPair } from '../../actors/listener/tlsIdentity.ts';
import { CallClient, type CallOptions } from './client.ts';
import { CallError } from '../../operations/errors.ts';
import { CALL_ALPN } from './protocol.ts';
import { isNodeId } from '../../lib/nodeId.ts';
import type { DiscoveryOptions } from '../../actors/pkarr/discover.ts';

export interface ConnectOptions {
  transport?: 'quic' | 'tls';
  /** Our key, shown to the server (it then knows our node id and grants our scopes). */
  identity?: NodeKeyPair;
  /** known_nodes for a bare host:port (trust on first use). Default: $ALKNET_HOME or ~/.alknet. */
  knownNodesPath?: string;
  /** Sent with every call unless a call gives its own. */
  authToken?: string;
  /** Handshake deadline (default 10 s). */
  dialTimeoutMs?: number;
  /**
   * Where a bare NODEID (no address) is looked up: known_nodes, the DHT, relays, DNS
   * (actors/pkarr/discover.ts). Default: the [pkarr] section of $ALKNET_HOME/config.toml.
   */
  discovery?: DiscoveryOptions;
}

export interface NodeClient {
  /** The address dialled, as given. */
  readonly address: string;
  /** The server's node id once known (pinned, or learned at the first handshake). */
  readonly nodeId: string | undefined;
  call<T = unknown>(operation: string, input?: unknown, options?: CallOptions): Promise<T>;
  subscribe<T = unknown>(operation: string, input?: unknown, options?: CallOptions): AsyncIterable<T>;
  close(): Promise<void>;
}

function defaultKnownNodes(): string {
  const home = process.env.ALKNET_HOME && process.env.ALKNET_HOME.length > 0 ? process.env.ALKNET_HOME : path.join(os.homedir(), '.alknet');
  return path.join(home, 'known_nodes');
}

/**
 * Connects to `NODEID@host:port`, a bare `host:port` (trust on first use), or a bare `NODEID`: then
 * the node is found through known_nodes, the DHT, the relays or DNS (actors/pkarr/discover.ts),
 * and every address found is dialled with the key pinned.
 */
export async function connect(address: string, options: ConnectOptions = {}): Promise<NodeClient> {
  if (isNodeId(address)) return connectById(address, options);
  const client = new PooledNodeClient(address, parseAddress(address), options);
  await client.ready();
  return client;
}

async function connectById(nodeId: string, options: ConnectOptions): Promise<NodeClient> {
  const { dialDiscovered, discoveryFromConfig, rememberAddress } = await import('../../actors/pkarr/discover.ts');
  const knownNodesPath = options.knownNodesPath ?? defaultKnownNodes();
  let discovery = options.discovery;
  if (!discovery) {
    const { loadConfig } = await import('../../supervisors/config.ts');
    discovery = discoveryFromConfig(loadConfig(path.dirname(knownNodesPath)).pkarr, knownNodesPath);
  }
  let found: { value: NodeClient; address: string };
  try {
    found = await dialDiscovered(nodeId, { knownNodesPath, ...discovery }, async (pinned) => {
      const client = new PooledNodeClient(pinned, parseAddress(pinned), options);
      try {
        await client.ready();
      } catch (err) {
        await client.close();
        throw err;
      }
      return client;
    });
  } catch (err) {
    throw new CallError('UNAVAILABLE', (err as Error).message);
  }
  await rememberAddress(knownNodesPath, nodeId, found.address).catch(() => {});
  return found.value;
}

class PooledNodeClient implements NodeClient {
  readonly address: string;
  readonly #target: ParsedAddress;
  readonly #options: ConnectOptions;
  readonly #transport: 'quic' | 'tls';
  readonly #calls: CallClient;
  #learnedNodeId: string | undefined;
  /** The pooled connection: QUIC carries every stream; TLS carries the shared stream. */
  #connection: Promise<Connection> | null = null;
  /** TLS: whether the pooled connection's one stream was handed to the CallClient already. */
  #tlsStreamTaken = false;
  /** TLS connections of subscriptions and bulk calls, closed with the client. */
  readonly #dedicated = new Set<Connection>();
  #closed = false;

  constructor(address: string, target: ParsedAddress, options: ConnectOptions) {
    this.address = address;
    this.#target = target;
    this.#options = options;
    this.#transport = options.transport ?? 'quic';
    this.#calls = new CallClient(() => this.#openShared(), {
      ...(options.authToken ? { authToken: options.authToken } : {}),
      openDedicatedStream: () => this.#openDedicated(),
    });
  }

  get nodeId(): string | undefined {
    return this.#target.nodeId ?? this.#learnedNodeId;
  }

  /** Dials now, so that a wrong key or an unreachable node fails at connect(). */
  async ready(): Promise<void> {
    await this.#pooled();
  }

  #dial(): Promise<Connection> {
    // Once the key is known, later dials pin it: a node that changes its key mid-session is refused.
    const target = this.nodeId ? { ...this.#target, nodeId: this.nodeId } : this.#target;
    return dial(target, {
      alpn: CALL_ALPN,
      transport: this.#transport,
      knownNodesPath: this.#options.knownNodesPath ?? defaultKnownNodes(),
      ...(this.#options.identity ? { identity: this.#options.identity } : {}),
      ...(this.#options.dialTimeoutMs ? { timeoutMs: this.#options.dialTimeoutMs } : {}),
    }).then((conn) => {
      this.#learnedNodeId ??= conn.peer?.nodeId;
      return conn;
    });
  }

  /** The pooled connection, dialled when there is none (or it closed). */
  #pooled(): Promise<Connection> {
    if (this.#closed) return Promise.reject(new CallError('UNAVAILABLE', 'the client is closed'));
    if (!this.#connection) {
      const pending = this.#dial();
      this.#connection = pending;
      this.#tlsStreamTaken = false;
      const forget = (): void => {
        if (this.#connection === pending) this.#connection = null; // dial again on the next call
      };
      pending.then((conn) => void conn.closed.then(forget), forget);
    }
    return this.#connection;
  }

  async #openShared(): Promise<Duplex> {
    if (this.#transport === 'tls') {
      // The TLS connection's one stream is the shared stream; once it is spent, a new connection.
      if (this.#tlsStreamTaken && this.#connection) {
        const spent = this.#connection;
        this.#connection = null;
        void spent.then((c) => c.close('stream replaced'), () => {}).catch(() => {});
      }
      const conn = await this.#pooled();
      this.#tlsStreamTaken = true;
      return conn.openStream();
    }
    return this.#openQuicStream();
  }

  async #openDedicated(): Promise<Duplex> {
    if (this.#transport === 'quic') return this.#openQuicStream();
    if (this.#closed) throw new CallError('UNAVAILABLE', 'the client is closed');
    const conn = await this.#dial();
    this.#dedicated.add(conn);
    void conn.closed.then(() => this.#dedicated.delete(conn));
    const stream = await conn.openStream();
    stream.once('close', () => void conn.close().catch(() => {}));
    return stream;
  }

  async #openQuicStream(): Promise<Duplex> {
    try {
      return await (await this.#pooled()).openStream();
    } catch (err) {
      // The pooled connection died under us: one fresh dial, then give up with the reason.
      this.#connection = null;
      if (this.#closed) throw err;
      return (await this.#pooled()).openStream();
    }
  }

  call<T>(operation: string, input: unknown = {}, options: CallOptions = {}): Promise<T> {
    return this.#calls.call<T>(operation, input, options);
  }

  subscribe<T>(operation: string, input: unknown = {}, options: CallOptions = {}): AsyncIterable<T> {
    return this.#calls.subscribe<T>(operation, input, options);
  }

  /**
   * Closes the pooled connection (and a TLS client's per-subscription connections). A QUIC close
   * returns once the peer has been told; the connection drains in the background.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#calls.close();
    const conn = this.#connection;
    this.#connection = null;
    const all = [...this.#dedicated].map((c) => c.close('client closed').catch(() => {}));
    this.#dedicated.clear();
    if (conn) all.push((async () => (await conn.catch(() => null))?.close('client closed').catch(() => {}))());
    await Promise.all(all);
  }
}
