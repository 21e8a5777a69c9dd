// The DNS front end over plain UDP, measured with dnsperf, next to Knot DNS (knotd) serving the same
// records on another loopback port, in one run:
//   zone records   [dns] zone lines (A, AAAA, MX, a CNAME followed, a NXDOMAIN): the node's
//                  in-memory zone vs the same lines in a Knot zone file
//   pkarr names    `<z32>` A and `_alknet.<z32>` TXT: the node asks its pkarr service (LMDB) by
//                  message for the signed packet on every query; Knot serves the same records as a
//                  static zone named `<z32>` (the best a classic server can do)
// knotd runs twice: with one UDP worker (the node answers on one thread) and with its default
// (one per CPU). Each side gets the same dnsperf run (-c clients, -q outstanding, -l seconds); the
// node's rate limit is off for it ([dns] rateLimit = 0). Server CPU is read from /proc.
//   node --import tsx bench/dns.ts [--short]
// Needs dnsperf and knotd (Debian: dnsperf, knot); scripts/bench-deps.sh installs them as root or
// prints the command. Never fails on timing.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import dnsPacket from 'dns-packet';
import { pino } from 'pino';
import { startNode, type RunningNode } from '../supervisors/startNode.ts';
import { createVaultFile } from '../actors/vault/vaultFile.ts';
import { loadConfig } from '../supervisors/config.ts';
import { nodeIdFromPublicKey } from '../lib/nodeId.ts';
import { nowMicros, signWithSeed } from '../lib/pkarr/signedPacket.ts';
import { resolveDns } from '../protocols/dns/client.ts';

const SHORT = process.argv.includes('--short');
const SECONDS = SHORT ? 1 : 10;
const CLIENTS = 4;
const OUTSTANDING = 200;
const root = fileURLToPath(new URL('..', import.meta.url));

const ZONE = [
  '@ 3600 SOA ns hostmaster 1 3600 600 604800 300',
  '@ 3600 NS ns',
  'ns 3600 A 192.0.2.53',
  'www 300 A 192.0.2.1',
  'www 300 AAAA 2001:db8::1',
  'alias 300 CNAME www',
  '@ 300 MX 10 mail',
  'mail 300 A 192.0.2.25',
];
const ZONE_QUERIES = ['www.example.test A', 'www.example.test AAAA', 'example.test MX', 'alias.example.test A', 'nope.example.test A'];

function which(tool: string): string | null {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin']) {
    const file = path.join(dir, tool);
    if (dir && fs.existsSync(file)) return file;
  }
  return null;
}

