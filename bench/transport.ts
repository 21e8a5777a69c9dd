// Transport benchmark: QUIC (js-quic) and TLS/TCP (node:tls) side by side through the same
// listener and dial code, on 127.0.0.1, measured in the same run.
//   npx tsx bench/transport.ts [--short]
// Prints one table. Never fails on timing; a cell that errors prints "error".
import os from 'node:os';
import type { Duplex } from 'node:stream';
import { ed25519 } from '@noble/curves/ed25519.js';
import { startListener } from '../actors/listener/listener.ts';
import { dial } from '../actors/listener/dial.ts';
import type { Connection, TransportKind } from '../actors/listener/connection.ts';

const SHORT = process.argv.includes('--short');
const ECHO = 'bench/echo';
const SINK = 'bench/sink';
const TRANSPORTS: TransportKind[] = ['quic', 'tls'];
const HANDSHAKES = SHORT ? 10 : 100;
const REQUESTS = SHORT ? 30 : 500;
const BULK_SECONDS = SHORT ? 0.5 : 3;
const CHUNK = 64 * 1024;
const REQUEST_BYTES = 32;

function keys() {
  const privateKey = ed25519.utils.randomSecretKey();
  return { privateKey, publicKey: ed25519.getPublicKey(privateKey) };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function readExactly(stream: Duplex, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const onData = (c: Buffer): void => {
      chunks.push(c);
      got += c.length;
      if (got >= n) { cleanup(); resolve(Buffer.concat(chunks)); }
    };
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

async function main(): Promise<void> {
  const listener = await startListener({
    host: '127.0.0.1',
    port: 0,
    alpns: [ECHO, SINK],
    identity: keys(),
    limits: { perIp: 10_000 },
    onConnection: (conn) => conn.onStream((stream) => {
      if (conn.alpn === ECHO) {
        stream.pipe(stream);
      } else {
        let total = 0;
        stream.on('data', (c: Buffer) => { total += c.length; });
        stream.once('end', () => stream.end(String(total)));
      }
    }),
  });
  const address = `${listener.nodeId}@127.0.0.1:${listener.quicPort}`;
  const connect = (transport: TransportKind, alpn: string): Promise<Connection> => dial(address, { alpn, transport, identity: client });
  const client = keys();

  type Cell = number | string;
  const rows: [string, Record<TransportKind, Cell>][] = [];
  const measure = async (label: string, fn: (t: TransportKind) => Promise<number>): Promise<void> => {
    const row = {} as Record<TransportKind, Cell>;
    for (const t of TRANSPORTS) {
      try {
        row[t] = await fn(t);
      } catch (err) {
        row[t] = 'error';
        process.stderr.write(`${label} (${t}): ${(err as Error).message}\n`);
      }
    }
    rows.push([label, row]);
  };

  // Handshakes: sequential dials; closes are left to finish in the background (QUIC's close
  // waits out its draining period, which is not part of a handshake).
  await measure(`handshakes/s (${HANDSHAKES} sequential dials)`, async (t) => {
    const closing: Promise<void>[] = [];
    let spent = 0;
    for (let i = 0; i < HANDSHAKES; i++) {
      const start = performance.now();
      const conn = await connect(t, ECHO);
      spent += performance.now() - start;
      closing.push(conn.close());
    }
    await Promise.all(closing);
    return HANDSHAKES / (spent / 1000);
  });

  // One stream per request (TLS carries one stream per connection, so there it is one
  // connection per request).
  const latencies: Record<TransportKind, number[]> = { quic: [], tls: [] };
  await measure(`echo req/s, ${REQUEST_BYTES} B, new stream per request (TLS: new connection)`, async (t) => {
    const conn = t === 'quic' ? await connect(t, ECHO) : undefined;
    const payload = Buffer.alloc(REQUEST_BYTES, 1);
    const start = performance.now();
    for (let i = 0; i < REQUESTS; i++) {
      const t0 = performance.now();
      const c = conn ?? await connect(t, ECHO);
      const stream = await c.openStream();
      const back = readToEnd(stream);
      stream.end(payload);
      if ((await back).length !== REQUEST_BYTES) throw new Error('short echo');
      latencies[t].push(performance.now() - t0);
      if (conn === undefined) void c.close();
    }
    const elapsed = performance.now() - start;
    await conn?.close();
    return REQUESTS / (elapsed / 1000);
  });
  const sorted = (t: TransportKind): number[] => [...latencies[t]].sort((a, b) => a - b);
  rows.push(['  p50 latency ms', { quic: percentile(sorted('quic'), 50), tls: percentile(sorted('tls'), 50) }]);
  rows.push(['  p99 latency ms', { quic: percentile(sorted('quic'), 99), tls: percentile(sorted('tls'), 99) }]);

  await measure(`ping-pong req/s, ${REQUEST_BYTES} B, one long-lived stream`, async (t) => {
    const conn = await connect(t, ECHO);
    const stream = await conn.openStream();
    const payload = Buffer.alloc(REQUEST_BYTES, 2);
    const start = performance.now();
    for (let i = 0; i < REQUESTS; i++) {
      const back = readExactly(stream, REQUEST_BYTES);
      stream.write(payload);
      await back;
    }
    const elapsed = performance.now() - start;
    stream.end();
    await conn.close();
    return REQUESTS / (elapsed / 1000);
  });

  await measure(`bulk MB/s, one stream, 64 KiB writes, ${BULK_SECONDS} s`, async (t) => {
    const conn = await connect(t, SINK);
    const stream = await conn.openStream();
    const reply = readToEnd(stream);
    const chunk = Buffer.alloc(CHUNK, 3);
    const start = performance.now();
    while (performance.now() - start < BULK_SECONDS * 1000) {
      if (!stream.write(chunk)) await new Promise((r) => stream.once('drain', r));
    }
    stream.end();
    const received = Number((await reply).toString());
    const elapsed = performance.now() - start;
    await conn.close();
    return received / 1e6 / (elapsed / 1000);
  });

  await listener.close();

  const fmt = (v: Cell): string => (typeof v === 'string' ? v : v >= 100 ? v.toFixed(0) : v.toFixed(2));
  const width = Math.max(...rows.map(([l]) => l.length));
  const cpus = os.cpus();
  console.log(`machine: ${cpus.length} cores, ${cpus[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.version}, ${os.platform()} ${os.arch()}`);
  console.log(`QUIC: @matrixai/quic defaults, maxSendUdpPayloadSize 1200 B (js-quic default), 127.0.0.1; ${SHORT ? 'short run' : 'full run'}`);
  console.log(`| ${'metric'.padEnd(width)} | ${'QUIC'.padStart(9)} | ${'TLS/TCP'.padStart(9)} |`);
  console.log(`|${'-'.repeat(width + 2)}|${'-'.repeat(11)}|${'-'.repeat(11)}|`);
  for (const [label, row] of rows) {
    console.log(`| ${label.padEnd(width)} | ${fmt(row.quic).padStart(9)} | ${fmt(row.tls).padStart(9)} |`);
  }
}

main().catch((err: Error) => {
  // A benchmark reports; it does not fail a build on timing.
  console.error(`bench/transport: ${err.message}`);
});
