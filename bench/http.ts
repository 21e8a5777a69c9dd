// The HTTP front end's POST /call over h2 next to the same echo over alknet/call (connect() of
// index.ts, QUIC and TLS) and next to a bare node:http2 server that does nothing else, in one run.
// Servers run in their own processes (bench/call-server.ts: `h2` is the bare server, `alknet` a
// node whose built-in protocols include h2); this process is the client. Same JSON everywhere:
// {text: 32 chars} → {text} (POST /call wraps it: {operationId, input} → {output}).
//   sequential     one client, one call at a time: req/s, p50/p99
//   64 in flight   one client (one h2 session / one alknet connection), 64 outstanding: req/s, p50/p99
//   server CPU     the server process's CPU time per call
//   npx tsx bench/http.ts [--short]
// Never fails on timing.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type NodeClient } from '../index.ts';
import { ephemeralKeyPair } from '../actors/listener/tlsIdentity.ts';
import { ECHO_PATH } from './call-server.ts';

const SHORT = process.argv.includes('--short');
const SEQUENTIAL = SHORT ? 100 : 2_000;
const WINDOW = 64;
const IN_FLIGHT_TOTAL = SHORT ? 640 : 12_800;
const PAYLOAD = 'x'.repeat(32);

interface ServerProcess {
  address: string;
  cpuMs(): number;
  stop(): Promise<void>;
}

function processCpuMs(pid: number | undefined): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

async function startServer(mode: 'h2' | 'alknet'): Promise<ServerProcess> {
  const script = fileURLToPath(new URL('./call-server.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, mode], { cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const line = await new Promise<string>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`the ${mode} server did not start in 60 s`)), 60_000);
    child.stdout.on('data', (c: Buffer) => {
      text += c.toString();
      const end = text.indexOf('\n');
      if (end >= 0) {
        clearTimeout(timer);
        resolve(text.slice(0, end));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the ${mode} server exited (${code})`));
    });
  }).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  return {
    address: (JSON.parse(line) as { address: string }).address,
    cpuMs: () => processCpuMs(child.pid),
    async stop() {
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

interface Side {
  name: string;
  server: ServerProcess;
  call(): Promise<void>;
  close(): Promise<void>;
}

function h2Connect(hostPort: string): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://${hostPort}`, { rejectUnauthorized: false });
    session.once('connect', () => resolve(session));
    session.once('error', reject);
  });
}

/** POST `path` with `body` on one h2 session; `check` reads the JSON answer. */
async function h2Side(name: string, server: ServerProcess, hostPort: string, path: string, body: string, check: (out: unknown) => boolean): Promise<Side> {
  const session = await h2Connect(hostPort);
  session.on('error', () => {});
  return {
    name,
    server,
    call: () =>
      new Promise<void>((resolve, reject) => {
        const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/json' });
        const chunks: Buffer[] = [];
        let status = 0;
        req.on('response', (headers) => (status = Number(headers[':status'])));
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          if (status !== 200) return reject(new Error(`HTTP ${status}`));
          if (!check(JSON.parse(Buffer.concat(chunks).toString('utf8')))) return reject(new Error('bad echo'));
          resolve();
        });
        req.on('error', reject);
        req.end(body);
      }),
    close: () => new Promise<void>((resolve) => session.close(() => resolve())),
  };
}

async function callSide(server: ServerProcess, transport: 'quic' | 'tls'): Promise<Side> {
  const client: NodeClient = await connect(server.address, { transport, identity: ephemeralKeyPair(), knownNodesPath: path.join(os.tmpdir(), 'alknet-bench-http-known_nodes') });
  return {
    name: `alknet/call ${transport === 'quic' ? 'QUIC' : 'TLS'}`,
    server,
    call: async () => {
      const out = await client.call<{ text: string }>('bench/echo', { text: PAYLOAD });
      if (out.text !== PAYLOAD) throw new Error('bad echo');
    },
    close: () => client.close(),
  };
}

interface Rate {
  perSec: number;
  p50: number;
  p99: number;
  failed: number;
  serverCpu: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

async function rate(side: Side, window: number, total: number): Promise<Rate> {
  for (let i = 0; i < Math.min(300, total / 4); i++) await side.call().catch(() => {}); // warm-up (JIT)
  const times: number[] = [];
  let started = 0;
  let failed = 0;
  const server0 = side.server.cpuMs();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: window }, async () => {
      while (started < total) {
        started++;
        const t = performance.now();
        try {
          await side.call();
          times.push(performance.now() - t);
        } catch {
          failed++;
        }
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  times.sort((a, b) => a - b);
  return { perSec: times.length / seconds, p50: percentile(times, 50), p99: percentile(times, 99), failed, serverCpu: (side.server.cpuMs() - server0) / total };
}

const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '—');

async function main(): Promise<void> {
  const bare = await startServer('h2');
  const node = await startServer('alknet');
  const hostPort = node.address.slice(node.address.indexOf('@') + 1);
  const echo = JSON.stringify({ text: PAYLOAD });
  const sides: Side[] = [];
  try {
    sides.push(await h2Side('node:http2 (bare)', bare, bare.address, ECHO_PATH, echo, (o) => (o as { text?: string }).text === PAYLOAD));
    sides.push(
      await h2Side('alknet h2 POST /call', node, hostPort, '/call', JSON.stringify({ operationId: 'bench/echo', input: { text: PAYLOAD } }), (o) => (o as { output?: { text?: string } }).output?.text === PAYLOAD),
    );
    sides.push(await callSide(node, 'quic'));
    sides.push(await callSide(node, 'tls'));
    const seq: Rate[] = [];
    const par: Rate[] = [];
    for (const side of sides) seq.push(await rate(side, 1, SEQUENTIAL));
    for (const side of sides) par.push(await rate(side, WINDOW, IN_FLIGHT_TOTAL));
    const rows: string[][] = [
      ['measure', ...sides.map((s) => s.name), 'POST /call ÷ bare'],
      ['sequential, req/s', ...seq.map((r) => fmt(r.perSec)), fmt(seq[1]!.perSec / seq[0]!.perSec, 2)],
      ['sequential, p50 / p99 ms', ...seq.map((r) => `${fmt(r.p50, 2)} / ${fmt(r.p99, 2)}`), ''],
      ['sequential, server CPU ms per call', ...seq.map((r) => fmt(r.serverCpu, 3)), ''],
      [`${WINDOW} in flight, req/s`, ...par.map((r) => fmt(r.perSec)), fmt(par[1]!.perSec / par[0]!.perSec, 2)],
      [`${WINDOW} in flight, p50 / p99 ms`, ...par.map((r) => `${fmt(r.p50, 2)} / ${fmt(r.p99, 2)}`), ''],
      [`${WINDOW} in flight, server CPU ms per call`, ...par.map((r) => fmt(r.serverCpu, 3)), ''],
      ['failed calls', ...sides.map((_, i) => String(seq[i]!.failed + par[i]!.failed)), ''],
    ];
    process.stdout.write(`HTTP front end: ${SEQUENTIAL} sequential and ${IN_FLIGHT_TOTAL} calls with ${WINDOW} in flight per side${SHORT ? ' (--short)' : ''}\n\n`);
    for (const [i, row] of rows.entries()) {
      process.stdout.write(`| ${row.join(' | ')} |\n`);
      if (i === 0) process.stdout.write(`|${row.map(() => '---').join('|')}|\n`);
    }
  } finally {
    for (const side of sides) await side.close().catch(() => {});
    await bare.stop();
    await node.stop();
  }
}

await main();