/** dnsperf and knotd, after scripts/bench-deps.sh had its chance to install them. */
function tools(): { dnsperf: string; knotd: string } {
  let dnsperf = which('dnsperf');
  let knotd = which('knotd');
  if (!dnsperf || !knotd) {
    const r = spawnSync('bash', [path.join(root, 'scripts', 'bench-deps.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    process.stderr.write(r.stdout + r.stderr);
    dnsperf = which('dnsperf');
    knotd = which('knotd');
  }
  if (!dnsperf || !knotd) {
    process.stderr.write('bench/dns: needs dnsperf and knotd (Debian packages dnsperf and knot): see scripts/bench-deps.sh\n');
    process.exit(1);
  }
  return { dnsperf, knotd };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function cpuMsOf(pid: number | undefined): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks of 10 ms
  } catch {
    return NaN;
  }
}

interface Server {
  name: string;
  port: number;
  cpuMs(): number;
  stop(): Promise<void>;
}

interface PkarrRecords {
  z32: string;
  lines: string[];
  queries: string[];
}

async function startAlknet(dir: string, pkarr: { z32: string; packet: Uint8Array }): Promise<{ server: Server; node: RunningNode }> {
  const home = path.join(dir, 'node');
  fs.mkdirSync(home);
  const passphrase = 'bench dns';
  await createVaultFile(home, { passphrase, kdf: { N: 1024, r: 8, p: 1 } });
  const config = loadConfig(home);
  config.dns = { ...config.dns, rateLimit: 0, zones: [{ origin: 'example.test', ttl: 3600, records: ZONE }] };
  const node = await startNode({ home, passphrase, listen: '127.0.0.1:0', dns: '127.0.0.1:0', config, tensor: false, agent: false, logger: pino({ level: 'silent' }) });
  const stored = await node.bus.request('pkarr', 'pkarr.put', { packet: pkarr.packet, publicKey: pkarr.z32 }, { deadlineMs: 10_000 });
  if (!stored.stored) throw new Error(`pkarr.put refused the bench packet: ${stored.reason}`);
  return {
    node,
    server: {
      name: 'alknet node',
      port: Number(node.dns!.split(':').at(-1)),
      cpuMs: () => cpuMsOf(process.pid),
      stop: () => node.stop(),
    },
  };
}

async function startKnot(knotd: string, dir: string, workers: number | null, pkarr: PkarrRecords): Promise<Server> {
  const kdir = fs.mkdtempSync(path.join(dir, 'knot-'));
  const port = await freePort();
  fs.writeFileSync(path.join(kdir, 'example.test.zone'), `$ORIGIN example.test.\n$TTL 3600\n${ZONE.join('\n')}\n`);
  fs.writeFileSync(path.join(kdir, `${pkarr.z32}.zone`), `$ORIGIN ${pkarr.z32}.\n$TTL 300\n@ 300 SOA ${pkarr.z32}. hostmaster.${pkarr.z32}. 1 3600 600 604800 300\n${pkarr.lines.join('\n')}\n`);
  fs.writeFileSync(
    path.join(kdir, 'knot.conf'),
    [
      'server:',
      `    rundir: "${kdir}"`,
      `    listen: 127.0.0.1@${port}`,
      ...(workers ? [`    udp-workers: ${workers}`, '    tcp-workers: 1', '    background-workers: 1'] : []),
      'database:',
      `    storage: "${kdir}"`,
      'log:',
      '  - target: stderr',
      '    any: error',
      'template:',
      '  - id: default',
      `    storage: "${kdir}"`,
      '    file: "%s.zone"',
      '    semantic-checks: off',
      'zone:',
      '  - domain: example.test',
      `  - domain: ${pkarr.z32}`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(knotd, ['-c', path.join(kdir, 'knot.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Ready once it answers for its zone.
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`knotd exited: ${stderr.slice(0, 500)}`);
    const ok = await resolveDns({ host: '127.0.0.1', port }, { name: 'www.example.test', type: 'A' }, { timeoutMs: 200 }).then((r) => r.answers.length === 1, () => false);
    if (ok) break;
    if (i > 100) throw new Error(`knotd did not answer within 20 s: ${stderr.slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    name: workers ? `knotd, ${workers} UDP worker${workers === 1 ? '' : 's'}` : `knotd, default workers (${os.cpus().length} CPUs)`,
    port,
    cpuMs: () => cpuMsOf(child.pid),
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

interface PerfResult {
  qps: number;
  sent: number;
  lost: number;
  avgLatencyMs: number;
  rcodes: string;
  serverCpuUsPerQuery: number;
}

async function dnsperf(bin: string, server: Server, queryFile: string): Promise<PerfResult> {
  const cpu0 = server.cpuMs();
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(bin, ['-s', '127.0.0.1', '-p', String(server.port), '-d', queryFile, '-l', String(SECONDS), '-c', String(CLIENTS), '-q', String(OUTSTANDING), '-t', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d));
    child.stderr.on('data', (d: Buffer) => (text += d));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`dnsperf exited ${code}: ${text.slice(-500)}`))));
  });
  const cpu = server.cpuMs() - cpu0;
  const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? NaN);
  const completed = num(/Queries completed:\s+(\d+)/);
  return {
    qps: num(/Queries per second:\s+([\d.]+)/),
    sent: num(/Queries sent:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    avgLatencyMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
    rcodes: (/Response codes:\s+(.*)/.exec(out)?.[1] ?? '').replace(/ \([\d.]+%\)/g, '').trim(),
    serverCpuUsPerQuery: completed > 0 ? (cpu * 1000) / completed : NaN,
  };
}

function pkarrRecords(): { records: PkarrRecords; packet: Uint8Array } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const pub = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const seed = Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url');
  const z32 = nodeIdFromPublicKey(pub);
  const dns = dnsPacket.encode({
    type: 'response',
    id: 0,
    flags: dnsPacket.AUTHORITATIVE_ANSWER,
    answers: [
      { type: 'A', name: z32, ttl: 300, class: 'IN', data: '192.0.2.10' },
      { type: 'TXT', name: `_alknet.${z32}`, ttl: 300, class: 'IN', data: ['addr=192.0.2.10:4433'] },
    ],
  });
  return {
    packet: signWithSeed(seed, nowMicros(), dns),
    records: { z32, lines: ['@ 300 A 192.0.2.10', '_alknet 300 TXT "addr=192.0.2.10:4433"'], queries: [`${z32} A`, `_alknet.${z32} TXT`] },
  };
}

const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '—');

async function main(): Promise<void> {
  const { dnsperf: dnsperfBin, knotd } = tools();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-bench-dns-'));
  const { records, packet } = pkarrRecords();
  const zoneFile = path.join(dir, 'zone.queries');
  const pkarrFile = path.join(dir, 'pkarr.queries');
  fs.writeFileSync(zoneFile, `${ZONE_QUERIES.join('\n')}\n`);
  fs.writeFileSync(pkarrFile, `${records.queries.join('\n')}\n`);
  const servers: Server[] = [];
  try {
    const alknet = await startAlknet(dir, { z32: records.z32, packet });
    servers.push(alknet.server);
    servers.push(await startKnot(knotd, dir, 1, records));
    servers.push(await startKnot(knotd, dir, null, records));
    const rows: string[][] = [['server', 'queries', 'queries/s', 'avg latency ms', 'lost / sent', 'server CPU µs per query', 'answers']];
    const results: Record<string, number> = {};
    for (const [label, file] of [['zone records', zoneFile], ['pkarr names', pkarrFile]] as const) {
      for (const server of servers) {
        const r = await dnsperf(dnsperfBin, server, file);
        results[`${server.name}|${label}`] = r.qps;
        rows.push([server.name, label, fmt(r.qps), fmt(r.avgLatencyMs, 3), `${fmt(r.lost)} / ${fmt(r.sent)}`, fmt(r.serverCpuUsPerQuery, 1), r.rcodes]);
      }
    }
    const ratio = (label: string) => results[`alknet node|${label}`]! / results[`knotd, 1 UDP worker|${label}`]!;
    process.stdout.write(
      `DNS over UDP: dnsperf -c ${CLIENTS} -q ${OUTSTANDING} -l ${SECONDS} per row, 127.0.0.1, ${os.cpus().length} CPUs${SHORT ? ' (--short)' : ''}\n\n`,
    );
    for (const [i, row] of rows.entries()) {
      process.stdout.write(`| ${row.join(' | ')} |\n`);
      if (i === 0) process.stdout.write(`|${row.map(() => '---').join('|')}|\n`);
    }
    process.stdout.write(`\nalknet ÷ knotd (1 UDP worker): zone records ${fmt(ratio('zone records'), 2)}, pkarr names ${fmt(ratio('pkarr names'), 2)}\n`);
  } finally {
    for (const server of servers) await server.stop().catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
