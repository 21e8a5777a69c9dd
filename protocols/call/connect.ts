// The client library: `const node = await connect('NODEID@127.0.0.1:4433')`, then `node.call(op,
// input)`, `for await (const x of node.subscribe(op, input))`, `node.close()`.
// QUIC: one pooled connection per client, one stream per call; when the connection drops, the
// next call dials again (a call made meanwhile waits for the new connection within its deadline).
// TLS: one TLS connection per call (TLS carries a single stream).
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { dial, parseAddress, type ParsedAddress } from '../../actors/listener/dial.ts';
import type { Connection } from '../../actors/listener/connection.ts';
import type { NodeKeyPair } from '../../actors/listener/tlsIdentity.ts';
import { CallClient, type CallOptions } from './client.ts';
import { CallError } from '../../operations/errors.ts';
import { CALL_ALPN } from './protocol.ts';

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

export async function connect(address: string, options: ConnectOptions = {}): Promise<NodeClient> {
  const client = new PooledNodeClient(address, parseAddress(address), options);
  await client.ready();
  return client;
}

class PooledNodeClient implements NodeClient {
  readonly address: string;
  readonly #target: ParsedAddress;
  readonly #options: ConnectOptions;
  readonly #calls: CallClient;
  #learnedNodeId: string | undefined;
  #connection: Promise<Connection> | null = null;
  #closed = false;

  constructor(address: string, target: ParsedAddress, options: ConnectOptions) {
    this.address = address;
    this.#target = target;
    this.#options = options;
    this.#calls = new CallClient(() => this.#openStream(), options.authToken ? { authToken: options.authToken } : {});
  }

  get nodeId(): string | undefined {
    return this.#target.nodeId ?? this.#learnedNodeId;
  }

  /** QUIC: dial now, so that a wrong key or an unreachable node fails at connect(). */
  async ready(): Promise<void> {
    if ((this.#options.transport ?? 'quic') === 'quic') await this.#quicConnection();
  }

  #dial(): Promise<Connection> {
    // Once the key is known, later dials pin it: a node that changes its key mid-session is refused.
    const target = this.nodeId ? { ...this.#target, nodeId: this.nodeId } : this.#target;
    return dial(target, {
      alpn: CALL_ALPN,
      transport: this.#options.transport ?? 'quic',
      knownNodesPath: this.#options.knownNodesPath ?? defaultKnownNodes(),
      ...(this.#options.identity ? { identity: this.#options.identity } : {}),
      ...(this.#options.dialTimeoutMs ? { timeoutMs: this.#options.dialTimeoutMs } : {}),
    }).then((conn) => {
      this.#learnedNodeId ??= conn.peer?.nodeId;
      return conn;
    });
  }

  #quicConnection(): Promise<Connection> {
    if (this.#closed) return Promise.reject(new CallError('UNAVAILABLE', 'the client is closed'));
    if (!this.#connection) {
      const pending = this.#dial();
      this.#connection = pending;
      pending.then(
        (conn) => void conn.closed.then(() => {
          if (this.#connection === pending) this.#connection = null; // reconnect on the next call
        }),
        () => {
          if (this.#connection === pending) this.#connection = null;
        },
      );
    }
    return this.#connection;
  }

  async #openStream(): Promise<Duplex> {
    if ((this.#options.transport ?? 'quic') === 'tls') {
      const conn = await this.#dial();
      const stream = await conn.openStream();
      stream.once('close', () => void conn.close().catch(() => {}));
      return stream;
    }
    try {
      return await (await this.#quicConnection()).openStream();
    } catch (err) {
      // The pooled connection died under us: one fresh dial, then give up with the reason.
      this.#connection = null;
      if (this.#closed) throw err;
      return (await this.#quicConnection()).openStream();
    }
  }

  call<T>(operation: string, input: unknown = {}, options: CallOptions = {}): Promise<T> {
    return this.#calls.call<T>(operation, input, options);
  }

  subscribe<T>(operation: string, input: unknown = {}, options: CallOptions = {}): AsyncIterable<T> {
    return this.#calls.subscribe<T>(operation, input, options);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const conn = this.#connection;
    this.#connection = null;
    if (conn) await (await conn.catch(() => null))?.close('client closed').catch(() => {});
  }
}
