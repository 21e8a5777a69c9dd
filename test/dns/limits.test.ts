// Limits of a node's DNS front end under a flood from one address ([dns] rateLimit, rateBurst,
// maxTcpConnectionsPerIp): the flooding address gets a bounded number of answers over UDP (the rest
// dropped) and REFUSED over TCP, while another address (127.0.0.2) is answered as usual, and the
// node keeps running. Counts only, no timing: at 1 query/s, 300 queries answered beyond the burst
// would take minutes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import { buildQuery, readFramed } from '../../protocols/dns/client.ts';
import { frame } from '../../protocols/dns/stream.ts';
import { skipUnlessTool } from '../support/tools.ts';
import { dig, startDnsNode, type DnsNode } from './helpers.ts';

const skip = skipUnlessTool('dig', 'dnsutils');
const FLOOD = 300;
const BURST = 5;

let n: DnsNode;
before(async () => {
  if (skip) return;
  n = await startDnsNode({ rateLimit: 1, rateBurst: BURST, maxTcpConnectionsPerIp: 2 });
});
after(async () => n?.stop());

test('a UDP flood from one address: at most the burst (plus the slow refill) is answered, the rest dropped; another address is answered', { skip }, async () => {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  let answered = 0;
  sock.on('message', () => answered++);
  try {
    const query = buildQuery({ name: 'www.example.test', type: 'A' });
    for (let i = 0; i < FLOOD; i++) await new Promise<void>((r) => sock.send(query, n.dnsPort, '127.0.0.1', () => r()));
    // Then queries from another address until one is answered (the kernel drops what overflows the
    // node's socket buffer during the flood, as it would for any server); once it is, the flood has
    // been read.
    const probe = dgram.createSocket('udp4');
    await new Promise<void>((r) => probe.bind(0, '127.0.0.2', r));
    const probeAnswer = new Promise<Buffer>((resolve) => probe.once('message', resolve));
    let tries = 0;
    let answer: Buffer | undefined;
    while (!answer && tries++ < 25) {
      probe.send(buildQuery({ name: 'www.example.test', type: 'A', id: 4242 }), n.dnsPort, '127.0.0.1');
      answer = await Promise.race([probeAnswer, new Promise<undefined>((r) => setTimeout(r, 200))]);
    }
    probe.close();
    assert.ok(answer, '127.0.0.2 got no answer');
    const fromOther = dnsPacket.decode(answer);
    assert.equal(fromOther.id, 4242);
    assert.equal(fromOther.answers?.length, 1, '127.0.0.2 has its own bucket');
    await new Promise((r) => setTimeout(r, 200)); // answers already sent are read
    assert.ok(answered >= BURST, `${answered} answered: the burst is served`);
    assert.ok(answered < FLOOD / 2, `${answered} of ${FLOOD} answered: the rest must be dropped`);
  } finally {
    sock.close();
  }
  const other = await dig(n.dnsPort, ['-b', '127.0.0.3', 'www.example.test']);
  assert.equal(other.status, 'NOERROR', other.text);
});

test('over TCP the limited address is answered REFUSED (a stream client would wait for a dropped answer)', { skip }, async () => {
  const s = net.connect({ host: '127.0.0.1', port: n.dnsPort });
  await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
  try {
    const codes: string[] = [];
    for (let i = 0; i < BURST + 3; i++) {
      const answer = readFramed(s, 5000, 'tcp');
      s.write(frame(buildQuery({ name: 'www.example.test', type: 'A', id: i })));
      codes.push((dnsPacket.decode(await answer) as { rcode?: string }).rcode ?? '?');
    }
    assert.ok(codes.includes('REFUSED'), codes.join(' '));
  } finally {
    s.destroy();
  }
});

test('TCP connections from one address are bounded ([dns] maxTcpConnectionsPerIp = 2): the third is closed at once', { skip }, async () => {
  const open = async () => {
    const s = net.connect({ host: '127.0.0.1', port: n.dnsPort, localAddress: '127.0.0.5' });
    s.on('error', () => {});
    await new Promise<void>((resolve) => s.once('connect', () => resolve()));
    return s;
  };
  const first = await open();
  const second = await open();
  const third = await open();
  try {
    await new Promise<void>((resolve) => (third.destroyed ? resolve() : third.once('close', () => resolve())));
    // The first two still work (127.0.0.5 has not used its rate yet).
    const answer = readFramed(first, 5000, 'tcp');
    first.write(frame(buildQuery({ name: 'www.example.test', type: 'A', id: 1 })));
    assert.equal((dnsPacket.decode(await answer) as { rcode?: string }).rcode, 'NOERROR');
  } finally {
    first.destroy();
    second.destroy();
    third.destroy();
  }
});
