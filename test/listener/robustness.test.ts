import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect as netConnect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { dial } from '../../actors/listener/dial.ts';
import { echo, echoListener, TEST_ALPN, waitFor, within } from './fixtures.ts';

test('garbage on UDP and TCP leaves the listener serving', async () => {
  const { listener } = await echoListener();
  try {
    const udp = createSocket('udp4');
    for (let i = 0; i < 50; i++) {
      // Random bytes, and random bytes that start like a QUIC long header (0xc0 bit pattern).
      const junk = randomBytes(20 + i * 23);
      if (i % 2) junk[0] = 0xc0 | (junk[0]! & 0x0f);
      await new Promise<void>((resolve, reject) => udp.send(junk, listener.quicPort, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
    }
    udp.close();
    await Promise.all(Array.from({ length: 5 }, () => new Promise<void>((resolve) => {
      const s = netConnect(listener.tcpPort, '127.0.0.1', () => s.end(randomBytes(3000)));
      s.on('error', () => resolve());
      s.on('close', () => resolve());
    })));
    for (const transport of ['quic', 'tls'] as const) {
      const conn = await dial(`${listener.nodeId}@127.0.0.1:${listener.quicPort}`, { alpn: TEST_ALPN, transport });
      assert.equal((await echo(await conn.openStream(), Buffer.from('alive'))).toString(), 'alive');
      await conn.close();
    }
  } finally {
    await listener.close();
  }
});

test('a reset stream and a vanished client affect only themselves', async () => {
  const { listener, accepted } = await echoListener({ limits: { idleTimeoutMs: 500 } });
  const address = `${listener.nodeId}@127.0.0.1:${listener.quicPort}`;
  try {
    const conn = await dial(address, { alpn: TEST_ALPN, transport: 'quic' });
    const s = await conn.openStream();
    s.on('error', () => {});
    s.write(randomBytes(5000));
    s.destroy(new Error('client gave up'));
    // Same connection, next stream: fine.
    assert.equal((await echo(await conn.openStream(), Buffer.from('next'))).toString(), 'next');
    // A TLS client that disappears mid-stream.
    const tls = await dial(address, { alpn: TEST_ALPN, transport: 'tls' });
    const ts = await tls.openStream();
    ts.on('error', () => {});
    ts.write('partial');
    ts.destroy();
    await waitFor(() => accepted.length === 2, 5000, 'both accepted');
    await within(accepted[1]!.closed, 5000, 'server notices the TLS client is gone');
    assert.equal((await echo(await conn.openStream(), Buffer.from('still'))).toString(), 'still');
    await conn.close();
  } finally {
    await listener.close();
  }
});
