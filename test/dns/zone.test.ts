// Zones: config.toml's record lines (zoneText.ts), the [dns] table (config.ts, read through
// supervisors/config.ts as the node reads it), lookups in a zone (exact, CNAME chains, wildcards,
// NODATA, NXDOMAIN with the SOA and its negative TTL, empty non-terminals) and the zone of a signed
// pkarr packet (names relative to the key or ending in it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import dnsPacket from 'dns-packet';
import { parseZone, parseZoneLine } from '../../protocols/dns/zoneText.ts';
import { Zone } from '../../protocols/dns/zone.ts';
import { pkarrZone, pkarrKeyOf } from '../../protocols/dns/pkarrZone.ts';
import { readDnsConfig, DEFAULT_DNS_CONFIG } from '../../protocols/dns/config.ts';
import { loadConfig, ConfigError } from '../../supervisors/config.ts';
import { RCODE, TYPE, type Rr } from '../../protocols/dns/wire.ts';

const KEY = 'ybndrfg8ejkmcpqxot1uwisza345h769ybndrfg8ejkmcpqxot1u';

test('record lines: names relative, @ and absolute; TTL and class optional in either order; each type', () => {
  const o = 'example.test';
  assert.deepEqual(parseZoneLine('www 300 IN A 192.0.2.1', o, 3600), { name: 'www.example.test', type: 'A', ttl: 300, data: '192.0.2.1' });
  assert.deepEqual(parseZoneLine('@ IN 60 AAAA 2001:db8::1', o, 3600), { name: 'example.test', type: 'AAAA', ttl: 60, data: '2001:db8::1' });
  assert.deepEqual(parseZoneLine('Mail.Example.Test. MX 10 mx.other.', o, 3600), { name: 'mail.example.test', type: 'MX', ttl: 3600, data: { preference: 10, exchange: 'mx.other' } });
  assert.deepEqual(parseZoneLine('_sip._tcp SRV 1 2 5060 sip', o, 5).data, { priority: 1, weight: 2, port: 5060, target: 'sip.example.test' });
  const txt = parseZoneLine('t TXT "a \\"quoted\\" \\065" bare ; comment', o, 5).data as Buffer[];
  assert.deepEqual(txt.map((b) => b.toString('latin1')), ['a "quoted" A', 'bare']);
  assert.deepEqual(parseZoneLine('@ CAA 0 issue "letsencrypt.org"', o, 5).data, { flags: 0, tag: 'issue', value: 'letsencrypt.org' });
  assert.equal((parseZoneLine('@ SOA ns hostmaster 7 1 2 3 4', o, 5).data as { serial: number }).serial, 7);
});

test('record lines: every mistake is one line naming it', () => {
  const o = 'example.test';
  const cases: [string, RegExp][] = [
    ['www A 192.0.2', /not an IPv4 address/],
    ['www AAAA 192.0.2.1', /not an IPv6 address/],
    ['www HINFO a b', /record type "HINFO" is not one of/],
    ['www', /NAME \[TTL\] \[IN\] TYPE DATA/],
    ['www MX ten mx', /MX preference must be a whole number/],
    ['www SRV 1 2 70000 t', /SRV port/],
    ['www TXT "unterminated', /unterminated quoted string/],
    [`www TXT "${'x'.repeat(256)}"`, /at most 255 bytes/],
    ['other.test. A 192.0.2.1', /not in the zone example.test/],
    [`${'a'.repeat(64)} A 192.0.2.1`, /label over 63/],
    ['www SOA a b 1 2 3 4 5', /SOA belongs at the zone origin/],
    ['www CNAME a\\.b', /plain host names/],
  ];
  for (const [line, message] of cases) assert.throws(() => parseZoneLine(line, o, 60), message, line);
  assert.throws(() => parseZone('example.test', ['a CNAME b', 'a A 192.0.2.1'], 60), /CNAME and other records/);
  assert.throws(() => parseZone('example.test', ['www A 1.2.3.4', 'x A nope'], 60), /record 2 \("x A nope"\): "nope" is not an IPv4 address/);
});

