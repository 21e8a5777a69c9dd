// [dns] in config.toml: the DNS front end (docs/dns.md). Read by supervisors/config.ts, which turns
// the Error thrown here into its one-line ConfigError; every zone record line is checked here, so a
// typo stops the node at start with the zone and the line named. Pure: no dns-packet.
//
//   [dns]
//   listen = "127.0.0.1:5353"          plain DNS over UDP and TCP (alknet node --dns overrides it)
//   upstreams = ["192.0.2.53:53"]      forward other names there (off when empty)
//   forwardFrom = ["127.0.0.0/8", "::1/128"]   who may use forwarding (default: loopback only)
//   rateLimit = 100                    queries per second per client address (IPv6: per /64); 0 = off
//   rateBurst = 200                    queries at once before the rate applies
//   maxUdpBytes = 1232                 largest UDP answer, whatever EDNS(0) size the client offers
//   negativeTtl = 300                  SOA MINIMUM of the pkarr zones (how long NXDOMAIN is cached)
//   [[dns.zones]]
//   origin = "example.test"
//   ttl = 3600                         for lines without a TTL
//   records = ["@ SOA ns hostmaster 1 3600 600 604800 300", "www 300 A 192.0.2.1"]
//
// The older top-level `dns = "HOST:PORT"` (listen only) is still read.
import net from 'node:net';
import { parseZone, type ZoneText } from './zoneText.ts';

export interface DnsZoneConfig {
  origin: string;
  ttl: number;
  records: string[];
}

export interface DnsConfig {
  /** host:port for plain DNS (UDP and TCP), or null when off. */
  listen: string | null;
  zones: DnsZoneConfig[];
  upstreams: string[];
  forwardFrom: string[];
  rateLimit: number;
  rateBurst: number;
  maxUdpBytes: number;
  negativeTtl: number;
  /** Largest query over TCP/DoT/DoQ/DoH, bytes (default 4096): a longer length prefix closes the connection. */
  maxQueryBytes: number;
  /** A TCP or DoT connection with no query for this long is closed, ms (default 10 s, RFC 7766 6.2.3). */
  tcpIdleMs: number;
  /** Plain TCP connections at once (default 256) and from one address (default 16). */
  maxTcpConnections: number;
  maxTcpConnectionsPerIp: number;
}

export const DEFAULT_DNS_CONFIG: DnsConfig = {
  listen: null,
  zones: [],
  upstreams: [],
  forwardFrom: ['127.0.0.0/8', '::1/128'],
  rateLimit: 100,
  rateBurst: 200,
  maxUdpBytes: 1232,
  negativeTtl: 300,
  maxQueryBytes: 4096,
  tcpIdleMs: 10_000,
  maxTcpConnections: 256,
  maxTcpConnectionsPerIp: 16,
};

const NUMBER_KEYS = ['rateLimit', 'rateBurst', 'maxUdpBytes', 'negativeTtl', 'maxQueryBytes', 'tcpIdleMs', 'maxTcpConnections', 'maxTcpConnectionsPerIp'] as const;

/** host:port or [v6]:port; port 0 picks a free one. */
export function parseDnsListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:@\s[\]]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`DNS listen address "${text.slice(0, 80)}" must be HOST:PORT or [IPv6]:PORT (port 0 picks a free one)`);
  return { host: (m[1] ?? m[2])!, port };
}

export interface Upstream {
  host: string;
  port: number;
}

/** host[:port], [v6]:port or a bare IPv6 address; the port defaults to 53. */
export function parseUpstream(text: string): Upstream {
  if (net.isIPv6(text)) return { host: text, port: 53 };
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+))(?::(\d{1,5}))?$/.exec(text);
  const port = m?.[3] === undefined ? 53 : Number(m[3]);
  if (!m || port < 1 || port > 65535) throw new Error(`upstream "${text.slice(0, 80)}" must be HOST[:PORT] or [IPv6]:PORT`);
  return { host: (m[1] ?? m[2])!, port };
}

