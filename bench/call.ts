// alknet/call next to a bare node:http2 TLS server, through the public API (`connect()` of index.ts),
// in one run. Each server runs in its own process (bench/call-server.ts); this process is the client.
// Both answer the same JSON: {text: 32 chars} → {text}.
//   sequential        one client, one call at a time: req/s, p50/p99
//   64 in flight      one client, 64 calls outstanding at all times: req/s, p50/p99
//   256 / 10,000      that many calls started at once on one client: served / BUSY / failed
//   CPU per call      this process's (the client's) and the server process's CPU time / calls
//   dial + close      connect() then close(), one after the other: per second
//                     (alknet's connect() dials at once over both transports)
//   npx tsx bench/call.ts [--short]
// Never fails on timing. BENCH_SERVER_PROF=DIR writes the alknet server's CPU profile; run this
// script under `node --cpu-prof --import tsx` for the client's.
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { connect, type NodeClient } from '../index.ts';
import { ephemeralKeyPair } from '../actors/listener/tlsIdentity.ts';
import { CallError } from '../operations/errors.ts';
import { ECHO_PATH } from './call-server.ts';
import { h2Connect, percentile, rate, startServer, type LoadSide, type Rate, type ServerProcess } from './serverLoad.ts';

const SHORT = process.argv.includes('--short');
const SEQUENTIAL = SHORT ? 100 : 2_000;
const WINDOW = 64;
const IN_FLIGHT_TOTAL = SHORT ? 640 : 12_800;
const BURSTS = SHORT ? [256] : [256, 10_000];
const DIALS = SHORT ? 10 : 100;
const PAYLOAD = 'x'.repeat(32);

/** One side of the comparison: how to make one call, and how to dial and close. */
interface Side extends LoadSide {
  name: string;
  server: ServerProcess;
  call(): Promise<void>;
  dialAndClose(): Promise<void>;
  close(): Promise<void>;
}

function h2Close(session: http2.ClientHttp2Session): Promise<void> {
  return new Promise((resolve) => session.close(() => resolve()));
}

async function h2Side(server: ServerProcess): Promise<Side> {
  const address = server.address;
  const session = await h2Connect(address);
  session.on('error', () => {});
  const body = JSON.stringify({ text: PAYLOAD });
  return {
    name: 'node:http2',
    server,
    call: () =>
      new Promise<void>((resolve, reject) => {
        const req = session.request({ ':method': 'POST', ':path': ECHO_PATH, 'content-type': 'application/json' });
        const chunks: Buffer[] = [];
        let status = 0;
        req.on('response', (headers) => (status = Number(headers[':status'])));
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          if (status !== 200) return reject(new Error(`HTTP ${status}`));
          const out = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { text: string };
          if (out.text !== PAYLOAD) return reject(new Error('bad echo'));
          resolve();
        });
        req.on('error', reject);
        req.end(body);
      }),
    dialAndClose: async () => h2Close(await h2Connect(address)),
    close: () => h2Close(session),
  };
}

async function alknetSide(server: ServerProcess, transport: 'quic' | 'tls'): Promise<Side> {
  const address = server.address;
  const identity = ephemeralKeyPair();
  const options = { transport, identity, knownNodesPath: path.join(os.tmpdir(), 'alknet-bench-call-known_nodes') };
  const client: NodeClient = await connect(address, options);
  return {
    name: `alknet ${transport === 'quic' ? 'QUIC' : 'TLS'}`,
    server,
    call: async () => {
      const out = await client.call<{ text: string }>('bench/echo', { text: PAYLOAD });
      if (out.text !== PAYLOAD) throw new Error('bad echo');
    },
    dialAndClose: async () => (await connect(address, options)).close(),
    close: () => client.close(),
  };
}

/** `n` calls started at once: how many were served, refused BUSY, or failed otherwise (first reason). */
async function burst(side: Side, n: number): Promise<string> {
  const results = await Promise.allSettled(Array.from({ length: n }, () => side.call()));
  let served = 0;
  let busy = 0;
  let failed = 0;
  let firstFailure = '';
  for (const r of results) {
    if (r.status === 'fulfilled') served++;
    else if (r.reason instanceof CallError && r.reason.code === 'BUSY') busy++;
    else {
      failed++;
      firstFailure ||= String((r.reason as Error)?.message ?? r.reason).slice(0, 60);
    }
  }
  return `${served} / ${busy} / ${failed}${firstFailure ? ` (${firstFailure})` : ''}`;
}

