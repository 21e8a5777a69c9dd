// The answering core (protocols/dns/core.ts) and the plain UDP/TCP server (server.ts) on real
// sockets on 127.0.0.1: EDNS(0) sizes and TC, the pkarr lookup (here a plain function standing in for
// the bus request; the node tests go through the pkarr service), REFUSED/SERVFAIL, forwarding to a
// real upstream (a second server), the rate limiter (its clock injected, so no timing is asserted),
// and the TCP framing limits: oversize lengths close the connection, pipelined queries are answered.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';
import { DnsCore, type DnsClient } from '../../protocols/dns/core.ts';
import { Zone } from '../../protocols/dns/zone.ts';
import { parseZone } from '../../protocols/dns/zoneText.ts';
import { Forwarder } from '../../protocols/dns/forward.ts';
import { RateLimiter, rateKey } from '../../lib/rateLimit.ts';
import { startPlainDns, type PlainDnsServer } from '../../protocols/dns/server.ts';
import { buildQuery, resolveDns, readFramed } from '../../protocols/dns/client.ts';
import { frame } from '../../protocols/dns/stream.ts';

const KEY = 'ybndrfg8ejkmcpqxot1uwisza345h769ybndrfg8ejkmcpqxot1u';
const UDP: DnsClient = { address: '127.0.0.1', transport: 'udp' };
const TCP: DnsClient = { address: '127.0.0.1', transport: 'tcp' };

const bigTxt = Array.from({ length: 8 }, (_, i) => `"${String(i).repeat(200)}"`).join(' ');
const zone = Zone.fromText(parseZone('example.test', ['www 300 A 192.0.2.1', `big TXT ${bigTxt}`, `big TXT ${bigTxt} "2"`], 3600));

function signed(answers: dnsPacket.Answer[]): Uint8Array {
  const dns = dnsPacket.encode({ type: 'response', id: 0, answers });
  const out = Buffer.alloc(72 + dns.length);
  out.writeBigUInt64BE(1_700_000_000_000_000n, 64);
  dns.copy(out, 72);
  return out;
}

let lookups = 0;
const core = new DnsCore({
  zones: [zone],
  pkarr: async (key) => {
    lookups++;
    if (key === KEY) return signed([{ type: 'A', name: '@', ttl: 60, data: '192.0.2.77' }]);
    if (key.startsWith('ybndr')) throw new Error('store unavailable');
    return null;
  },
});

interface Record_ {
  name: string;
  type: string;
  ttl: number;
  data: unknown;
  udpPayloadSize?: number;
}
interface Message {
  id: number;
  flags: number;
  rcode: string;
  questions: { name: string; type: string }[];
  answers: Record_[];
  authorities: Record_[];
  additionals: Record_[];
}
const decode = (bytes: Uint8Array | null): Message => {
  assert.ok(bytes, 'an answer');
  return dnsPacket.decode(Buffer.from(bytes)) as unknown as Message;
};
const query = (name: string, type: string, udpSize = 1232) => buildQuery({ name, type, udpSize });

test('an answer over UDP fits the client EDNS size; too big: TC set, records left out; over TCP: everything', async () => {
  const small = decode(await core.answer(query('big.example.test', 'TXT', 1232), UDP));
  assert.ok((small.flags! & dnsPacket.TRUNCATED_RESPONSE) !== 0, 'TC over UDP');
  assert.equal(small.answers!.length, 0);
  assert.equal(small.questions![0]!.name, 'big.example.test');
  const noEdns = await core.answer(query('big.example.test', 'TXT', 0), UDP);
  assert.ok(noEdns!.length <= 512);
  // 4096 offered, but our own cap ([dns] maxUdpBytes, 1232) decides; with a cap of 4096 it fits.
  const capped = decode(await core.answer(query('big.example.test', 'TXT', 4096), UDP));
  assert.ok((capped.flags! & dnsPacket.TRUNCATED_RESPONSE) !== 0);
  const roomy = new DnsCore({ zones: [zone], maxUdpBytes: 4096 });
  const whole = await roomy.answer(query('big.example.test', 'TXT', 4096), UDP);
  assert.equal(decode(whole).flags! & dnsPacket.TRUNCATED_RESPONSE, 0);
  assert.equal(decode(whole).answers!.length, 2);
  assert.ok(whole!.length > 1232 && whole!.length <= 4096);
});

test('TC then TCP: the same question over TCP gets every record', async () => {
  const full = decode(await core.answer(query('big.example.test', 'TXT'), TCP));
  assert.equal(full.flags! & dnsPacket.TRUNCATED_RESPONSE, 0);
  assert.equal(full.answers!.length, 2);
  const small = decode(await core.answer(query('www.example.test', 'A', 512), UDP));
  assert.equal(small.answers!.length, 1);
  assert.equal(small.flags! & dnsPacket.TRUNCATED_RESPONSE, 0);
  const opt = small.additionals.find((a) => a.type === 'OPT')!;
  assert.equal(opt.udpPayloadSize, 1232, 'we advertise our own UDP size');
});

