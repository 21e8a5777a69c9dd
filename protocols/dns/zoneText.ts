// Zone records as config.toml writes them: one zone-file line per record (RFC 1035 5.1, the subset
// a small zone needs), so the same lines can go into any zone file (bench/dns.ts gives them to Knot).
//
//   NAME [TTL] [IN] TYPE RDATA...        NAME: '@' (the origin), a name relative to the origin, or an
//                                        absolute name ending in '.'; TTL defaults to the zone's ttl
//   www 300 A 192.0.2.1                  A, AAAA, CNAME, NS, PTR, MX, SRV, TXT, CAA, SOA
//   @ MX 10 mail                         TXT takes one or more "quoted strings" (\" \\ \DDD) or bare words
//   _sip._tcp SRV 10 5 5060 sip          SOA: MNAME RNAME SERIAL REFRESH RETRY EXPIRE MINIMUM (one line)
//
// Pure (no dns-packet): the config reader checks every line with it and names the bad one.
import { isIP } from 'node:net';
import { canonicalName, isUnder, nameLabels, nameKey } from './names.ts';

/** Record types a zone line may have, with their numbers. */
export const ZONE_TYPES = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, CAA: 257 } as const;
export type ZoneType = keyof typeof ZONE_TYPES;

/** A record read from a line: owner key, type, TTL and data in dns-packet's shape for the type. */
export interface ZoneRecord {
  name: string;
  type: ZoneType;
  ttl: number;
  data: unknown;
}

const MAX_TTL = 2_147_483_647; // RFC 2181 8
const MAX_LINE = 4096;

/** Splits a line into words; "quoted strings" are one word each (kept with a marker), ';' starts a comment. */
function words(line: string): { text: string; quoted: boolean }[] {
  const out: { text: string; quoted: boolean }[] = [];
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (c === ' ' || c === '\t') {
      i++;
      continue;
    }
    if (c === ';') break;
    if (c === '"') {
      let text = '';
      i++;
      for (;;) {
        if (i >= line.length) throw new Error('unterminated quoted string');
        const d = line[i]!;
        if (d === '"') {
          i++;
          break;
        }
        if (d === '\\') {
          const digits = /^\d{3}/.exec(line.slice(i + 1, i + 4));
          if (digits) {
            if (Number(digits[0]) > 255) throw new Error(`bad escape \\${digits[0]}`);
            text += String.fromCharCode(Number(digits[0]));
            i += 4;
          } else {
            if (i + 1 >= line.length) throw new Error('unterminated quoted string');
            text += line[i + 1];
            i += 2;
          }
          continue;
        }
        text += d;
        i++;
      }
      out.push({ text, quoted: true });
      continue;
    }
    let text = '';
    while (i < line.length && line[i] !== ' ' && line[i] !== '\t' && line[i] !== ';' && line[i] !== '"') text += line[i++];
    out.push({ text, quoted: false });
  }
  return out;
}

/** A name on a line: '@', relative to the origin, or absolute ('...'). Returns its key. */
function domainName(text: string, origin: string): string {
  if (text === '@') return origin;
  if (text === '.') return '';
  if (text.endsWith('.') && !text.endsWith('\\.')) return canonicalName(text);
  return canonicalName(origin === '' ? text : `${text}.${origin}`);
}

/** A host name in presentation form for dns-packet's data (dns-packet splits on '.', so no escapes). */
function hostName(text: string, origin: string): string {
  const key = domainName(text, origin);
  if (key.includes('\\')) throw new Error(`"${text.slice(0, 80)}": names in record data must be plain host names`);
  return key === '' ? '.' : key;
}

function integer(text: string | undefined, what: string, max: number): number {
  if (text === undefined || !/^\d+$/.test(text) || Number(text) > max) throw new Error(`${what} must be a whole number from 0 to ${max}`);
  return Number(text);
}