test('[dns] in config.toml: defaults, the old `dns = "HOST:PORT"`, the table, and one-line errors naming the key', () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-dnsconf-'));
  try {
    const write = (text: string) => fs.writeFileSync(path.join(home, 'config.toml'), text);
    assert.deepEqual(loadConfig(home).dns, DEFAULT_DNS_CONFIG);
    write('dns = "127.0.0.1:5353"\n');
    assert.equal(loadConfig(home).dns.listen, '127.0.0.1:5353');
    write([
      '[dns]',
      'listen = "[::1]:0"',
      'upstreams = ["192.0.2.53", "[2001:db8::53]:5353"]',
      'rateLimit = 0',
      '[[dns.zones]]',
      'origin = "example.test"',
      'ttl = 60',
      'records = ["www A 192.0.2.1", "@ MX 10 mail"]',
    ].join('\n'));
    const c = loadConfig(home).dns;
    assert.equal(c.listen, '[::1]:0');
    assert.deepEqual(c.upstreams, ['192.0.2.53', '[2001:db8::53]:5353']);
    assert.equal(c.rateLimit, 0);
    assert.deepEqual(c.zones, [{ origin: 'example.test', ttl: 60, records: ['www A 192.0.2.1', '@ MX 10 mail'] }]);
    const bad: [string, RegExp][] = [
      ['dns = 5', /"dns" must be HOST:PORT or a \[dns\] table/],
      ['dns = "nowhere"', /DNS listen address "nowhere" must be HOST:PORT/],
      ['[dns]\nlisten = "127.0.0.1:99999"', /must be HOST:PORT/],
      ['[dns]\nrateLimit = -1', /"dns.rateLimit" must be a whole number/],
      ['[dns]\nmaxUdpBytes = 100', /"dns.maxUdpBytes" must be from 512/],
      ['[dns]\ncolour = "red"', /unknown key "dns.colour"/],
      ['[dns]\nupstreams = ["a:b:c:d"]', /upstream "a:b:c:d"/],
      ['[dns]\nforwardFrom = ["10.0.0.0/33"]', /not an address or CIDR/],
      ['[[dns.zones]]\nrecords = []', /"dns.zones\[0\].origin" must be a string/],
      ['[[dns.zones]]\norigin = "example.test"\nrecords = ["www A 1.2.3"]', /dns.zones\[0\] \(example.test\): record 1 \("www A 1.2.3"\): "1.2.3" is not an IPv4 address/],
    ];
    for (const [text, message] of bad) {
      write(text);
      assert.throws(() => loadConfig(home), (err: unknown) => err instanceof ConfigError && message.test(err.message) && !err.message.includes('\n'), text);
    }
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
  assert.throws(() => readDnsConfig({ zones: 'x' }), /array of tables/);
});

const zone = Zone.fromText(
  parseZone('example.test', [
    'www 300 A 192.0.2.1',
    'www 300 A 192.0.2.2',
    'alias CNAME www',
    'chain CNAME alias',
    'out CNAME www.elsewhere.',
    'dangling CNAME nothing',
    '*.wild TXT "wildcard"',
    'exact.wild TXT "exact"',
    'a.b.c A 192.0.2.9',
    '@ SOA ns hostmaster 5 3600 600 86400 120',
  ], 3600),
);

const names = (rrs: Rr[]) => rrs.map((r) => `${r.name} ${r.type}`);

test('zone lookups: exact, several records, NODATA and NXDOMAIN with the SOA at the negative TTL', () => {
  const www = zone.lookup('www.example.test', TYPE.A);
  assert.equal(www.rcode, RCODE.NOERROR);
  assert.deepEqual(www.answers.map((r) => r.data), ['192.0.2.1', '192.0.2.2']);
  const nodata = zone.lookup('www.example.test', TYPE.AAAA);
  assert.equal(nodata.rcode, RCODE.NOERROR);
  assert.deepEqual(nodata.answers, []);
  assert.deepEqual(names(nodata.authority), [`example.test ${TYPE.SOA}`]);
  assert.equal(nodata.authority[0]!.ttl, 120, 'min(SOA TTL, MINIMUM)');
  const nx = zone.lookup('nope.example.test', TYPE.A);
  assert.equal(nx.rcode, RCODE.NXDOMAIN);
  assert.deepEqual(names(nx.authority), [`example.test ${TYPE.SOA}`]);
  // An empty non-terminal exists: NODATA, not NXDOMAIN.
  assert.equal(zone.lookup('b.c.example.test', TYPE.A).rcode, RCODE.NOERROR);
  assert.equal(zone.lookup('c.example.test', TYPE.A).rcode, RCODE.NOERROR);
  assert.equal(zone.lookup('x.c.example.test', TYPE.A).rcode, RCODE.NXDOMAIN);
  // The SOA itself, and ANY at the apex.
  assert.deepEqual(names(zone.lookup('example.test', TYPE.SOA).answers), [`example.test ${TYPE.SOA}`]);
  assert.ok(zone.lookup('example.test', TYPE.ANY).answers.some((r) => r.type === TYPE.SOA));
});

