// Test fixtures for alknet/call: a real TCP server on 127.0.0.1 where each connection is one call
// stream (carrying many calls), and in-memory stream pairs standing for the streams of one QUIC connection.
import net from 'node:net';
import { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { Type } from '@sinclair/typebox';
import { CallClient } from '../../protocols/call/client.ts';
import { defineOperation, OperationCatalogue, type Caller } from '../../operations/catalogue.ts';
import { serveCallStream, type ServeCallOptions } from '../../protocols/call/server.ts';

export function callerWith(...scopes: string[]): Caller {
  return { nodeId: null, scopes: new Set(scopes) };
}

export interface TcpCallServer {
  port: number;
  client(options?: ConstructorParameters<typeof CallClient>[1]): CallClient;
  /** Opens a raw socket to the server (for hand-made frames). */
  connect(): Promise<net.Socket>;
  served: Promise<void>[];
  close(): Promise<void>;
}

export async function startTcpCallServer(options: ServeCallOptions): Promise<TcpCallServer> {
  const served: Promise<void>[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    served.push(serveCallStream(socket, options));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const connect = () =>
    new Promise<net.Socket>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => resolve(socket));
      socket.once('error', reject);
    });
  return {
    port,
    served,
    connect,
    client: (clientOptions) => new CallClient(connect, clientOptions),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Two connected in-memory duplex ends (node 20 has no stream.duplexPair). */
export function duplexPair(): [Duplex, Duplex] {
  let a!: Duplex;
  let b!: Duplex;
  const make = (peer: () => Duplex) =>
    new Duplex({
      read() {},
      write(chunk, _enc, cb) {
        peer().push(chunk);
        cb();
      },
      final(cb) {
        peer().push(null);
        cb();
      },
      destroy(err, cb) {
        const other = peer();
        if (!other.destroyed) other.destroy();
        cb(err);
      },
    });
  a = make(() => b);
  b = make(() => a);
  return [a, b];
}

/** Sends raw bytes on a fresh socket and collects everything the server sends until it closes. */
export async function rawExchange(connect: () => Promise<net.Socket>, bytes: Uint8Array, endAfter = true): Promise<Buffer> {
  const socket = await connect();
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.on('error', () => {});
  socket.write(bytes);
  if (endAfter) socket.end();
  const timer = setTimeout(() => socket.destroy(), 5_000);
  await closed;
  clearTimeout(timer);
  return Buffer.concat(chunks);
}

/**
 * What the sample handlers report, as explicit events instead of sleeps: `started` when a handler
 * waits on its signal (so a test aborts a call that is really running), `aborted` when it saw the
 * abort. `when(kind, tag)` resolves once that tag has been recorded `count` times (at once if so).
 */
export class Observed {
  readonly started: string[] = [];
  readonly aborted: string[] = [];
  readonly #waiters: Array<{ list: string[]; tag: string; count: number; resolve: () => void }> = [];

  record(kind: 'started' | 'aborted', tag: string): void {
    this[kind].push(tag);
    for (const w of [...this.#waiters]) {
      if (w.list.filter((t) => t === w.tag).length >= w.count) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  }

  when(kind: 'started' | 'aborted', tag: string, count = 1): Promise<void> {
    const list = this[kind];
    if (list.filter((t) => t === tag).length >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ list, tag, count, resolve }));
  }
}

/** A registry with a few operations the tests use. */
export function sampleRegistry(options: ConstructorParameters<typeof OperationCatalogue>[0] = { validateOutput: true }) {
  const registry = new OperationCatalogue(options);
  const observed = new Observed();
  registry.register([
    defineOperation({
      name: 'math/add',
      type: 'query',
      input: Type.Object({ a: Type.Number(), b: Type.Number() }),
      output: Type.Number(),
      scopes: [],
      visibility: 'external',
      async handler({ a, b }) {
        return a + b;
      },
    }),
    defineOperation({
      name: 'kv/set',
      type: 'mutation',
      input: Type.Object({ key: Type.String(), value: Type.String() }),
      output: Type.Object({ ok: Type.Boolean() }),
      scopes: ['kv:write'],
      visibility: 'external',
      async handler() {
        return { ok: true };
      },
    }),
    defineOperation({
      name: 'count/up',
      type: 'subscription',
      input: Type.Object({ to: Type.Integer({ minimum: 0, maximum: 10_000 }) }),
      output: Type.Integer(),
      scopes: [],
      visibility: 'external',
      async *handler({ to }) {
        for (let i = 1; i <= to; i++) yield i;
      },
    }),
    defineOperation({
      name: 'wait/forever',
      type: 'query',
      input: Type.Object({ tag: Type.Optional(Type.String()) }),
      output: Type.Null(),
      scopes: [],
      visibility: 'external',
      async handler({ tag }, ctx) {
        const aborted = new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
        observed.record('started', tag ?? 'wait/forever');
        await aborted;
        observed.record('aborted', tag ?? 'wait/forever');
        throw ctx.signal.reason;
      },
    }),
    defineOperation({
      name: 'wait/nested',
      type: 'query',
      input: Type.Object({ tag: Type.String() }),
      output: Type.Null(),
      scopes: [],
      visibility: 'external',
      async handler({ tag }, ctx) {
        return (await ctx.call('/wait/inner', { tag })) as null;
      },
    }),
    defineOperation({
      name: 'wait/inner',
      type: 'query',
      input: Type.Object({ tag: Type.String() }),
      output: Type.Null(),
      scopes: [],
      visibility: 'internal',
      async handler({ tag }, ctx) {
        const aborted = new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
        observed.record('started', `inner:${tag}`);
        await aborted;
        observed.record('aborted', `inner:${tag}`);
        return null;
      },
    }),
    defineOperation({
      name: 'ticks/forever',
      type: 'subscription',
      input: Type.Object({}),
      output: Type.Integer(),
      scopes: [],
      visibility: 'external',
      async *handler(_input, ctx) {
        let i = 0;
        try {
          while (!ctx.signal.aborted) {
            yield i++;
            await new Promise((r) => setTimeout(r, 2));
          }
        } finally {
          observed.record('aborted', 'ticks');
        }
      },
    }),
    defineOperation({
      name: 'fail/secret',
      type: 'query',
      input: Type.Object({}),
      output: Type.Null(),
      scopes: [],
      visibility: 'external',
      async handler() {
        throw new Error('db password is hunter2 at /etc/secret');
      },
    }),
  ]);
  return { registry, observed };
}

export async function waitFor(predicate: () => boolean, timeoutMs = 3_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > until) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