async function dialRate(side: Side, n: number): Promise<number> {
  await side.dialAndClose(); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await side.dialAndClose();
  return n / ((performance.now() - t0) / 1000);
}

const f = (x: number): string => (Number.isFinite(x) ? x.toFixed(x < 10 ? 2 : 0) : '-');
const cpuCell = (r: Rate): string => `${r.clientCpu.toFixed(3)} + ${Number.isFinite(r.serverCpu) ? r.serverCpu.toFixed(3) : '-'}`;
const ratio = (a: number, b: number): string => (b > 0 ? `${(a / b).toFixed(2)}` : '-');

async function main(): Promise<void> {
  const [h2Server, alknetServer] = await Promise.all([startServer('h2'), startServer('alknet')]);
  const sides = [await h2Side(h2Server), await alknetSide(alknetServer, 'quic'), await alknetSide(alknetServer, 'tls')];
  const [h2, quic, tls] = sides as [Side, Side, Side];
  const rows: string[][] = [];
  try {
    const seq = [await rate(h2, 1, SEQUENTIAL), await rate(quic, 1, SEQUENTIAL), await rate(tls, 1, SEQUENTIAL)];
    rows.push(['sequential, req/s', ...seq.map((r) => f(r.perSec)), ratio(seq[1]!.perSec, seq[0]!.perSec), ratio(seq[2]!.perSec, seq[0]!.perSec)]);
    rows.push(['sequential, p50 / p99 ms', ...seq.map((r) => `${f(r.p50)} / ${f(r.p99)}`), '', '']);
    rows.push(['sequential, CPU ms per call: client + server', ...seq.map(cpuCell), '', '']);
    const par = [await rate(h2, WINDOW, IN_FLIGHT_TOTAL), await rate(quic, WINDOW, IN_FLIGHT_TOTAL), await rate(tls, WINDOW, IN_FLIGHT_TOTAL)];
    rows.push([`${WINDOW} in flight, req/s`, ...par.map((r) => f(r.perSec)), ratio(par[1]!.perSec, par[0]!.perSec), ratio(par[2]!.perSec, par[0]!.perSec)]);
    rows.push([`${WINDOW} in flight, p50 / p99 ms`, ...par.map((r) => `${f(r.p50)} / ${f(r.p99)}`), '', '']);
    rows.push([`${WINDOW} in flight, CPU ms per call: client + server`, ...par.map(cpuCell), '', '']);
    const failures = [...seq, ...par].reduce((n, r) => n + r.failed, 0);
    if (failures > 0) rows.push(['failed calls in the rows above', ...[0, 1, 2].map((i) => String(seq[i]!.failed + par[i]!.failed)), '', '']);
    for (const n of BURSTS) {
      rows.push([`${n.toLocaleString('en')} at once: served / BUSY / failed`, await burst(h2, n), await burst(quic, n), await burst(tls, n), '', '']);
    }
    const dials = [await dialRate(h2, DIALS), await dialRate(quic, DIALS), await dialRate(tls, DIALS)];
    rows.push(['dial + close, per second', ...dials.map(f), `QUIC/TLS ${ratio(dials[1]!, dials[2]!)}`, '']);
  } finally {
    await Promise.all(sides.map((s) => s.close().catch(() => {})));
    await Promise.all([h2Server.stop(), alknetServer.stop()]);
    fs.rmSync(path.join(os.tmpdir(), 'alknet-bench-call-known_nodes'), { force: true });
  }

  const load = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  console.log(`alknet/call vs node:http2 (each server in its own process; client here): ${os.cpus().length} cores, ` +
    `${os.cpus()[0]?.model ?? '?'}, Node ${process.version}, load ${load}`);
  const header = ['measure', 'node:http2', 'alknet QUIC', 'alknet TLS', 'QUIC/h2', 'TLS/h2'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => '| ' + r.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  console.log(line(header));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const r of rows) console.log(line(r));
}

await main();
