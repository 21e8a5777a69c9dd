// The node's agent: a Unix socket in the home (`HOME/agent.sock`, mode 0600) through which the CLI
// of the same home makes calls as this node, without unlocking the vault itself (as ssh-agent
// spares ssh the key's passphrase). Whoever can open the socket is the node's own user: the file
// mode (and the home's 0700) is the authentication, so the agent's calls carry the node's identity.
//
// Wire: one Unix connection per client stream, carrying alknet/call frames (docs/call.md). Its first
// frame is a `call.requested` for `agent/connect {address, transport?}`, answered with
// `call.responded {output: {nodeId, local}}` + `call.completed`, or a single `call.error`. After that
// the connection carries ordinary alknet/call traffic to that node:
// - local (ADDR names this node: its node id, or its own listen address): served here, by the same
//   call server as a network connection, with the caller the peers service names for this node's key
//   (every scope);
// - another node: piped byte for byte to a stream of a connection this node dialled to ADDR with its
//   own key (QUIC connections pooled per address and closed when idle; TLS, which carries one stream,
//   dials per stream). The far node sees this node as the caller; known_nodes is the node's.
//
// Start: a stale socket left by a crashed node (nobody accepts on it) is replaced; a live one (another
// node of this home) is left alone and this node runs without an agent. The socket is bound under a
// temporary name, chmod 0600, then renamed into place, so it is never reachable with a wider mode.
// Stop: the socket file is removed if it is still ours.
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { Bus } from '../bus/index.ts';
import type { Caller, OperationCatalogue } from '../operations/catalogue.ts';
import { CallError, toErrorShape } from '../operations/errors.ts';
import { PEERS_SYSTEM_ID } from '../actors/peers/messages.ts';
import { VAULT_SYSTEM_ID } from '../actors/vault/messages.ts';
import { dial, parseAddress, type ParsedAddress } from '../actors/listener/dial.ts';
import type { Connection, TransportKind } from '../actors/listener/connection.ts';
import type { NodeKeyPair } from '../actors/listener/tlsIdentity.ts';
import { createConnectionCallServer } from '../protocols/call/server.ts';
import { decodeFrameBody, encodeFrame, type CallEnvelope } from '../protocols/call/callFrameCodec.ts';
import { CALL_ALPN } from '../protocols/call/protocol.ts';
import type { BytesBudget } from '../lib/byteBudget.ts';
import type { NodeLogger } from './nodeLogger.ts';

export const AGENT_SOCKET = 'agent.sock';
export const AGENT_CONNECT = 'agent/connect';
/** The first frame is small (an address); a bigger one is not a client of ours. */
const MAX_HELLO_BYTES = 4096;
/** Time a new connection has to send its agent/connect. */
const HELLO_TIMEOUT_MS = 10_000;
/** Pooled QUIC connections to other nodes: at most this many, each closed after this long unused. */
const MAX_POOLED = 32;
const POOL_IDLE_MS = 60_000;

export interface AgentOptions {
  home: string;
  bus: Bus;
  operations: OperationCatalogue;
  log: NodeLogger;
  /** This node's id and listen address (host:port), known once the listener runs. */
  nodeId: () => string;
  address: () => string;
  limits?: { maxFrameBytes?: number };
  budget?: BytesBudget;
  /** Default HOME/agent.sock. */
  socketPath?: string;
}

export interface Agent {
  readonly path: string;
  close(): Promise<void>;
}

/** What a client asks for first. */
interface ConnectInput {
  address: string;
  transport?: TransportKind;
  /** Handshake deadline for a dial to another node (default the dial's 10 s). */
  timeoutMs?: number;
}

function isConnectInput(value: unknown): value is ConnectInput {
  const v = value as ConnectInput | null;
  return !!v && typeof v === 'object' && typeof v.address === 'string' && (v.transport === undefined || v.transport === 'quic' || v.transport === 'tls') &&
    (v.timeoutMs === undefined || (typeof v.timeoutMs === 'number' && v.timeoutMs > 0 && v.timeoutMs <= 600_000));
}