test('pkarr names: records of the stored packet; no packet: NXDOMAIN with the key SOA; a failing store: SERVFAIL', async () => {
  const found = decode(await core.answer(query(KEY, 'A'), UDP));
  assert.equal(found.rcode, 'NOERROR');
  assert.ok((found.flags! & dnsPacket.AUTHORITATIVE_ANSWER) !== 0);
  assert.equal(found.answers![0]!.data, '192.0.2.77');
  const other = 'cbndrfg8ejkmcpqxot1uwisza345h769ybndrfg8ejkmcpqxot1u';
  const missing = decode(await core.answer(query(`_alknet.${other}`, 'TXT'), UDP));
  assert.equal(missing.rcode, 'NXDOMAIN');
  assert.equal(missing.authorities![0]!.type, 'SOA');
  assert.equal(missing.authorities![0]!.name, other);
  const failing = decode(await core.answer(query('ybndrfg8ejkmcpqxot1uwisza345h769ybndrfg8ejkmcpqxot1y', 'A'), UDP));
  assert.equal(failing.rcode, 'SERVFAIL');
});

test('names we hold no zone for: REFUSED (no recursion offered); other classes and zone transfers: REFUSED', async () => {
  const before = lookups;
  const r = decode(await core.answer(query('example.org', 'A'), UDP));
  assert.equal(r.rcode, 'REFUSED');
  assert.equal(r.flags! & dnsPacket.RECURSION_AVAILABLE, 0);
  assert.equal(lookups, before, 'no pkarr lookup for a name that is not a key');
  const chaos = dnsPacket.encode({ type: 'query', id: 9, questions: [{ name: 'version.bind', type: 'TXT', class: 'CH' }] });
  assert.equal(decode(await core.answer(chaos, UDP)).rcode, 'REFUSED');
  assert.equal(decode(await core.answer(query('example.test', 'AXFR'), TCP)).rcode, 'REFUSED');
});

test('the rate limiter: a bucket per address (IPv6 per /64), refilled at the rate, bounded table', () => {
  let now = 0;
  const limiter = new RateLimiter({ perSecond: 10, burst: 3, maxEntries: 4, now: () => now });
  assert.deepEqual([1, 2, 3, 4].map(() => limiter.take('192.0.2.1')), [true, true, true, false]);
  assert.equal(limiter.take('192.0.2.2'), true, 'another address has its own bucket');
  now += 100; // one token back
  assert.deepEqual([limiter.take('192.0.2.1'), limiter.take('192.0.2.1')], [true, false]);
  assert.equal(rateKey('2001:db8:1:2:aaaa::1'), rateKey('2001:db8:1:2:bbbb::9'));
  assert.notEqual(rateKey('2001:db8:1:2::1'), rateKey('2001:db8:1:3::1'));
  assert.equal(rateKey('::ffff:192.0.2.1'), '192.0.2.1');
  for (let i = 0; i < 100; i++) limiter.take(`198.51.100.${i}`);
  assert.equal(limiter.size, 4);
  assert.equal(limiter.limited, 2);
});

test('over its rate a client is dropped over UDP and answered REFUSED over a stream', async () => {
  let now = 0;
  const limited = new DnsCore({ zones: [zone], limiter: new RateLimiter({ perSecond: 1, burst: 2, now: () => now }) });
  const q = query('www.example.test', 'A');
  assert.ok(await limited.answer(q, UDP));
  assert.ok(await limited.answer(q, UDP));
  assert.equal(await limited.answer(q, UDP), null);
  assert.equal(decode(await limited.answer(q, TCP)).rcode, 'REFUSED');
  assert.ok(await limited.answer(q, { address: '127.0.0.2', transport: 'udp' }));
  now += 1000;
  assert.equal(decode(await limited.answer(q, UDP)).rcode, 'NOERROR');
  assert.equal(limited.stats.limited, 2);
});

let upstream: PlainDnsServer;
before(async () => {
  const upstreamCore = new DnsCore({ zones: [Zone.fromText(parseZone('upstream.test', ['www 60 A 198.51.100.1', `big TXT ${bigTxt}`, `big TXT ${bigTxt} "2"`], 60))] });
  upstream = await startPlainDns({ host: '127.0.0.1', port: 0, core: upstreamCore, maxQueryBytes: 4096, tcpIdleMs: 5000, maxTcpConnections: 16, maxTcpConnectionsPerIp: 16 });
});
after(async () => upstream?.close());

