// The records a node publishes about itself, and reading them back (docs/pkarr.md "Records"):
//
//   _alknet.<z32>  TXT  "addr=HOST:PORT"     one record per listen address (IPv6 in brackets)
//   <z32>          A    a.b.c.d              for each IPv4 host among them
//   <z32>          AAAA x:y::z               for each IPv6 host among them
//
// Names are absolute, ending in the key (pkarr normalizes every name to the key's TLD). Pure.
import { isIP } from 'node:net';
import dnsPacket from 'dns-packet';
import { parseDnsPacket, MAX_DNS_PACKET_BYTES, SignedPacketError } from './signedPacket.ts';

export const ALKNET_LABEL = '_alknet';
export const DEFAULT_TTL = 300;
/** Most addresses one packet carries (keeps it well under 1000 bytes). */
export const MAX_PUBLISHED_ADDRESSES = 8;

export interface HostPort {
  host: string;
  port: number;
}

/** `HOST:PORT` or `[V6]:PORT` → parts; throws a one-line reason. */
export function parseHostPort(text: string): HostPort {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 1 && port <= 65535)) throw new Error(`"${text.slice(0, 80)}" is not HOST:PORT (IPv6 as [::1]:PORT, port 1-65535)`);
  const host = m[1] ?? m[2]!;
  if (m[1] !== undefined && isIP(host) !== 6) throw new Error(`"${host}" is not an IPv6 address`);
  return { host, port };
}

export function formatHostPort({ host, port }: HostPort): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The DNS packet a node publishes: `_alknet` TXT per address and A/AAAA for IP hosts. */
export function buildNodeDnsPacket(z32: string, addresses: readonly HostPort[], ttl = DEFAULT_TTL): Uint8Array {
  if (addresses.length === 0) throw new Error('no address to publish');
  if (addresses.length > MAX_PUBLISHED_ADDRESSES) throw new Error(`at most ${MAX_PUBLISHED_ADDRESSES} addresses, got ${addresses.length}`);
  const answers: dnsPacket.Answer[] = [];
  const seen = new Set<string>();
  for (const a of addresses) {
    const text = formatHostPort(a);
    if (seen.has(text)) continue;
    seen.add(text);
    answers.push({ type: 'TXT', name: `${ALKNET_LABEL}.${z32}`, ttl, class: 'IN', data: [`addr=${text}`] });
  }
  const ips = new Set<string>();
  for (const { host } of addresses) {
    const family = isIP(host);
    if (family === 0 || ips.has(host)) continue;
    ips.add(host);
    answers.push({ type: family === 4 ? 'A' : 'AAAA', name: z32, ttl, class: 'IN', data: host });
  }
  const bytes = dnsPacket.encode({ type: 'response', id: 0, flags: dnsPacket.AUTHORITATIVE_ANSWER, answers });
  if (bytes.length > MAX_DNS_PACKET_BYTES) throw new SignedPacketError('too-large', `the node's DNS packet is ${bytes.length} bytes: at most ${MAX_DNS_PACKET_BYTES}`);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Is `name` the key itself or a name under it (case-insensitive, trailing dot ignored)? */
function relativeName(name: string, z32: string): string | null {
  const n = name.toLowerCase().replace(/\.$/, '');
  if (n === z32) return '@';
  return n.endsWith(`.${z32}`) ? n.slice(0, -(z32.length + 1)) : null;
}

export interface NodeRecords {
  /** `addr=` values of the `_alknet` TXT records, in packet order. */
  addresses: HostPort[];
  /** A/AAAA of the key's apex. */
  ips: string[];
}

/** Reads a node's published addresses from a DNS packet signed by `z32`; malformed entries are skipped. */
export function readNodeRecords(dns: Uint8Array, z32: string): NodeRecords {
  const packet = parseDnsPacket(dns);
  const addresses: HostPort[] = [];
  const ips: string[] = [];
  for (const rr of packet.answers ?? []) {
    const rel = relativeName(rr.name, z32);
    if (rel === null) continue;
    if (rr.type === 'TXT' && rel === ALKNET_LABEL) {
      const strings = (Array.isArray(rr.data) ? rr.data : [rr.data]).map((s) => (typeof s === 'string' ? s : Buffer.from(s).toString('utf8')));
      for (const token of strings.join('').split(/[\s;]+/)) {
        if (!token.startsWith('addr=')) continue;
        try {
          addresses.push(parseHostPort(token.slice(5)));
        } catch {
          // not an address: skipped
        }
      }
    } else if ((rr.type === 'A' || rr.type === 'AAAA') && rel === '@' && typeof rr.data === 'string') {
      ips.push(rr.data);
    }
  }
  return { addresses, ips };
}