/** True when something accepts connections on the socket (a live agent of another node). */
function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(socketPath);
    const done = (live: boolean) => {
      probe.destroy();
      resolve(live);
    };
    probe.once('connect', () => done(true));
    probe.once('error', () => done(false));
    probe.setTimeout(2_000, () => done(false));
  });
}

/**
 * Starts the agent; resolves with null (after one log line saying why) where there can be none:
 * another live node of this home holds the socket, something that is not a socket has its name, or
 * the path is too long for a Unix socket.
 */
export async function startAgent(options: AgentOptions): Promise<Agent | null> {
  const socketPath = options.socketPath ?? path.join(options.home, AGENT_SOCKET);
  const log = options.log;
  const existing = fs.lstatSync(socketPath, { throwIfNoEntry: false });
  if (existing && !existing.isSocket()) {
    log.warn({ path: socketPath }, 'agent not started: the path exists and is not a socket');
    return null;
  }
  if (existing && (await answers(socketPath))) {
    log.warn({ path: socketPath }, 'agent not started: another node of this home answers on its socket');
    return null;
  }

  const callServer = createConnectionCallServer({
    registry: options.operations,
    caller: (token?: string) => ownCaller(options, token),
    limits: { ...(options.limits?.maxFrameBytes ? { maxFrameBytes: options.limits.maxFrameBytes } : {}) },
    ...(options.budget ? { budget: options.budget } : {}),
  });
  const relay = new RelayPool(options);
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    // A client that goes away mid-answer (EPIPE, ECONNRESET) ends its own connection, never the node.
    socket.on('error', () => socket.destroy());
    void handle(socket, options, callServer, relay).catch((err: unknown) => {
      log.warn({ error: err instanceof Error ? err.message.slice(0, 200) : String(err) }, 'agent connection failed');
      socket.destroy();
    });
  });

  // Bound under a temporary name and made 0600 before it gets its real one.
  const temporary = path.join(path.dirname(socketPath), `.${AGENT_SOCKET}.${process.pid}.${randomBytes(4).toString('hex')}`);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(temporary, () => {
        server.off('error', reject);
        resolve();
      });
    });
    fs.chmodSync(temporary, 0o600);
    fs.renameSync(temporary, socketPath);
  } catch (err) {
    server.close();
    fs.rmSync(temporary, { force: true });
    log.warn({ path: socketPath, error: (err as Error).message.slice(0, 200) }, 'agent not started');
    return null;
  }
  const ours = fs.statSync(socketPath).ino;
  log.info({ path: socketPath }, 'agent listening');

  let closing: Promise<void> | null = null;
  return {
    path: socketPath,
    close() {
      closing ??= (async () => {
        // Ours still (not replaced by a later node of this home): remove it so no client tries it.
        if (fs.statSync(socketPath, { throwIfNoEntry: false })?.ino === ours) fs.rmSync(socketPath, { force: true });
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const s of sockets) s.destroy();
        await closed;
        await relay.close();
      })();
      return closing;
    },
  };
}

/** The caller of a local agent call: this node's own key, as the peers service grants it (every scope). */
async function ownCaller(options: AgentOptions, token: string | undefined): Promise<Caller> {
  const answer = await options.bus.request(
    PEERS_SYSTEM_ID,
    'peers.authorize',
    { nodeId: options.nodeId(), alpn: CALL_ALPN, ...(token !== undefined ? { token } : {}) },
    { deadlineMs: 5_000 },
  );
  if (!answer.allowed) throw new CallError('FORBIDDEN', answer.reason);
  return { nodeId: answer.nodeId, scopes: new Set(answer.scopes) };
}

