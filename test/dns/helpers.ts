// Helpers for the DNS tests: a node with a [dns] config and a plain DNS port, and dig run as a user
// would (its output parsed: status, flags, sections, the transport it used).
import { execFile } from 'node:child_process';
import { loadConfig, type NodeConfig } from '../../supervisors/config.ts';
import type { DnsConfig } from '../../protocols/dns/config.ts';
import { makeHome, startTestNode, type TestHome } from '../node/helpers.ts';
import type { RunningNode, StartNodeOptions } from '../../supervisors/startNode.ts';

export const ZONE_RECORDS = [
  '@ 3600 SOA ns hostmaster 2024010101 3600 600 604800 120',
  '@ 3600 NS ns',
  'ns 3600 A 192.0.2.53',
  'www 300 A 192.0.2.1',
  'www 300 AAAA 2001:db8::1',
  'alias 300 CNAME www',
  '@ 300 MX 10 mail',
  'mail 300 A 192.0.2.25',
  '*.apps 60 TXT "wildcard"',
  // Eight 200-byte strings, twice: ~3.3 KB, more than a 1232-byte UDP answer holds.
  ...[1, 2].map((n) => `big 60 TXT ${Array.from({ length: 8 }, (_, i) => `"${String(i).repeat(199)}${n}"`).join(' ')}`),
];

export interface DnsNode {
  home: TestHome;
  node: RunningNode;
  config: NodeConfig;
  /** Plain DNS port (UDP and TCP). */
  dnsPort: number;
  /** The node's TLS/QUIC port (DoT, DoH, DoQ). */
  port: number;
  stop(): Promise<void>;
}

export async function startDnsNode(dns: Partial<DnsConfig> = {}, options: Partial<StartNodeOptions> = {}): Promise<DnsNode> {
  const home = await makeHome('alknet-dns-');
  const config = loadConfig(home.home);
  config.dns = { ...config.dns, zones: [{ origin: 'example.test', ttl: 3600, records: ZONE_RECORDS }], ...dns };
  const node = await startTestNode(home, { agent: false, config, dns: '127.0.0.1:0', ...options });
  return {
    home,
    node,
    config,
    dnsPort: Number(node.dns!.split(':').at(-1)),
    port: node.tcpPort,
    async stop() {
      await node.stop();
      home.cleanup();
    },
  };
}

export interface DigRecord {
  name: string;
  ttl: number;
  type: string;
  data: string;
}

export interface DigResult {
  /** dig's exit code (0 even for NXDOMAIN; 9 when no server answered). */
  code: number;
  status: string | null;
  flags: string[];
  answer: DigRecord[];
  authority: DigRecord[];
  /** UDP, TCP, TLS or HTTPS, from dig's ";; SERVER:" line. */
  transport: string | null;
  /** ";; MSG SIZE  rcvd: N". */
  size: number | null;
  text: string;
}

function section(text: string, title: string): DigRecord[] {
  const start = text.indexOf(`;; ${title} SECTION:\n`);
  if (start < 0) return [];
  const lines = text.slice(start).split('\n').slice(1);
  const out: DigRecord[] = [];
  for (const line of lines) {
    if (line.trim() === '') break;
    const [name, ttl, , type, ...data] = line.split(/\s+/);
    out.push({ name: name!, ttl: Number(ttl), type: type!, data: data.join(' ') });
  }
  return out;
}

/** Runs dig (never throws for a DNS error; only a failure to run it rejects). */
export function dig(port: number, args: string[], server = '127.0.0.1'): Promise<DigResult> {
  return new Promise((resolve, reject) => {
    execFile('dig', [`@${server}`, '-p', String(port), '+tries=1', '+time=5', ...args], { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      if (code === -1) return reject(new Error(`dig did not run: ${err?.message} ${stderr}`));
      const text = `${stdout}${stderr}`;
      const flags = /;; flags: ([a-z ]*);/.exec(text)?.[1]?.trim().split(/\s+/) ?? [];
      resolve({
        code,
        status: /status: ([A-Z]+)/.exec(text)?.[1] ?? null,
        flags,
        answer: section(text, 'ANSWER'),
        authority: section(text, 'AUTHORITY'),
        transport: /;; SERVER: .*\((UDP|TCP|TLS|HTTPS(?:-GET)?)\)/.exec(text)?.[1] ?? null,
        size: Number(/MSG SIZE\s+rcvd: (\d+)/.exec(text)?.[1] ?? NaN) || null,
        text,
      });
    });
  });
}
