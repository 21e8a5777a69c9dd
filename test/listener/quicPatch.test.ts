// The patched js-quic hot path (patches/@matrixai+quic+2.0.9.patch, docs/transport.md) and the
// transport settings that go with it: streams and connections still open, carry every byte,
// close, time out and free their state; path choice for `transport: 'auto'`.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { QUICClient, QUICConnection, QUICServer, events } from '@matrixai/quic';
import type { QUICStream } from '@matrixai/quic';
import { startListener } from '../../actors/listener/listener.ts';
import { BULK_ALPNS, dial, preferredTransport } from '../../actors/listener/dial.ts';
import { makeCertificate } from '../../actors/listener/tlsIdentity.ts';
import { quicClientCrypto, quicServerCrypto } from '../../actors/listener/quicCrypto.ts';
import { quicLogger } from '../../actors/listener/logger.ts';
import { isLoopbackHost, quicConfigOf, quicTuningFor } from '../../actors/listener/quicConnection.ts';
import { echo, echoListener, newKeys, readAll, TEST_ALPN } from './fixtures.ts';

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms); });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test('the js-quic patch is applied (run `npm install` / `npx patch-package` if this fails)', () => {
  const proto = QUICConnection.prototype as unknown as Record<string, unknown>;
  assert.equal(typeof proto['sendSoon'], 'function', 'QUICConnection.sendSoon comes from the patch');
  assert.equal(typeof proto['scheduleSend'], 'function', 'QUICConnection.scheduleSend comes from the patch');
  assert.equal(typeof proto['flushStreams'], 'function', 'QUICConnection.flushStreams comes from the patch');
});

test('the streams of one connection share one read buffer and still keep their bytes apart', async () => {
  const { server, client, serverConns } = await rawPair(1350);
  try {
    type Inner = { readableChunk?: Buffer };
    const a = client.connection.newStream('bidi');
    const b = client.connection.newStream('bidi');
    const scratch = (client.connection as unknown as { readableScratch?: Buffer }).readableScratch;
    assert.ok(scratch !== undefined, 'the connection has its read buffer');
    assert.equal((a as unknown as Inner).readableChunk, scratch);
    assert.equal((b as unknown as Inner).readableChunk, scratch);
    // Both streams receive in the same turns: each must get back exactly its own bytes.
    const dataA = randomBytes(300 * 1024);
    const dataB = randomBytes(300 * 1024);
    const [backA, backB] = await within(Promise.all([rawEcho(a, dataA), rawEcho(b, dataB)]), 10_000, 'two echoes');
    assert.equal(sha(backA), sha(dataA));
    assert.equal(sha(backB), sha(dataB));
    assert.ok(serverConns.length === 1);
  } finally {
    await client.destroy({ force: true });
    await server.stop({ force: true });
  }
});

test('request/reply on one stream: replies go out through the coalesced send, not the connection timers', async () => {
  // Hunks 2 and 6: a received request's stream is processed in the coalesced send's turn, and
  // the reply written in reaction leaves with that send. A lost send would leave each reply to
  // the connection timer (quiche's onTimeout: a probe or the ACK delay), so the check counts
  // timer firings on both sides, and counts the patched stream flushes that carried the requests.
  const { server, client, serverConns } = await rawPair(1350);
  try {
    const stream = client.connection.newStream('bidi');
    const writer = stream.writable.getWriter();
    const reader = stream.readable.getReader();
    const roundTrip = async (message: Buffer): Promise<Buffer> => {
      await writer.write(message);
      const chunks: Uint8Array[] = [];
      let got = 0;
      while (got < message.length) {
        const { value, done } = await reader.read();
        if (done || value === undefined) throw new Error('stream ended early');
        chunks.push(value);
        got += value.length;
      }
      return Buffer.concat(chunks);
    };
    assert.deepEqual(await within(roundTrip(Buffer.from('warm-up')), 10_000, 'warm-up'), Buffer.from('warm-up'));
    const serverConn = serverConns[0];
    assert.ok(serverConn, 'the server saw the connection');
    type Patched = { conn: { onTimeout(): void }; flushStreams?: () => void };
    const count = { timers: 0, flushes: 0 };
    for (const c of [serverConn, client.connection] as unknown as Patched[]) {
      const onTimeout = c.conn.onTimeout.bind(c.conn);
      c.conn.onTimeout = () => { count.timers++; onTimeout(); };
    }
    const server_ = serverConn as unknown as Patched;
    const flushStreams = server_.flushStreams;
    assert.equal(typeof flushStreams, 'function', 'QUICConnection.flushStreams comes from the patch');
    server_.flushStreams = function (this: unknown) { count.flushes++; flushStreams!.call(this); };
    const ROUND_TRIPS = 300;
    for (let i = 0; i < ROUND_TRIPS; i++) {
      const message = Buffer.from(`request ${i}`);
      assert.deepEqual(await within(roundTrip(message), 10_000, `reply ${i}`), message);
    }
    assert.ok(count.flushes >= ROUND_TRIPS, `requests went through the patched stream flush (${count.flushes})`);
    // A few probe timeouts on a loaded machine are fine; one per round trip would be a lost send.
    assert.ok(count.timers < ROUND_TRIPS / 10, `${count.timers} timer firings in ${ROUND_TRIPS} round trips`);
    await writer.close();
  } finally {
    await client.destroy({ force: true });
    await server.stop({ force: true });
  }
});