/** A CIDR ('127.0.0.0/8', '::1/128', a bare address = one host) as a test of an address. */
export function parseCidr(text: string): (address: string) => boolean {
  const [addr, bitsText] = text.split('/') as [string, string | undefined];
  const family = net.isIP(addr);
  const max = family === 6 ? 128 : 32;
  const bits = bitsText === undefined ? max : Number(bitsText);
  if (family === 0 || !Number.isInteger(bits) || bits < 0 || bits > max || (bitsText !== undefined && !/^\d+$/.test(bitsText))) {
    throw new Error(`"${text.slice(0, 80)}" is not an address or CIDR block`);
  }
  const list = new net.BlockList();
  list.addSubnet(addr, bits, family === 6 ? 'ipv6' : 'ipv4');
  return (address: string) => {
    const host = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
    const kind = net.isIP(host);
    return kind !== 0 && list.check(host, kind === 6 ? 'ipv6' : 'ipv4');
  };
}

/** The parsed zones of a config (each line was checked when the config was read). */
export function configZones(config: DnsConfig): ZoneText[] {
  return config.zones.map((z) => parseZone(z.origin, z.records, z.ttl));
}

/**
 * `raw`: the value of `dns` in config.toml (a string = listen, or the [dns] table). Throws an Error
 * whose message names the key (without the file; the caller adds it).
 */
export function readDnsConfig(raw: unknown): DnsConfig {
  const config = structuredClone(DEFAULT_DNS_CONFIG);
  if (raw === undefined) return config;
  if (typeof raw === 'string') {
    parseDnsListen(raw);
    config.listen = raw;
    return config;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('"dns" must be HOST:PORT or a [dns] table');
  const table = raw as Record<string, unknown>;
  const known = new Set(['listen', 'zones', 'upstreams', 'forwardFrom', ...NUMBER_KEYS]);
  for (const key of Object.keys(table)) if (!known.has(key)) throw new Error(`unknown key "dns.${key}"`);
  const strings = (key: string, v: unknown): string[] => {
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new Error(`"dns.${key}" must be an array of strings`);
    return v as string[];
  };
  if (table.listen !== undefined) {
    if (typeof table.listen !== 'string') throw new Error('"dns.listen" must be a string');
    parseDnsListen(table.listen);
    config.listen = table.listen;
  }
  for (const key of NUMBER_KEYS) {
    const v = table[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new Error(`"dns.${key}" must be a whole number ≥ 0`);
    config[key] = v;
  }
  if (config.maxUdpBytes < 512 || config.maxUdpBytes > 65_535) throw new Error('"dns.maxUdpBytes" must be from 512 to 65535');
  if (config.maxQueryBytes < 12 || config.maxQueryBytes > 65_535) throw new Error('"dns.maxQueryBytes" must be from 12 to 65535');
  if (table.upstreams !== undefined) {
    config.upstreams = strings('upstreams', table.upstreams);
    config.upstreams.forEach(parseUpstream);
  }
  if (table.forwardFrom !== undefined) {
    config.forwardFrom = strings('forwardFrom', table.forwardFrom);
    config.forwardFrom.forEach(parseCidr);
  }
  if (table.zones !== undefined) {
    if (!Array.isArray(table.zones)) throw new Error('"dns.zones" must be an array of tables ([[dns.zones]])');
    config.zones = table.zones.map((z: unknown, i: number) => {
      const where = `dns.zones[${i}]`;
      if (typeof z !== 'object' || z === null || Array.isArray(z)) throw new Error(`"${where}" must be a table`);
      const zone = z as Record<string, unknown>;
      for (const key of Object.keys(zone)) if (!['origin', 'ttl', 'records'].includes(key)) throw new Error(`unknown key "${where}.${key}"`);
      if (typeof zone.origin !== 'string') throw new Error(`"${where}.origin" must be a string (the zone's name)`);
      const ttl = zone.ttl ?? 3600;
      if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 0 || ttl > 2_147_483_647) throw new Error(`"${where}.ttl" must be a whole number of seconds`);
      const records = zone.records === undefined ? [] : strings(`zones[${i}].records`, zone.records);
      const out = { origin: zone.origin, ttl, records };
      try {
        parseZone(out.origin, out.records, out.ttl);
      } catch (err) {
        throw new Error(`${where} (${zone.origin.slice(0, 60)}): ${(err as Error).message}`);
      }
      return out;
    });
  }
  return config;
}
