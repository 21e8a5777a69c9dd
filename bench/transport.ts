// Transport benchmark: QUIC (js-quic) and TLS/TCP (node:tls) through the same listener and dial
// code, and bare node:tls as the baseline, on 127.0.0.1, all measured in the same run. The server
// side runs in a child process, so each side has its own core and its own CPU% column.
//   npx tsx bench/transport.ts [--short] [--payloads 1200,1350,1452,65000] [--only bulk,churn,...]
//   BENCH_SERVER_PROF=/tmp/p node --cpu-prof --import tsx bench/transport.ts --only bulk --payloads 1350
// Sections: handshake, request, pingpong, bulk, churn, then a second table with bus (bus
// request/reply next to a bare xstate send: bench/bus.ts) and restart (supervisor restart latency,
// crash → accepting again: bench/restart.ts), so one run prints every figure. Prints tables;
// never fails on timing (a cell that errors prints "error" and the reason goes to stderr).
import os from 'node:os';
import v8 from 'node:v8';
import vm from 'node:vm';
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import type { Duplex } from 'node:stream';
import { ed25519 } from '@noble/curves/ed25519.js';
import { startListener } from '../actors/listener/listener.ts';
import { dial } from '../actors/listener/dial.ts';
import { makeCertificate } from '../actors/listener/tlsIdentity.ts';
import type { Connection, TransportKind } from '../actors/listener/connection.ts';

const ECHO = 'bench/echo';
const SINK = 'bench/sink';
const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i === -1 ? undefined : process.argv[i + 1];
};
const SHORT = process.argv.includes('--short');
const PAYLOADS = (arg('--payloads') ?? '1200,1350,1452,65000').split(',').map(Number);
const ONLY = arg('--only')?.split(',');
const HANDSHAKES = SHORT ? 20 : 150;
const REQUESTS = SHORT ? 200 : 2000;
const BULK_SECONDS = SHORT ? 1 : 3;
const CHURN_STREAMS = SHORT ? 2000 : 10_000;
const CHUNK = 64 * 1024;
const REQUEST_BYTES = 32;

function keys(): { privateKey: Uint8Array; publicKey: Uint8Array } {
  const privateKey = ed25519.utils.randomSecretKey();
  return { privateKey, publicKey: ed25519.getPublicKey(privateKey) };
}

/** global.gc without needing --expose-gc on the command line. */
function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  gc();
  gc();
}

function retainedBytes(): number {
  collectGarbage();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

function sink(stream: Duplex): void {
  let total = 0;
  stream.on('data', (c: Buffer) => { total += c.length; });
  stream.once('end', () => stream.end(String(total)));
}

// ---------------- server side (child process) ----------------

type ToServer = { type: 'cpu' } | { type: 'mem' } | { type: 'quit' };
type FromServer =
  | { type: 'ready'; nodeId: string; port: number; barePort: number }
  | { type: 'cpu'; usage: NodeJS.CpuUsage }
  | { type: 'mem'; bytes: number };

async function serve(): Promise<void> {
  const identity = keys();
  const listener = await startListener({
    host: '127.0.0.1',
    port: 0,
    alpns: [ECHO, SINK],
    identity,
    limits: { perIp: 100_000, maxStreamsPerConnection: 1000 },
    onConnection: (conn) => conn.onStream((stream) => (conn.alpn === ECHO ? stream.pipe(stream) : sink(stream))),
  });
  // The baseline: node:tls with nothing of ours in between (same certificate, same ALPNs).
  const cert = makeCertificate(identity);
  const bare = createTlsServer({ key: cert.keyPem, cert: cert.certPem, ALPNProtocols: [ECHO, SINK] }, (socket) => {
    socket.on('error', () => {});
    if (socket.alpnProtocol === ECHO) socket.pipe(socket);
    else sink(socket);
  });
  await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
  const barePort = (bare.address() as { port: number }).port;
  const send = (m: FromServer): void => void process.send?.(m);
  process.on('message', (m: ToServer) => {
    if (m.type === 'cpu') send({ type: 'cpu', usage: process.cpuUsage() });
    else if (m.type === 'mem') send({ type: 'mem', bytes: retainedBytes() });
    else void listener.close().then(() => { bare.close(); process.exit(0); });
  });
  send({ type: 'ready', nodeId: listener.nodeId, port: listener.quicPort, barePort });
}

// ---------------- client side ----------------

class ServerProcess {
  private waiting: ((m: FromServer) => void)[] = [];
  constructor(readonly child: ChildProcess) {
    child.on('message', (m: FromServer) => this.waiting.shift()?.(m));
  }
  next<T extends FromServer['type']>(type: T, ask?: ToServer): Promise<Extract<FromServer, { type: T }>> {
    return new Promise((resolve, reject) => {
      this.waiting.push((m) => (m.type === type ? resolve(m as Extract<FromServer, { type: T }>) : reject(new Error(`server said ${m.type}`))));
      if (ask !== undefined) this.child.send(ask);
    });
  }
}

function readExactly(stream: Duplex, n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const onData = (c: Buffer): void => { got += c.length; if (got >= n) { cleanup(); resolve(); } };
    const onEnd = (): void => { cleanup(); reject(new Error(`stream ended after ${got} of ${n} bytes`)); };
    const onError = (e: Error): void => { cleanup(); reject(e); };
    const cleanup = (): void => { stream.off('data', onData); stream.off('end', onEnd); stream.off('error', onError); };
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
  });
}