/** A bare js-quic server and client (no wrappers), so the test can look at their stream maps. */
async function rawPair(payload: number): Promise<{ server: QUICServer; client: QUICClient; serverConns: QUICConnection[] }> {
  const serverCert = makeCertificate(newKeys());
  const clientCert = makeCertificate(newKeys());
  const serverConns: QUICConnection[] = [];
  const server = new QUICServer({
    crypto: quicServerCrypto(),
    logger: quicLogger(undefined, 'test-server'),
    config: { key: serverCert.keyPem, cert: serverCert.certPem, verifyPeer: false, applicationProtos: ['t'], maxIdleTimeout: 10_000,
      ...quicConfigOf(quicTuningFor('127.0.0.1', { maxSendUdpPayloadSize: payload })) },
  });
  server.addEventListener(events.EventQUICServerConnection.name, (evt: Event) => {
    const conn = (evt as events.EventQUICServerConnection).detail;
    serverConns.push(conn);
    conn.addEventListener(events.EventQUICConnectionStream.name, (e: Event) => {
      const stream = (e as events.EventQUICConnectionStream).detail as QUICStream;
      void stream.readable.pipeTo(stream.writable).catch(() => {});
    });
  });
  await server.start({ host: '127.0.0.1', port: 0 });
  const client = await QUICClient.createQUICClient({
    host: '127.0.0.1', port: server.port, crypto: quicClientCrypto(), logger: quicLogger(undefined, 'test-client'),
    config: { key: clientCert.keyPem, cert: clientCert.certPem, verifyPeer: false, applicationProtos: ['t'], maxIdleTimeout: 10_000,
      ...quicConfigOf(quicTuningFor('127.0.0.1', { maxSendUdpPayloadSize: payload })) },
  });
  return { server, client, serverConns };
}

async function rawEcho(stream: QUICStream, data: Uint8Array): Promise<Buffer> {
  const writer = stream.writable.getWriter();
  const reading = (async () => {
    const chunks: Uint8Array[] = [];
    for await (const c of stream.readable) chunks.push(c);
    return Buffer.concat(chunks);
  })();
  await writer.write(data);
  await writer.close();
  return reading;
}

