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
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import { connect, type NodeClient } from '../index.ts';
import { ephemeralKeyPair } from '../actors/listener/tlsIdentity.ts';
import { ECHO_PATH } from './call-server.ts';
import { h2Connect, rate, startServer, type LoadSide, type Rate, type ServerProcess } from './serverLoad.ts';

const SHORT = process.argv.includes('--short');
const SEQUENTIAL = SHORT ? 100 : 2_000;
const WINDOW = 64;
const IN_FLIGHT_TOTAL = SHORT ? 640 : 12_800;
const PAYLOAD = 'x'.repeat(32);

interface Side extends LoadSide {
  name: string;
  server: ServerProcess;
  call(): Promise<void>;
  close(): Promise<void>;
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
    for (const side of sides) seq.push(await rate(side, 1, SEQUENTIAL, 300));
    for (const side of sides) par.push(await rate(side, WINDOW, IN_FLIGHT_TOTAL, 300));
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