test('zone lookups: CNAME chains are followed inside the zone; the last name decides the rcode', () => {
  assert.deepEqual(names(zone.lookup('chain.example.test', TYPE.A).answers), [
    `chain.example.test ${TYPE.CNAME}`,
    `alias.example.test ${TYPE.CNAME}`,
    `www.example.test ${TYPE.A}`,
    `www.example.test ${TYPE.A}`,
  ]);
  assert.deepEqual(names(zone.lookup('alias.example.test', TYPE.CNAME).answers), [`alias.example.test ${TYPE.CNAME}`]);
  const out = zone.lookup('out.example.test', TYPE.A);
  assert.equal(out.rcode, RCODE.NOERROR);
  assert.deepEqual(names(out.answers), [`out.example.test ${TYPE.CNAME}`]);
  const dangling = zone.lookup('dangling.example.test', TYPE.A);
  assert.equal(dangling.rcode, RCODE.NXDOMAIN);
  assert.equal(dangling.answers.length, 1);
});

test('zone lookups: a wildcard answers for names that do not exist, under the asked name; not for those that do', () => {
  const w = zone.lookup('anything.wild.example.test', TYPE.TXT);
  assert.deepEqual(names(w.answers), [`anything.wild.example.test ${TYPE.TXT}`]);
  assert.equal((w.answers[0]!.data as Buffer[])[0]!.toString(), 'wildcard');
  assert.equal((zone.lookup('exact.wild.example.test', TYPE.TXT).answers[0]!.data as Buffer[])[0]!.toString(), 'exact');
  assert.equal(zone.lookup('exact.wild.example.test', TYPE.A).rcode, RCODE.NOERROR, 'exact exists: NODATA');
  assert.equal(zone.lookup('deep.er.wild.example.test', TYPE.TXT).answers.length, 1, 'the closest encloser is wild.example.test');
  assert.equal(zone.lookup('wild.example.test', TYPE.TXT).answers.length, 0);
});

function packetOf(answers: dnsPacket.Answer[]): Uint8Array {
  const dns = dnsPacket.encode({ type: 'response', id: 0, flags: dnsPacket.AUTHORITATIVE_ANSWER, answers });
  const signed = Buffer.alloc(72 + dns.length);
  signed.writeBigUInt64BE(1_700_000_000_000_000n, 64);
  dns.copy(signed, 72);
  return signed;
}

test('a pkarr packet: names relative to the key, the key itself, or ending in it; SOA serial from its timestamp', () => {
  const z = pkarrZone(KEY, packetOf([
    { type: 'A', name: '@', ttl: 30, data: '192.0.2.1' },
    { type: 'TXT', name: '_alknet', ttl: 30, data: ['addr=192.0.2.1:4433'] },
    { type: 'AAAA', name: `v6.${KEY}`, ttl: 30, data: '2001:db8::1' },
    { type: 'A', name: KEY.toUpperCase(), ttl: 40, data: '192.0.2.2' },
    { type: 'TXT', name: '*.any', ttl: 30, data: 'w' },
  ]), 300);
  assert.deepEqual(z.lookup(KEY, TYPE.A).answers.map((r) => r.data), ['192.0.2.1', '192.0.2.2']);
  assert.equal(z.lookup(`_alknet.${KEY}`, TYPE.TXT).answers.length, 1);
  assert.equal(z.lookup(`v6.${KEY}`, TYPE.AAAA).answers[0]!.data, '2001:db8::1');
  assert.equal(z.lookup(`x.any.${KEY}`, TYPE.TXT).answers.length, 1);
  const nx = z.lookup(`nope.${KEY}`, TYPE.A);
  assert.equal(nx.rcode, RCODE.NXDOMAIN);
  assert.equal((nx.authority[0]!.data as { serial: number }).serial, 1_700_000_000);
  assert.equal(pkarrKeyOf(`a.b.${KEY}`), KEY);
  assert.equal(pkarrKeyOf('a.example.test'), null);
});

test('a pkarr packet that does not decode is an empty zone (every name NXDOMAIN), never a throw', () => {
  const junk = Buffer.concat([Buffer.alloc(72), Buffer.from([0, 0, 0x84, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0xc0, 12])]);
  const z = pkarrZone(KEY, junk, 300);
  assert.equal(z.lookup(KEY, TYPE.A).rcode, RCODE.NOERROR, 'the key itself exists (its SOA)');
  assert.equal(z.lookup(`a.${KEY}`, TYPE.A).rcode, RCODE.NXDOMAIN);
});