test('1,000 streams opened, used and closed one after another leave no stream state behind', async () => {
  const { server, client, serverConns } = await rawPair(1350);
  try {
    const streamMap = (c: QUICConnection): Map<number, unknown> => (c as unknown as { streamMap: Map<number, unknown> }).streamMap;
    for (let i = 0; i < 1000; i++) {
      const back = await within(rawEcho(client.connection.newStream('bidi'), Buffer.from([i & 0xff])), 5000, `stream ${i}`);
      assert.equal(back.length, 1);
    }
    const serverConn = serverConns[0];
    assert.ok(serverConn, 'the server saw the connection');
    // Streams are destroyed in the background once both directions are closed.
    const deadline = Date.now() + 5000;
    while ((streamMap(client.connection).size > 0 || streamMap(serverConn).size > 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(streamMap(client.connection).size, 0, 'client streams freed');
    assert.equal(streamMap(serverConn).size, 0, 'server streams freed');
  } finally {
    await client.destroy({ force: true });
    await server.stop({ force: true });
  }
});

for (const payload of [1200, 1350, 65_000]) {
  test(`${payload}-byte datagrams: 20 concurrent streams each carry 256 KiB both ways intact`, async () => {
    const { listener } = await echoListener();
    try {
      const conn = await dial(`${listener.nodeId}@127.0.0.1:${listener.quicPort}`, { alpn: TEST_ALPN, transport: 'quic', quic: { maxSendUdpPayloadSize: payload } });
      const results = await within(Promise.all(Array.from({ length: 20 }, async () => {
        const data = randomBytes(256 * 1024);
        return sha(await echo(await conn.openStream(), data)) === sha(data);
      })), 20_000, 'concurrent echoes');
      assert.deepEqual(results, Array(20).fill(true));
      await conn.close();
    } finally {
      await listener.close();
    }
  });
}

test('bytes written just before close() reach the other side; the close reason follows', async () => {
  let received: Promise<Buffer> | undefined;
  let serverClosed: Promise<{ reason: string }> | undefined;
  const listener = await startListener({
    host: '127.0.0.1', port: 0, alpns: [TEST_ALPN], identity: newKeys(),
    onConnection: (conn) => { serverClosed = conn.closed; conn.onStream((s: Duplex) => { received = readAll(s, 10_000); }); },
  });
  try {
    const conn = await dial(`${listener.nodeId}@127.0.0.1:${listener.quicPort}`, { alpn: TEST_ALPN, transport: 'quic' });
    const data = randomBytes(2 * 1024 * 1024);
    const stream = await conn.openStream();
    const finished = new Promise((r) => stream.once('finish', r));
    stream.end(data);
    await within(finished, 10_000, 'local finish');
    const deadline = Date.now() + 5000;
    while (received === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.ok(received, 'the server got the stream');
    assert.equal(sha(await within(received, 10_000, 'all bytes')), sha(data));
    await conn.close('done here');
    assert.equal((await within(serverClosed!, 5000, 'server close')).reason, 'done here');
  } finally {
    await listener.close();
  }
});

test('an idle QUIC connection still times out (the connection timer is kept, not lost)', async () => {
  const { listener } = await echoListener({ limits: { idleTimeoutMs: 400 } });
  try {
    const conn = await dial(`${listener.nodeId}@127.0.0.1:${listener.quicPort}`, { alpn: TEST_ALPN, transport: 'quic', idleTimeoutMs: 400, keepAliveMs: 0 });
    let closedEarly = false;
    void conn.closed.then(() => { closedEarly = true; });
    assert.deepEqual(await echo(await conn.openStream(), Buffer.from('x')), Buffer.from('x'));
    // Ordering, not a stopwatch: a connection in use is not closed; once idle, the kept timer closes it.
    assert.equal(closedEarly, false, 'still open right after traffic');
    const { reason } = await within(conn.closed, 5000, 'idle close');
    assert.match(reason, /idle timeout/);
  } finally {
    await listener.close();
  }
});

test('the node picks QUIC settings per path; bad overrides are refused', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', '::ffff:127.0.0.1', 'localhost']) assert.ok(isLoopbackHost(h), h);
  for (const h of ['10.0.0.1', '192.168.1.1', 'example.com', '::2', '128.0.0.1']) assert.ok(!isLoopbackHost(h), h);
  assert.equal(quicTuningFor('127.0.0.1').maxSendUdpPayloadSize, 65_000);
  assert.equal(quicTuningFor('203.0.113.5').maxSendUdpPayloadSize, 1350);
  assert.equal(quicTuningFor('203.0.113.5', { maxSendUdpPayloadSize: 1452 }).maxSendUdpPayloadSize, 1452);
  assert.throws(() => quicConfigOf(quicTuningFor('127.0.0.1', { maxSendUdpPayloadSize: 70_000 })), /1200 to 65527/);
  assert.throws(() => quicConfigOf(quicTuningFor('127.0.0.1', { initialMaxData: -1 })), /positive integer/);
});

test("transport 'auto': bulk ALPNs go over TLS/TCP, others over QUIC", async () => {
  assert.equal(preferredTransport('alknet/blobs'), 'tls');
  assert.equal(preferredTransport('alknet/call'), 'quic');
  for (const alpn of BULK_ALPNS) assert.equal(preferredTransport(alpn), 'tls');
  const keys = newKeys();
  const listener = await startListener({
    host: '127.0.0.1', port: 0, alpns: ['alknet/blobs', TEST_ALPN], identity: keys,
    onConnection: (conn) => conn.onStream((s) => s.pipe(s)),
  });
  try {
    const address = `${listener.nodeId}@127.0.0.1:${listener.quicPort}`;
    const bulkConn = await dial(address, { alpn: 'alknet/blobs', transport: 'auto' });
    assert.equal(bulkConn.transport, 'tls');
    assert.deepEqual(await echo(await bulkConn.openStream(), Buffer.from('bulk')), Buffer.from('bulk'));
    await bulkConn.close();
    const callConn = await dial(address, { alpn: TEST_ALPN, transport: 'auto' });
    assert.equal(callConn.transport, 'quic');
    await callConn.close();
    // A refused key is final: no second try on the other path.
    const other = (await echoListener()).listener;
    try {
      await assert.rejects(dial(`${other.nodeId}@127.0.0.1:${listener.quicPort}`, { alpn: 'alknet/blobs', transport: 'auto' }),
        (err: Error) => /not the pinned node/.test(err.message) && !/over quic/.test(err.message));
    } finally {
      await other.close();
    }
  } finally {
    await listener.close();
  }
});