/** Reads exactly the first frame; returns it and whatever bytes came after it. */
function readFirstFrame(socket: net.Socket): Promise<{ envelope: CallEnvelope; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new Error(`no ${AGENT_CONNECT} within ${HELLO_TIMEOUT_MS} ms`)), HELLO_TIMEOUT_MS);
    const finish = (err: Error | null, value?: { envelope: CallEnvelope; rest: Buffer }) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
      socket.pause();
      if (err) reject(err);
      else resolve(value!);
    };
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 4) return;
      const length = buffered.readUInt32BE(0);
      if (length === 0 || length > MAX_HELLO_BYTES) return finish(new Error(`first frame of ${length} bytes`));
      if (buffered.length < 4 + length) return;
      try {
        finish(null, { envelope: decodeFrameBody(buffered.subarray(4, 4 + length)), rest: buffered.subarray(4 + length) });
      } catch (err) {
        finish(err as Error);
      }
    };
    const onEnd = () => finish(new Error('the client closed before its first frame'));
    const onError = (err: Error) => finish(err);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onError);
  });
}

function reply(socket: net.Socket, envelope: CallEnvelope): void {
  if (!socket.destroyed && socket.writable) socket.write(encodeFrame(envelope));
}

async function handle(socket: net.Socket, options: AgentOptions, callServer: { serve(stream: Duplex): Promise<void> }, relay: RelayPool): Promise<void> {
  const { envelope, rest } = await readFirstFrame(socket);
  const id = envelope.id;
  const fail = (err: unknown) => {
    reply(socket, { type: 'call.error', id, payload: toErrorShape(err) });
    socket.end();
  };
  if (envelope.type !== 'call.requested' || envelope.payload.operationId.replace(/^\//, '') !== AGENT_CONNECT) {
    return fail(new CallError('INVALID_INPUT', `the agent's first call is ${AGENT_CONNECT}`));
  }
  const input = envelope.payload.input;
  if (!isConnectInput(input)) return fail(new CallError('INVALID_INPUT', `${AGENT_CONNECT}: input is {address: "[NODEID@]HOST:PORT", transport?: "quic"|"tls", timeoutMs?: number}`));
  let target: ParsedAddress;
  try {
    target = parseAddress(input.address);
  } catch (err) {
    return fail(new CallError('INVALID_INPUT', (err as Error).message));
  }

  if (isThisNode(target, options)) {
    reply(socket, { type: 'call.responded', id, payload: { output: { nodeId: options.nodeId(), local: true } } });
    reply(socket, { type: 'call.completed', id, payload: {} });
    if (rest.length > 0) socket.unshift(rest);
    socket.resume();
    await callServer.serve(socket);
    return;
  }

  let stream: Duplex;
  let nodeId: string | undefined;
  try {
    ({ stream, nodeId } = await relay.open(target, input.transport ?? 'quic', input.timeoutMs));
    stream.on('error', () => stream.destroy());
  } catch (err) {
    return fail(err instanceof CallError ? err : new CallError('UNAVAILABLE', `cannot reach ${input.address}: ${(err as Error).message}`, { retryable: true }));
  }
  reply(socket, { type: 'call.responded', id, payload: { output: { nodeId: nodeId ?? null, local: false } } });
  reply(socket, { type: 'call.completed', id, payload: {} });
  if (rest.length > 0) stream.write(rest);
  pipeBoth(socket, stream);
  socket.resume();
}

/** This node: its node id, or (no id given) its own listen address. */
function isThisNode(target: ParsedAddress, options: AgentOptions): boolean {
  if (target.nodeId !== undefined) return target.nodeId === options.nodeId();
  const own = parseListen(options.address());
  return own !== undefined && own.port === target.port && sameHost(own.host, target.host);
}

function parseListen(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:@\s[\]]+)):(\d{1,5})$/.exec(text);
  return m ? { host: (m[1] ?? m[2])!, port: Number(m[3]) } : undefined;
}

function sameHost(a: string, b: string): boolean {
  const loopback = (h: string) => h === 'localhost' || h === '::1' || h.startsWith('127.');
  return a === b || (loopback(a) && loopback(b)) || ((a === '0.0.0.0' || a === '::') && loopback(b));
}

