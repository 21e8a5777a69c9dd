// The DNS front end of a real node, asked by real clients on 127.0.0.1: dig over UDP and TCP on the
// --dns port, dig +tls (DoT on the node's TLS listener, ALPN "dot"), dig +https (DoH at /dns-query
// over h2, POST and GET), and a DoQ client built on @matrixai/quic (the project's dial, ALPN "doq").
// Records of a z32 name come from a signed packet stored through the pkarr service (pkarr.put on the
// bus, and the relay's PUT with a packet Python signed); zone records from [dns] in config.toml.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import dnsPacket from 'dns-packet';
import { nodeIdFromPublicKey } from '../../lib/nodeId.ts';
import { nowMicros, signWithSeed } from '../../lib/pkarr/signedPacket.ts';
import { dial } from '../../actors/listener/dial.ts';
import { ephemeralKeyPair } from '../../actors/listener/tlsIdentity.ts';
import { buildQuery, resolveDoq, readFramed } from '../../protocols/dns/client.ts';
import { frame } from '../../protocols/dns/stream.ts';
import { skipUnlessTool } from '../support/tools.ts';
import { bodyFile, curlBinary, outsidePackets, requirePythonCryptography } from '../pkarr/helpers.ts';
import { dig, startDnsNode, type DnsNode } from './helpers.ts';

const skip = skipUnlessTool('dig', 'dnsutils') || skipUnlessTool('curl', 'curl');
const python = requirePythonCryptography();