test('forwarding: other names go to the upstream for allowed clients with RD; a big answer is TC to a UDP client and whole over TCP', async () => {
  const forwarder = new Forwarder([{ host: '127.0.0.1', port: upstream.port }], { timeoutMs: 2000 });
  const forwarding = new DnsCore({ zones: [zone], forwarder, forwardFrom: (a) => a === '127.0.0.1' });
  try {
    const r = decode(await forwarding.answer(query('www.upstream.test', 'A'), UDP));
    assert.equal(r.rcode, 'NOERROR');
    assert.equal(r.answers![0]!.data, '198.51.100.1');
    assert.ok((r.flags! & dnsPacket.RECURSION_AVAILABLE) !== 0, 'RA for a client that may forward');
    const q = query('www.upstream.test', 'A');
    assert.equal(decode(await forwarding.answer(q, UDP)).id, q.readUInt16BE(0), 'the client id, not ours');
    const truncated = decode(await forwarding.answer(query('big.upstream.test', 'TXT', 512), UDP));
    assert.ok((truncated.flags! & dnsPacket.TRUNCATED_RESPONSE) !== 0);
    const whole = decode(await forwarding.answer(query('big.upstream.test', 'TXT'), TCP));
    assert.equal(whole.answers!.length, 2, 'asked again over TCP upstream');
    // Not for another client, nor without RD; our own zones never go upstream.
    assert.equal(decode(await forwarding.answer(query('www.upstream.test', 'A'), { address: '192.0.2.9', transport: 'udp' })).rcode, 'REFUSED');
    const noRd = buildQuery({ name: 'www.upstream.test', type: 'A', recursion: false });
    assert.equal(decode(await forwarding.answer(noRd, UDP)).rcode, 'REFUSED');
    assert.equal(decode(await forwarding.answer(query('nope.example.test', 'A'), UDP)).rcode, 'NXDOMAIN');
    assert.equal(forwarding.stats.forwarded, 4);
  } finally {
    forwarding.close();
  }
});

test('forwarding: an upstream that never answers gives SERVFAIL after its timeout', async () => {
  const silent = dgram.createSocket('udp4');
  await new Promise<void>((r) => silent.bind(0, '127.0.0.1', r));
  const forwarding = new DnsCore({ forwarder: new Forwarder([{ host: '127.0.0.1', port: silent.address().port }], { timeoutMs: 200 }), forwardFrom: () => true });
  try {
    assert.equal(decode(await forwarding.answer(query('www.upstream.test', 'A'), UDP)).rcode, 'SERVFAIL');
  } finally {
    forwarding.close();
    silent.close();
  }
});

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

const closed = (s: net.Socket) => new Promise<void>((resolve) => (s.destroyed ? resolve() : s.once('close', () => resolve())));

test('plain TCP: pipelined queries on one connection are all answered, each with its id', async () => {
  const s = await connect(upstream.port);
  try {
    const queries = Array.from({ length: 50 }, (_, i) => buildQuery({ name: 'www.upstream.test', type: 'A', id: i + 1 }));
    s.write(Buffer.concat(queries.map((q) => frame(q))));
    const ids = new Set<number>();
    let buffered = Buffer.alloc(0);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${ids.size} answers`)), 10_000);
      s.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
          const msg = buffered.subarray(2, 2 + buffered.readUInt16BE(0));
          ids.add(msg.readUInt16BE(0));
          buffered = buffered.subarray(2 + msg.length);
        }
        if (ids.size === 50) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    assert.deepEqual([...ids].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i + 1));
  } finally {
    s.destroy();
  }
});

test('plain TCP: a length prefix over the limit, or 0, closes the connection without reading on; the server keeps answering', async () => {
  for (const prefix of [Buffer.from([0xff, 0xff]), Buffer.from([0x10, 0x01]), Buffer.from([0, 0])]) {
    const s = await connect(upstream.port);
    s.on('error', () => {});
    s.write(Buffer.concat([prefix, Buffer.alloc(100)]));
    await closed(s);
  }
  // A cut query on TCP waits (for the rest) and the client gives up; a response-shaped message closes.
  const s = await connect(upstream.port);
  s.on('error', () => {});
  const response = Buffer.from(buildQuery({ name: 'x.test', type: 'A' }));
  response[2]! |= 0x80;
  s.write(frame(response));
  await closed(s);
  const r = await resolveDns({ host: '127.0.0.1', port: upstream.port }, { name: 'www.upstream.test', type: 'A' }, { transport: 'tcp' });
  assert.equal((r.answers[0] as { data?: unknown }).data, '198.51.100.1');
});

test('plain UDP: garbage, cut headers and responses get no answer; a FORMERR has the query id', async () => {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const got: Buffer[] = [];
  sock.on('message', (m) => got.push(m));
  try {
    const send = (b: Buffer) => new Promise<void>((r) => sock.send(b, upstream.port, '127.0.0.1', () => r()));
    await send(Buffer.alloc(5));
    const resp = Buffer.from(buildQuery({ name: 'x.test', type: 'A', id: 77 }));
    resp[2]! |= 0x80;
    await send(resp);
    const loop = Buffer.concat([Buffer.from([0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), Buffer.from([0xc0, 12, 0, 1, 0, 1])]);
    await send(loop);
    // The FORMERR comes after the two dropped ones were processed (UDP on loopback keeps order here).
    const deadline = Date.now() + 5000;
    while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(got.length, 1);
    const answer = decode(got[0]!);
    assert.equal(answer.id, 0xabcd);
    assert.equal(answer.rcode, 'FORMERR');
  } finally {
    sock.close();
  }
});

test('readFramed refuses a stream that ends before its answer', async () => {
  const server = net.createServer((s) => s.end(Buffer.from([0, 50, 1, 2])));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const s = await connect((server.address() as net.AddressInfo).port);
  await assert.rejects(readFramed(s, 2000, 'test'), /closed the stream without an answer/);
  s.destroy();
  server.close();
});