/** Bytes both ways; either side's end half-closes the other, an error or close tears both down. */
function pipeBoth(socket: net.Socket, stream: Duplex): void {
  socket.pipe(stream);
  stream.pipe(socket);
  const teardown = () => {
    socket.destroy();
    stream.destroy();
  };
  socket.on('error', teardown);
  stream.on('error', teardown);
  socket.once('close', () => {
    if (!stream.destroyed) stream.end();
  });
  stream.once('close', () => {
    if (!socket.destroyed) socket.end();
  });
}

interface Pooled {
  connection: Promise<Connection>;
  streams: number;
  idle: NodeJS.Timeout | undefined;
}

/** Connections this node dialled to other nodes for agent clients, with its own key. */
class RelayPool {
  readonly #options: AgentOptions;
  readonly #pool = new Map<string, Pooled>();
  #identity: Promise<NodeKeyPair> | undefined;
  #closed = false;

  constructor(options: AgentOptions) {
    this.#options = options;
  }

  #key(): Promise<NodeKeyPair> {
    this.#identity ??= this.#options.bus.request(VAULT_SYSTEM_ID, 'vault.tlsIdentity', {}, { deadlineMs: 30_000 }).then(
      (id) => ({ publicKey: Buffer.from(id.publicKey, 'hex'), privateKey: id.privateKey }),
      (err: unknown) => {
        this.#identity = undefined;
        throw err;
      },
    );
    return this.#identity;
  }

  async #dial(target: ParsedAddress, transport: TransportKind, timeoutMs: number | undefined): Promise<Connection> {
    return dial(target, {
      alpn: CALL_ALPN,
      transport,
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      identity: await this.#key(),
      knownNodesPath: path.join(this.#options.home, 'known_nodes'),
    });
  }

  async open(target: ParsedAddress, transport: TransportKind, timeoutMs?: number): Promise<{ stream: Duplex; nodeId: string | undefined }> {
    if (this.#closed) throw new CallError('UNAVAILABLE', 'the node is stopping');
    if (transport === 'tls') {
      // TLS carries one stream: a connection per client stream, closed with it.
      const conn = await this.#dial(target, 'tls', timeoutMs);
      const stream = await conn.openStream();
      stream.once('close', () => void conn.close('done').catch(() => {}));
      return { stream, nodeId: conn.peer?.nodeId };
    }
    const key = `${target.nodeId ?? ''}@${target.host}:${target.port}`;
    let entry = this.#pool.get(key);
    if (!entry) {
      if (this.#pool.size >= MAX_POOLED) this.#evictOne();
      const fresh: Pooled = { connection: this.#dial(target, 'quic', timeoutMs), streams: 0, idle: undefined };
      entry = fresh;
      this.#pool.set(key, fresh);
      const forget = () => {
        if (this.#pool.get(key) === fresh) this.#pool.delete(key);
        clearTimeout(fresh.idle);
      };
      fresh.connection.then((c) => void c.closed.then(forget), forget);
    }
    const conn = await entry.connection;
    const stream = await conn.openStream();
    const pooled = entry;
    pooled.streams++;
    clearTimeout(pooled.idle);
    stream.once('close', () => {
      pooled.streams--;
      if (pooled.streams === 0 && !this.#closed) {
        pooled.idle = setTimeout(() => void conn.close('idle').catch(() => {}), POOL_IDLE_MS);
        pooled.idle.unref();
      }
    });
    return { stream, nodeId: conn.peer?.nodeId };
  }

  /** Closes an unused pooled connection (the first found), to stay within MAX_POOLED. */
  #evictOne(): void {
    for (const [key, entry] of this.#pool) {
      if (entry.streams === 0) {
        this.#pool.delete(key);
        clearTimeout(entry.idle);
        void entry.connection.then((c) => c.close('pool full'), () => {}).catch(() => {});
        return;
      }
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const entries = [...this.#pool.values()];
    this.#pool.clear();
    await Promise.all(entries.map(async (e) => {
      clearTimeout(e.idle);
      const conn = await e.connection.catch(() => null);
      await conn?.close('node stopped').catch(() => {});
    }));
  }
}