function freshKey(): { seed: Uint8Array; z32: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const pub = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  return { seed: Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url'), z32: nodeIdFromPublicKey(pub) };
}

const key = freshKey();
let n: DnsNode;
before(async () => {
  if (skip) return;
  n = await startDnsNode();
  const dns = dnsPacket.encode({
    type: 'response',
    id: 0,
    flags: dnsPacket.AUTHORITATIVE_ANSWER,
    answers: [
      { type: 'A', name: key.z32, ttl: 120, data: '192.0.2.10' },
      { type: 'AAAA', name: key.z32, ttl: 120, data: '2001:db8::10' },
      { type: 'TXT', name: `_alknet.${key.z32}`, ttl: 120, data: ['addr=192.0.2.10:4433'] },
      { type: 'A', name: `*.${key.z32}`, ttl: 60, data: '192.0.2.11' },
    ],
  });
  const packet = signWithSeed(key.seed, nowMicros(), dns);
  const stored = await n.node.bus.request('pkarr', 'pkarr.put', { packet, publicKey: key.z32 }, { deadlineMs: 10_000 });
  assert.equal(stored.stored, true, stored.reason);
});
after(async () => n?.stop());

test('the ready file reports the DNS port; the node offers dot and doq', { skip }, () => {
  assert.match(n.node.dns ?? '', /^127\.0\.0\.1:\d+$/);
  assert.ok(n.node.alpns.includes('dot') && n.node.alpns.includes('doq'));
});

test('dig over UDP and +tcp: zone records, authoritative; a CNAME followed; case kept', { skip }, async () => {
  for (const extra of [[], ['+tcp']]) {
    const r = await dig(n.dnsPort, ['WWW.Example.Test', 'A', ...extra]);
    assert.equal(r.status, 'NOERROR', r.text);
    assert.ok(r.flags.includes('aa'), r.text);
    assert.deepEqual(r.answer.map((a) => [a.name, a.ttl, a.type, a.data]), [['WWW.Example.Test.', 300, 'A', '192.0.2.1']]);
    assert.equal(r.transport, extra.length ? 'TCP' : 'UDP');
  }
  const alias = await dig(n.dnsPort, ['alias.example.test', 'A']);
  assert.deepEqual(alias.answer.map((a) => a.type), ['CNAME', 'A']);
  const mx = await dig(n.dnsPort, ['example.test', 'MX']);
  assert.deepEqual(mx.answer.map((a) => a.data), ['10 mail.example.test.']);
  const wild = await dig(n.dnsPort, ['x.apps.example.test', 'TXT']);
  assert.deepEqual(wild.answer.map((a) => a.data), ['"wildcard"']);
});

test('dig: NXDOMAIN and NODATA carry the zone SOA (TTL = its MINIMUM)', { skip }, async () => {
  const nx = await dig(n.dnsPort, ['nope.example.test', 'A']);
  assert.equal(nx.status, 'NXDOMAIN', nx.text);
  assert.deepEqual(nx.answer, []);
  assert.deepEqual(nx.authority.map((a) => [a.name, a.ttl, a.type]), [['example.test.', 120, 'SOA']]);
  const nodata = await dig(n.dnsPort, ['mail.example.test', 'AAAA']);
  assert.equal(nodata.status, 'NOERROR');
  assert.deepEqual(nodata.answer, []);
  assert.equal(nodata.authority[0]?.type, 'SOA');
  const refused = await dig(n.dnsPort, ['example.org', 'A']);
  assert.equal(refused.status, 'REFUSED', 'not ours, and no upstream configured');
});

test('dig: a z32 name answers the records of the packet stored through the pkarr service', { skip }, async () => {
  const a = await dig(n.dnsPort, [key.z32, 'A']);
  assert.equal(a.status, 'NOERROR', a.text);
  assert.ok(a.flags.includes('aa'));
  assert.deepEqual(a.answer.map((r) => [r.name, r.ttl, r.data]), [[`${key.z32}.`, 120, '192.0.2.10']]);
  const txt = await dig(n.dnsPort, [`_alknet.${key.z32}`, 'TXT', '+tcp']);
  assert.deepEqual(txt.answer.map((r) => r.data), ['"addr=192.0.2.10:4433"']);
  const wild = await dig(n.dnsPort, [`anything.${key.z32}`, 'A']);
  assert.deepEqual(wild.answer.map((r) => [r.name, r.data]), [[`anything.${key.z32}.`, '192.0.2.11']]);
  const nodata = await dig(n.dnsPort, [`_alknet.${key.z32}`, 'A']);
  assert.equal(nodata.status, 'NOERROR');
  assert.equal(nodata.authority[0]?.type, 'SOA');
  assert.equal(nodata.authority[0]?.name, `${key.z32}.`);
  const unknown = freshKey().z32;
  const nx = await dig(n.dnsPort, [unknown, 'A']);
  assert.equal(nx.status, 'NXDOMAIN', 'a key with no stored packet');
  assert.equal(nx.authority[0]?.name, `${unknown}.`);
});

test('TC over UDP with a small EDNS size, then the whole answer over TCP', { skip }, async () => {
  const udp = await dig(n.dnsPort, ['big.example.test', 'TXT', '+bufsize=1232', '+ignore']);
  assert.ok(udp.flags.includes('tc'), udp.text);
  assert.deepEqual(udp.answer, []);
  assert.ok((udp.size ?? 0) <= 1232);
  const small = await dig(n.dnsPort, ['big.example.test', 'TXT', '+noedns', '+ignore']);
  assert.ok(small.flags.includes('tc'));
  assert.ok((small.size ?? 0) <= 512);
  // Without +ignore dig retries over TCP itself, as a resolver does.
  const retried = await dig(n.dnsPort, ['big.example.test', 'TXT']);
  assert.equal(retried.transport, 'TCP');
  assert.equal(retried.answer.length, 2);
  assert.ok((retried.size ?? 0) > 3000);
});

test('dig +tls: DoT on the node TLS port (ALPN "dot"); dig does not verify the certificate by default', { skip }, async () => {
  const r = await dig(n.port, ['+tls', 'www.example.test', 'A']);
  assert.equal(r.status, 'NOERROR', r.text);
  assert.equal(r.transport, 'TLS');
  assert.deepEqual(r.answer.map((a) => a.data), ['192.0.2.1']);
  const z = await dig(n.port, ['+tls', key.z32, 'AAAA']);
  assert.deepEqual(z.answer.map((a) => a.data), ['2001:db8::10']);
});

test('dig +https: DoH at /dns-query over h2, POST and GET', { skip }, async () => {
  for (const mode of ['+https', '+https-get']) {
    const r = await dig(n.port, [mode, 'www.example.test', 'A']);
    assert.equal(r.status, 'NOERROR', r.text);
    assert.equal(r.transport, mode === '+https' ? 'HTTPS' : 'HTTPS-GET');
    assert.deepEqual(r.answer.map((a) => a.data), ['192.0.2.1']);
  }
  const z = await dig(n.port, ['+https', `_alknet.${key.z32}`, 'TXT']);
  assert.deepEqual(z.answer.map((a) => a.data), ['"addr=192.0.2.10:4433"']);
});

test('DoH with curl: answer headers (dns-message, max-age = smallest TTL); bad input is an HTTP error', { skip }, async () => {
  const q = buildQuery({ name: 'www.example.test', type: 'A', id: 0 });
  const get = await curlBinary(n.node, `/dns-query?dns=${q.toString('base64url')}`, ['--http2']);
  assert.equal(get.status, 200, get.body.toString());
  assert.equal(get.headers['content-type'], 'application/dns-message');
  assert.equal(get.headers['cache-control'], 'max-age=300');
  assert.equal(dnsPacket.decode(get.body).answers?.length, 1);
  const post = await curlBinary(n.node, '/dns-query', ['--http1.1', '-X', 'POST', '-H', 'content-type: application/dns-message', '--data-binary', `@${bodyFile(q)}`]);
  assert.equal(post.status, 200);
  const cases: [string, string[], number][] = [
    ['/dns-query', [], 400],
    ['/dns-query?dns=not+base64!', [], 400],
    [`/dns-query?dns=${Buffer.alloc(5000).toString('base64url')}`, [], 413],
    ['/dns-query?dns=AAAA', [], 400],
    ['/dns-query', ['-X', 'POST', '-H', 'content-type: text/plain', '--data-binary', 'x'], 415],
    ['/dns-query', ['-X', 'POST', '-H', 'content-type: application/dns-message', '--data-binary', `@${bodyFile(Buffer.alloc(5000))}`], 413],
    ['/dns-query', ['-X', 'DELETE'], 405],
  ];
  for (const [path, args, status] of cases) {
    const r = await curlBinary(n.node, path, args);
    assert.equal(r.status, status, `${path} ${args.join(' ')}: ${r.body}`);
  }
  // A garbage body is a DNS-level answer when it has a header: FORMERR with its id.
  const garbage = Buffer.concat([Buffer.from([0x12, 0x34, 1, 0, 0, 9, 0, 0, 0, 0, 0, 0]), Buffer.from([0xc0, 12])]);
  const formerr = await curlBinary(n.node, '/dns-query', ['-X', 'POST', '-H', 'content-type: application/dns-message', '--data-binary', `@${bodyFile(garbage)}`]);
  assert.equal(formerr.status, 200);
  assert.equal((dnsPacket.decode(formerr.body) as { rcode?: string }).rcode, 'FORMERR');
});

test('DoQ with a client on @matrixai/quic: one query per stream, id 0; several streams on one connection', { skip }, async () => {
  const conn = await dial(`${n.node.nodeId}@127.0.0.1:${n.node.quicPort}`, { alpn: 'doq', transport: 'quic', identity: ephemeralKeyPair() });
  try {
    assert.equal(conn.alpn, 'doq');
    const [www, z, nx] = await Promise.all([
      resolveDoq(() => conn.openStream(), { name: 'www.example.test', type: 'A' }),
      resolveDoq(() => conn.openStream(), { name: key.z32, type: 'A' }),
      resolveDoq(() => conn.openStream(), { name: 'nope.example.test', type: 'A' }),
    ]);
    assert.deepEqual(www.answers.map((a) => (a as { data: unknown }).data), ['192.0.2.1']);
    assert.equal(www.transport, 'doq');
    assert.deepEqual(z.answers.map((a) => (a as { data: unknown }).data), ['192.0.2.10']);
    assert.equal(nx.rcode, 'NXDOMAIN');
    // The big answer comes whole: DoQ has no UDP size limit.
    const big = await resolveDoq(() => conn.openStream(), { name: 'big.example.test', type: 'TXT', udpSize: 512 });
    assert.equal(big.tc, false);
    assert.equal(big.answers.length, 2);
  } finally {
    await conn.close('done');
  }
});

test('DoQ: a message id other than 0 is a protocol error that closes the connection (RFC 9250 4.2.1)', { skip }, async () => {
  const conn = await dial(`${n.node.nodeId}@127.0.0.1:${n.node.quicPort}`, { alpn: 'doq', transport: 'quic', identity: ephemeralKeyPair() });
  const stream = await conn.openStream();
  stream.on('error', () => {});
  stream.end(frame(buildQuery({ name: 'www.example.test', type: 'A', id: 7 })));
  const { reason } = await conn.closed;
  assert.match(reason, /message id must be 0/);
});

test('ALPN on the wrong transport: dot over QUIC and doq over TLS are closed with the reason', { skip }, async () => {
  const quic = await dial(`${n.node.nodeId}@127.0.0.1:${n.node.quicPort}`, { alpn: 'dot', transport: 'quic', identity: ephemeralKeyPair() });
  assert.match((await quic.closed).reason, /dot is DNS over TLS\/TCP/);
  const socket = tls.connect({ host: '127.0.0.1', port: n.port, ALPNProtocols: ['doq'], rejectUnauthorized: false });
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
});

test('DoT and plain TCP: an oversize length prefix closes that connection; the node answers the next one', { skip }, async () => {
  const dot = tls.connect({ host: '127.0.0.1', port: n.port, ALPNProtocols: ['dot'], rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => dot.once('secureConnect', resolve).once('error', reject));
  assert.equal(dot.alpnProtocol, 'dot');
  // First a good query on the same connection, then a length of 65535 with a few bytes.
  dot.write(frame(buildQuery({ name: 'www.example.test', type: 'A', id: 1 })));
  const first = await readFramed(dot, 5000, 'DoT');
  assert.equal(first.readUInt16BE(0), 1);
  dot.write(Buffer.from([0xff, 0xff, 1, 2, 3]));
  await new Promise<void>((resolve) => (dot.destroyed ? resolve() : dot.once('close', () => resolve())));
  const tcp = net.connect({ host: '127.0.0.1', port: n.dnsPort });
  tcp.on('error', () => {});
  tcp.write(Buffer.from([0x40, 0x00]));
  await new Promise<void>((resolve) => tcp.once('close', () => resolve()));
  const again = await dig(n.dnsPort, ['+tcp', 'www.example.test']);
  assert.equal(again.status, 'NOERROR');
});

test('bad input over UDP: pointer loops, long labels, lying counts are FORMERR; the node keeps answering', { skip }, async () => {
  const dgram = await import('node:dgram');
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const answers = new Map<number, string>();
  sock.on('message', (m) => answers.set(m.readUInt16BE(0), (dnsPacket.decode(m) as { rcode?: string }).rcode ?? '?'));
  const h = (id: number, qd = 1, ar = 0) => Buffer.from([id >> 8, id & 0xff, 1, 0, 0, qd, 0, 0, 0, 0, 0, ar]);
  const bad: Buffer[] = [
    Buffer.concat([h(1), Buffer.from([0xc0, 12, 0, 1, 0, 1])]), // pointer to itself
    Buffer.concat([h(2), Buffer.from([1, 0x61, 0xc0, 12, 0, 1, 0, 1])]), // label then a pointer back to it
    Buffer.concat([h(3), Buffer.from([64]), Buffer.alloc(64, 0x61), Buffer.from([0, 0, 1, 0, 1])]), // 64-byte label
    Buffer.concat([h(4, 3), Buffer.from([1, 0x61, 0, 0, 1, 0, 1])]), // QDCOUNT 3, one question
    Buffer.concat([h(5, 1, 2), Buffer.from([1, 0x61, 0, 0, 1, 0, 1])]), // ARCOUNT 2, none there
    Buffer.concat([h(6), Buffer.from([1, 0x61, 0, 0, 1])]), // cut question
    Buffer.concat([h(7), ...Array(5).fill(Buffer.concat([Buffer.from([63]), Buffer.alloc(63, 0x62)])), Buffer.from([0, 0, 1, 0, 1])]), // name over 255
  ];
  try {
    for (const b of bad) await new Promise<void>((r) => sock.send(b, n.dnsPort, '127.0.0.1', () => r()));
    const deadline = Date.now() + 5000;
    while (answers.size < bad.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual([...answers.entries()].sort((a, b) => a[0] - b[0]), bad.map((_, i) => [i + 1, 'FORMERR']));
  } finally {
    sock.close();
  }
  assert.equal((await dig(n.dnsPort, ['www.example.test'])).status, 'NOERROR');
});

test('a packet signed outside the project (Python cryptography) PUT to the relay is answered over DNS; a flipped byte is refused and changes nothing', { skip: skip || python.skip }, async () => {
  const outside = outsidePackets(python.value);
  const put = (bytes: Uint8Array) => curlBinary(n.node, `/${outside.z32}`, ['-X', 'PUT', '-H', 'content-type: application/pkarr.org/relays#payload', '--data-binary', `@${bodyFile(bytes)}`]);
  const flipped = Buffer.from(outside.good);
  flipped[flipped.length - 1]! ^= 0x01; // the A record's last address byte: .7 becomes .6
  assert.equal((await put(flipped)).status, 400);
  assert.equal((await dig(n.dnsPort, [outside.z32, 'A'])).status, 'NXDOMAIN', 'nothing stored');
  assert.equal((await put(outside.good)).status, 204);
  const a = await dig(n.dnsPort, [outside.z32, 'A']);
  assert.deepEqual(a.answer.map((r) => r.data), ['192.0.2.7']);
  const txt = await dig(n.port, ['+tls', `_alknet.${outside.z32}`, 'TXT']);
  assert.deepEqual(txt.answer.map((r) => r.data), ['"addr=192.0.2.7:4433"']);
  // A newer packet replaces it; the DNS answer follows at once.
  assert.equal((await put(outside.newer)).status, 204);
  assert.deepEqual((await dig(n.dnsPort, [outside.z32, 'A'])).answer.map((r) => r.data), ['192.0.2.8']);
});

test('DoH over alknet/http (HTTP/1.1 on a QUIC stream): POST /dns-query is answered too', { skip }, async () => {
  const conn = await dial(`${n.node.nodeId}@127.0.0.1:${n.node.quicPort}`, { alpn: 'alknet/http', transport: 'quic', identity: ephemeralKeyPair() });
  try {
    const stream = await conn.openStream();
    const query = buildQuery({ name: 'www.example.test', type: 'A', id: 0 });
    const head = `POST /dns-query HTTP/1.1\r\nHost: n\r\nContent-Type: application/dns-message\r\nContent-Length: ${query.length}\r\nConnection: close\r\n\r\n`;
    const raw = await new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      const timer = setTimeout(() => resolve(Buffer.concat(chunks)), 15_000);
      stream.on('data', (d: Buffer) => chunks.push(d));
      stream.on('end', () => {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks));
      });
      stream.on('error', () => resolve(Buffer.concat(chunks)));
      stream.write(Buffer.concat([Buffer.from(head), query]));
    });
    const split = raw.indexOf('\r\n\r\n');
    assert.match(raw.subarray(0, split).toString(), /^HTTP\/1\.1 200/);
    assert.match(raw.subarray(0, split).toString(), /content-type: application\/dns-message/i);
    const answer = dnsPacket.decode(raw.subarray(split + 4));
    assert.deepEqual(answer.answers?.map((a) => (a as { data?: unknown }).data), ['192.0.2.1']);
  } finally {
    await conn.close('done');
  }
});