function readToEnd(stream: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

async function bulk(stream: Duplex, seconds: number): Promise<number> {
  const reply = readToEnd(stream);
  const chunk = Buffer.alloc(CHUNK, 3);
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    if (!stream.write(chunk)) await new Promise((r) => stream.once('drain', r));
  }
  stream.end();
  const received = Number((await reply).toString());
  return received / 1e6 / ((performance.now() - start) / 1000);
}

interface Row { metric: string; path: string; value: number | string; clientCpu: number; serverCpu: number }

async function main(): Promise<void> {
  // BENCH_SERVER_PROF=DIR writes the server side's CPU profile there (the client side: run
  // this script under `node --cpu-prof`).
  const prof = process.env['BENCH_SERVER_PROF'];
  const execArgv = ['--import', 'tsx', ...(prof === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${prof}`])];
  const child = fork(new URL(import.meta.url).pathname, ['--serve'], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const server = new ServerProcess(child);
  const ready = await server.next('ready');
  const client = keys();
  const address = `${ready.nodeId}@127.0.0.1:${ready.port}`;
  const connect = (transport: TransportKind, alpn: string, payload?: number): Promise<Connection> =>
    dial(address, { alpn, transport, identity: client, ...(payload === undefined ? {} : { quic: { maxSendUdpPayloadSize: payload } }) });
  const bareConnect = (alpn: string): Promise<Duplex> => new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port: ready.barePort, ALPNProtocols: [alpn], rejectUnauthorized: false }, () => resolve(s));
    s.once('error', reject);
  });

  const rows: Row[] = [];
  const wanted = (section: string): boolean => ONLY === undefined || ONLY.includes(section);
  const measure = async (metric: string, path: string, fn: () => Promise<number | string>): Promise<void> => {
    const c0 = process.cpuUsage();
    const s0 = (await server.next('cpu', { type: 'cpu' })).usage;
    const t0 = performance.now();
    let value: number | string;
    try {
      value = await fn();
    } catch (err) {
      value = 'error';
      process.stderr.write(`${metric} (${path}): ${(err as Error).message}\n`);
    }
    const wall = (performance.now() - t0) * 1000;
    const c1 = process.cpuUsage(c0);
    const s1 = (await server.next('cpu', { type: 'cpu' })).usage;
    const cpu = (u: NodeJS.CpuUsage): number => (100 * (u.user + u.system)) / wall;
    rows.push({ metric, path, value, clientCpu: cpu(c1), serverCpu: cpu({ user: s1.user - s0.user, system: s1.system - s0.system }) });
  };

  if (wanted('handshake')) {
    // Sequential dials; the time of each close is not counted (QUIC's close waits out draining).
    const handshakes = async (open: () => Promise<() => Promise<void>>): Promise<number> => {
      const closing: Promise<void>[] = [];
      let spent = 0;
      for (let i = 0; i < HANDSHAKES; i++) {
        const start = performance.now();
        const close = await open();
        spent += performance.now() - start;
        closing.push(close());
      }
      await Promise.all(closing);
      return HANDSHAKES / (spent / 1000);
    };
    for (const t of ['quic', 'tls'] as const) {
      await measure(`handshakes/s (${HANDSHAKES} sequential)`, t, () => handshakes(async () => {
        const c = await connect(t, ECHO);
        return () => c.close();
      }));
    }
    await measure(`handshakes/s (${HANDSHAKES} sequential)`, 'bare node:tls', () => handshakes(async () => {
      const s = await bareConnect(ECHO);
      return async () => { s.destroy(); };
    }));
  }

  if (wanted('request')) {
    // One stream per request on one connection (TLS: one connection per request).
    const conn = await connect('quic', ECHO);
    const payload = Buffer.alloc(REQUEST_BYTES, 1);
    await measure(`req/s, ${REQUEST_BYTES} B, new stream per request`, 'quic', async () => {
      const start = performance.now();
      for (let i = 0; i < REQUESTS; i++) {
        const stream = await conn.openStream();
        const back = readToEnd(stream);
        stream.end(payload);
        if ((await back).length !== REQUEST_BYTES) throw new Error('short echo');
      }
      return REQUESTS / ((performance.now() - start) / 1000);
    });
    await conn.close();
    await measure(`req/s, ${REQUEST_BYTES} B, new stream per request`, 'tls (new connection)', async () => {
      const n = Math.ceil(REQUESTS / 4);
      const start = performance.now();
      for (let i = 0; i < n; i++) {
        const c = await connect('tls', ECHO);
        const stream = await c.openStream();
        const back = readToEnd(stream);
        stream.end(payload);
        if ((await back).length !== REQUEST_BYTES) throw new Error('short echo');
        void c.close();
      }
      return n / ((performance.now() - start) / 1000);
    });
  }

  if (wanted('pingpong')) {
    const pingPong = async (stream: Duplex): Promise<number> => {
      const payload = Buffer.alloc(REQUEST_BYTES, 2);
      const start = performance.now();
      for (let i = 0; i < REQUESTS; i++) {
        const back = readExactly(stream, REQUEST_BYTES);
        stream.write(payload);
        await back;
      }
      const rate = REQUESTS / ((performance.now() - start) / 1000);
      stream.end();
      return rate;
    };
    for (const t of ['quic', 'tls'] as const) {
      const conn = await connect(t, ECHO);
      await measure(`ping-pong req/s, ${REQUEST_BYTES} B, one stream`, t, async () => pingPong(await conn.openStream()));
      await conn.close();
    }
    await measure(`ping-pong req/s, ${REQUEST_BYTES} B, one stream`, 'bare node:tls', async () => {
      const s = await bareConnect(ECHO);
      const rate = await pingPong(s);
      s.destroy();
      return rate;
    });
  }

  if (wanted('bulk')) {
    const label = `bulk MB/s, one stream, 64 KiB writes, ${BULK_SECONDS} s`;
    for (const payload of PAYLOADS) {
      const conn = await connect('quic', SINK, payload);
      await measure(label, `quic ${payload} B datagrams`, async () => bulk(await conn.openStream(), BULK_SECONDS));
      await conn.close();
    }
    const conn = await connect('tls', SINK);
    await measure(label, 'tls', async () => bulk(await conn.openStream(), BULK_SECONDS));
    await conn.close();
    await measure(label, 'bare node:tls', async () => {
      const s = await bareConnect(SINK);
      return bulk(s, BULK_SECONDS);
    });
  }

  if (wanted('churn')) {
    // 10,000 × (open, write 1 byte, read it back, close) on one QUIC connection; what both
    // processes still hold after GC, per stream. TLS has one stream per connection: not measured.
    const conn = await connect('quic', ECHO);
    const one = Buffer.from([7]);
    const cycle = async (): Promise<void> => {
      const stream = await conn.openStream();
      const back = readToEnd(stream);
      stream.end(one);
      if ((await back).length !== 1) throw new Error('short echo');
    };
    for (let i = 0; i < 200; i++) await cycle(); // warm up: caches, JIT, pools
    // Let the last streams finish closing on both sides before the first snapshot.
    await new Promise((r) => setTimeout(r, 200));
    const client0 = retainedBytes();
    const server0 = (await server.next('mem', { type: 'mem' })).bytes;
    let rate = 0;
    await measure(`stream churn streams/s (${CHURN_STREAMS} × open, 1 B, close)`, 'quic', async () => {
      const start = performance.now();
      for (let i = 0; i < CHURN_STREAMS; i++) await cycle();
      rate = CHURN_STREAMS / ((performance.now() - start) / 1000);
      return rate;
    });
    await new Promise((r) => setTimeout(r, 200));
    const client1 = retainedBytes();
    const server1 = (await server.next('mem', { type: 'mem' })).bytes;
    rows.push({ metric: '  bytes retained per closed stream, client', path: 'quic', value: (client1 - client0) / CHURN_STREAMS, clientCpu: NaN, serverCpu: NaN });
    rows.push({ metric: '  bytes retained per closed stream, server', path: 'quic', value: (server1 - server0) / CHURN_STREAMS, clientCpu: NaN, serverCpu: NaN });
    await conn.close();
  }

  child.send({ type: 'quit' } satisfies ToServer);
  await new Promise((r) => child.once('exit', r));

  const fmt = (v: number | string): string => (typeof v === 'string' ? v : Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2));
  const pct = (v: number): string => (Number.isNaN(v) ? '' : `${v.toFixed(0)}%`);
  const cpus = os.cpus();
  console.log(`machine: ${cpus.length} cores, ${cpus[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.version}, ${os.platform()} ${os.arch()}`);
  console.log(`127.0.0.1, server in a child process; ${SHORT ? 'short run' : 'full run'}; QUIC payloads chosen by the node unless shown`);
  const widths = [Math.max(6, ...rows.map((r) => r.metric.length)), Math.max(4, ...rows.map((r) => r.path.length)), 9, 10, 10];
  const line = (cells: string[]): string => `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  if (rows.length > 0) {
    console.log(line(['metric', 'path', 'value', 'client CPU', 'server CPU']));
    console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
    for (const r of rows) console.log(line([r.metric, r.path, fmt(r.value), pct(r.clientCpu), pct(r.serverCpu)]));
  }
  await printNodeTable(wanted);
}

/**
 * The second table: the bus and supervisor figures of bench/bus.ts and bench/restart.ts, measured
 * here after the transport server has quit (so they have the machine to themselves).
 */
async function printNodeTable(wanted: (section: string) => boolean): Promise<void> {
  const cells: [string, string, string][] = [];
  const attempt = async (section: string, fn: () => Promise<void>): Promise<void> => {
    if (!wanted(section)) return;
    try {
      await fn();
    } catch (err) {
      cells.push([section, 'error', '']);
      process.stderr.write(`${section}: ${(err as Error).message}\n`);
    }
  };
  await attempt('bus', async () => {
    // Imported here: the server child process never needs the bus or the node.
    const { BUS_MESSAGES, busRate, measureBus } = await import('./bus.ts');
    const rows = await measureBus(SHORT ? BUS_MESSAGES.short : BUS_MESSAGES.full);
    const bare = busRate(rows[0]!);
    for (const r of rows) cells.push([`bus msgs/s: ${r.name}`, Math.round(busRate(r)).toString(), `${(busRate(r) / bare).toFixed(2)}x bare send`]);
  });
  await attempt('restart', async () => {
    const { RESTART_ROUNDS, measureRestart, median } = await import('./restart.ts');
    const rounds = SHORT ? RESTART_ROUNDS.short : RESTART_ROUNDS.full;
    const t = await measureRestart(rounds);
    cells.push([`supervisor restart ms, crash → accepting again (median of ${rounds}, TLS)`, median(t.restart).toFixed(2), `max ${Math.max(...t.restart).toFixed(2)}`]);
    cells.push([`  connect + echo on a healthy ALPN, ms (the floor)`, median(t.floor).toFixed(2), `max ${Math.max(...t.floor).toFixed(2)}`]);
  });
  if (cells.length === 0) return;
  const widths = [Math.max(6, ...cells.map((c) => c[0].length)), Math.max(5, ...cells.map((c) => c[1].length)), Math.max(4, ...cells.map((c) => c[2].length))];
  const line = (c: string[]): string => `| ${c[0]!.padEnd(widths[0]!)} | ${c[1]!.padStart(widths[1]!)} | ${c[2]!.padEnd(widths[2]!)} |`;
  console.log('');
  console.log(line(['metric', 'value', 'note']));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const c of cells) console.log(line(c));
}

if (process.argv.includes('--serve')) {
  serve().catch((err: Error) => {
    console.error(`bench/transport server: ${err.message}`);
    process.exit(1);
  });
} else {
  main().catch((err: Error) => {
    // A benchmark reports; it does not fail a build on timing.
    console.error(`bench/transport: ${err.message}`);
    process.exitCode = 0;
  });
}