/** Reads one record line of the zone `origin` (a key); throws a one-line Error naming what is wrong. */
export function parseZoneLine(line: string, origin: string, defaultTtl: number): ZoneRecord {
  if (line.length > MAX_LINE) throw new Error(`record line over ${MAX_LINE} characters`);
  const w = words(line);
  if (w.length < 2) throw new Error('a record is NAME [TTL] [IN] TYPE DATA');
  const name = domainName(w[0]!.text, origin);
  if (!isUnder(name, origin)) throw new Error(`"${w[0]!.text}" is not in the zone ${origin || '.'}`);
  let i = 1;
  let ttl = defaultTtl;
  for (let n = 0; n < 2 && i < w.length; n++) {
    const word = w[i]!.text;
    if (/^\d+$/.test(word)) {
      ttl = integer(word, 'TTL', MAX_TTL);
      i++;
    } else if (word.toUpperCase() === 'IN') i++;
  }
  const typeText = (w[i++]?.text ?? '').toUpperCase();
  if (!(typeText in ZONE_TYPES)) throw new Error(`record type "${typeText.slice(0, 20)}" is not one of ${Object.keys(ZONE_TYPES).join(', ')}`);
  const type = typeText as ZoneType;
  const args = w.slice(i);
  const plain = (n: number): string[] => {
    if (args.length !== n) throw new Error(`${type} takes ${n} value${n === 1 ? '' : 's'}, got ${args.length}`);
    return args.map((a) => a.text);
  };
  let data: unknown;
  switch (type) {
    case 'A': {
      const [ip] = plain(1);
      if (isIP(ip!) !== 4) throw new Error(`"${ip!.slice(0, 60)}" is not an IPv4 address`);
      data = ip;
      break;
    }
    case 'AAAA': {
      const [ip] = plain(1);
      if (isIP(ip!) !== 6) throw new Error(`"${ip!.slice(0, 60)}" is not an IPv6 address`);
      data = ip;
      break;
    }
    case 'CNAME':
    case 'NS':
    case 'PTR':
      data = hostName(plain(1)[0]!, origin);
      break;
    case 'MX': {
      const [pref, exchange] = plain(2);
      data = { preference: integer(pref, 'MX preference', 65535), exchange: hostName(exchange!, origin) };
      break;
    }
    case 'SRV': {
      const [priority, weight, port, target] = plain(4);
      data = {
        priority: integer(priority, 'SRV priority', 65535),
        weight: integer(weight, 'SRV weight', 65535),
        port: integer(port, 'SRV port', 65535),
        target: hostName(target!, origin),
      };
      break;
    }
    case 'TXT': {
      if (args.length === 0) throw new Error('TXT needs at least one string');
      data = args.map((a) => {
        const bytes = Buffer.from(a.text, a.quoted ? 'latin1' : 'utf8');
        if (bytes.length > 255) throw new Error('a TXT string is at most 255 bytes (split it into several "strings")');
        return bytes;
      });
      break;
    }
    case 'CAA': {
      if (args.length !== 3) throw new Error('CAA takes FLAGS TAG "VALUE"');
      const flags = integer(args[0]!.text, 'CAA flags', 255);
      const tag = args[1]!.text;
      if (!/^[A-Za-z0-9]{1,15}$/.test(tag)) throw new Error(`CAA tag "${tag.slice(0, 20)}" must be 1-15 letters or digits`);
      data = { flags, tag, value: args[2]!.text };
      break;
    }
    case 'SOA': {
      const [mname, rname, serial, refresh, retry, expire, minimum] = plain(7);
      if (name !== origin) throw new Error('SOA belongs at the zone origin (@)');
      data = {
        mname: hostName(mname!, origin),
        rname: hostName(rname!, origin),
        serial: integer(serial, 'SOA serial', 0xffffffff),
        refresh: integer(refresh, 'SOA refresh', MAX_TTL),
        retry: integer(retry, 'SOA retry', MAX_TTL),
        expire: integer(expire, 'SOA expire', MAX_TTL),
        minimum: integer(minimum, 'SOA minimum', MAX_TTL),
      };
      break;
    }
  }
  return { name, type, ttl, data };
}

export interface ZoneText {
  origin: string;
  ttl: number;
  records: ZoneRecord[];
}

/** Reads a zone's lines; the error names the line (1-based) and what is wrong with it. */
export function parseZone(originText: string, lines: readonly string[], ttl: number): ZoneText {
  const origin = canonicalName(originText);
  if (nameKey(nameLabels(origin)) !== origin) throw new Error(`zone origin "${originText.slice(0, 80)}" is not a plain name`);
  const records: ZoneRecord[] = [];
  lines.forEach((line, i) => {
    try {
      records.push(parseZoneLine(line, origin, ttl));
    } catch (err) {
      throw new Error(`record ${i + 1} ("${line.slice(0, 60)}"): ${(err as Error).message}`);
    }
  });
  const cnames = new Set(records.filter((r) => r.type === 'CNAME').map((r) => r.name));
  for (const r of records) {
    if (cnames.has(r.name) && r.type !== 'CNAME') throw new Error(`"${r.name}" has a CNAME and other records (RFC 1034 3.6.2)`);
  }
  if (records.filter((r) => r.type === 'SOA').length > 1) throw new Error('a zone has at most one SOA record');
  return { origin, ttl, records };
}
