// alknet/call overhead: calls/s and p50/p99 of a small echo operation over alknet/call, next to the
// raw one-stream-per-request echo (bench/transport's measure) on the same node and transport, in
// the same run. QUIC: one connection, a stream per request. TLS: a connection per request (TLS
// carries one stream), for both sides.
//   npx tsx bench/call.ts [--short]
// Never fails on timing.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { Type } from '@sinclair/typebox';
import { pino } from 'pino';
import { createVaultFile } from '../actors/vault/vaultFile.ts';
import { startNode } from '../supervisors/startNode.ts';
import { dial } from '../actors/listener/dial.ts';
import { ephemeralKeyPair } from '../actors/listener/tlsIdentity.ts';
import type { Connection } from '../actors/listener/connection.ts';
import { sessionFromHandler } from '../protocols/protocol.ts';
import { defineOperation } from '../operations/catalogue.ts';
import { connect } from '../protocols/call/connect.ts';

const SHORT = process.argv.includes('--short');
const REQUESTS = SHORT ? 50 : 500;
const PAYLOAD = 'x'.repeat(32);
const RAW_ALPN = 'bench/raw-echo';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function measure(n: number, once: () => Promise<void>): Promise<{ perSec: number; p50: number; p99: number }> {
  for (let i = 0; i < Math.min(10, n); i++) await once(); // warm-up
  const times: number[] = [];
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await once();
    times.push(performance.now() - t);
  }
  const total = (performance.now() - start) / 1000;
  times.sort((a, b) => a - b);
  return { perSec: n / total, p50: percentile(times, 50), p99: percentile(times, 99) };
}

async function rawEcho(stream: Duplex): Promise<void> {
  stream.end(PAYLOAD);
  let got = 0;
  for await (const chunk of stream) got += (chunk as Buffer).length;
  if (got !== PAYLOAD.length) throw new Error(`echo returned ${got} bytes`);
}

async function main(): Promise<void> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-bench-call-'));
  await createVaultFile(home, { passphrase: 'bench', kdf: { N: 1024, r: 8, p: 1 } });
  const node = await startNode({
    home,
    passphrase: 'bench',
    listen: '127.0.0.1:0',
    tensor: false,
    logger: pino({ level: 'silent' }),
    protocols: [{ alpn: RAW_ALPN, session: sessionFromHandler(({ conn }) => conn.onStream((s) => s.pipe(s))) }],
  });
  node.operations.register([
    defineOperation({
      name: 'bench/echo', type: 'query', input: Type.Object({ text: Type.String({ maxLength: 1024 }) }),
      output: Type.Object({ text: Type.String() }), scopes: [], visibility: 'external', handler: async ({ text }) => ({ text }),
    }),
  ], 'bench');
  const address = `${node.nodeId}@${node.address}`;
  const identity = ephemeralKeyPair();
  const knownNodesPath = path.join(home, 'known_nodes');

  const rows: string[][] = [];
  for (const transport of ['quic', 'tls'] as const) {
    let quicConn: Connection | null = null;
    if (transport === 'quic') quicConn = await dial(address, { alpn: RAW_ALPN, transport, identity, knownNodesPath });
    const raw = await measure(REQUESTS, async () => {
      if (quicConn) return rawEcho(await quicConn.openStream());
      const conn = await dial(address, { alpn: RAW_ALPN, transport, identity, knownNodesPath });
      await rawEcho(await conn.openStream());
      await conn.close();
    });
    await quicConn?.close();
    const client = await connect(address, { transport, identity, knownNodesPath });
    const call = await measure(REQUESTS, async () => {
      const out = await client.call<{ text: string }>('bench/echo', { text: PAYLOAD });
      if (out.text !== PAYLOAD) throw new Error('bad echo');
    });
    await client.close();
    const f = (x: number) => x.toFixed(x < 10 ? 2 : 0);
    rows.push([transport, f(raw.perSec), f(call.perSec), `${((call.perSec / raw.perSec) * 100).toFixed(0)}%`, `${f(raw.p50)} / ${f(raw.p99)}`, `${f(call.p50)} / ${f(call.p99)}`]);
  }
  await node.stop();
  fs.rmSync(home, { recursive: true, force: true });

  console.log(`alknet/call vs raw echo: ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? '?'}, Node ${process.version}, ${REQUESTS} sequential requests each`);
  const header = ['transport', 'raw req/s', 'call req/s', 'call/raw', 'raw p50/p99 ms', 'call p50/p99 ms'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => '| ' + r.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  console.log(line(header));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const r of rows) console.log(line(r));
}

await main();
