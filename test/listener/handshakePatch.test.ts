// The handshake-path patches (docs/transport.md, "The js-quic patch", hunks 8–11): locks without
// a timeout build no timer, timeout errors are built only when a timer fires, js-quic keeps one
// quiche config per distinct setting set, and remembers which hosts are IPv4/IPv6. Each must
// keep the old behaviour: timeouts still fire, cancellation still works, dials with different
// identities or ALPNs are not mixed up.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lock, RWLockWriter, errors as lockErrors } from '@matrixai/async-locks';
import { QUICServer, utils as quicUtils } from '@matrixai/quic';
import { dial } from '../../actors/listener/dial.ts';
import type { Connection } from '../../actors/listener/connection.ts';
import { echo, echoListener, newKeys, TEST_ALPN } from './fixtures.ts';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

test('the handshake patches are applied (run `npm install` / `npx patch-package` if this fails)', () => {
  for (const file of [
    'node_modules/@matrixai/async-locks/dist/utils.js',
    'node_modules/@matrixai/contexts/dist/functions/timedCancellable.js',
    'node_modules/@matrixai/quic/dist/config.js',
    'node_modules/@matrixai/quic/dist/utils.js',
    'node_modules/@matrixai/quic/dist/QUICServer.js',
  ]) {
    assert.match(readFileSync(path.join(projectRoot, file), 'utf8'), /alknet patch/, `${file} is patched`);
  }
});

test('a lock with a timeout still times out with ErrorAsyncLocksTimeout; one without waits', async () => {
  const lock = new Lock();
  const [release] = await lock.lock()();
  // The timed acquisition ends with the timeout error (not a hang, not the lock): the patch kept
  // the timer path that a timeout needs.
  await assert.rejects(lock.lock({ timer: 50 })(), lockErrors.ErrorAsyncLocksTimeout);
  // No timeout: the second acquisition gets the lock once the first lets go.
  const second = lock.lock()();
  await release();
  const [release2] = await second;
  assert.equal(lock.isLocked(), true);
  await release2();
  assert.equal(lock.isLocked(), false);
});

test('an acquisition without a timeout can still be cancelled, and the lock stays usable', async () => {
  const lock = new RWLockWriter();
  const [release] = await lock.write()();
  const waiting = lock.write()();
  waiting.cancel(new Error('given up'));
  await assert.rejects(waiting, /given up/);
  await release();
  // Nested (writers lock inside the RW lock) and inherited-signal paths still acquire and free.
  const controller = new AbortController();
  const [release2] = await lock.write({ signal: controller.signal })();
  assert.equal(lock.isLocked(), true);
  await release2();
  assert.equal(lock.isLocked(), false);
  // An inherited signal that aborts cancels a waiting acquisition.
  const [release3] = await lock.read()();
  const aborter = new AbortController();
  const blocked = lock.write({ signal: aborter.signal })();
  aborter.abort(new Error('upstream abort'));
  await assert.rejects(blocked, /upstream abort/);
  await release3();
  assert.equal(lock.isLocked(), false);
});

test('remembered IPv4/IPv6 answers match the uncached ones', () => {
  const cases: [string, boolean, boolean][] = [
    ['127.0.0.1', true, false], ['::1', false, true], ['::ffff:127.0.0.1', false, true],
    ['::ffff:7f00:1', false, true], ['localhost', false, false], ['0.0.0.0', true, false],
    ['::', false, true], ['1.2.3', false, false], ['fe80::1', false, true], ['999.1.1.1', false, false],
  ];
  for (let round = 0; round < 2; round++) {
    for (const [host, v4, v6] of cases) {
      assert.equal(quicUtils.isIPv4(host), v4, `isIPv4(${host})`);
      assert.equal(quicUtils.isIPv6(host), v6, `isIPv6(${host})`);
    }
  }
});

test('dials with different identities and ALPNs are not mixed up by the shared quiche config', async () => {
  const { listener, accepted } = await echoListener();
  const address = `${listener.nodeId}@127.0.0.1:${listener.quicPort}`;
  const conns: Connection[] = [];
  try {
    const alice = newKeys();
    const bob = newKeys();
    for (const identity of [alice, bob, alice]) {
      const conn = await dial(address, { alpn: TEST_ALPN, transport: 'quic', identity });
      conns.push(conn);
      const back = await echo(await conn.openStream(), Buffer.from('hello'));
      assert.equal(back.toString(), 'hello');
    }
    const other = await dial(address, { alpn: 'alknet/other', transport: 'quic', identity: alice });
    conns.push(other);
    assert.equal(other.alpn, 'alknet/other');
    await assert.rejects(dial(address, { alpn: 'alknet/unregistered', transport: 'quic', identity: bob }), /refused ALPN/);
    // The server saw each client's own key (its config is shared, its verification is not).
    const seen = accepted.map((c) => c.peer?.nodeId);
    assert.equal(seen.length, 4);
    assert.equal(seen[0], seen[2]);
    assert.equal(seen[0], seen[3]);
    assert.notEqual(seen[0], seen[1]);
    assert.deepEqual(accepted.map((c) => c.alpn), [TEST_ALPN, TEST_ALPN, TEST_ALPN, 'alknet/other']);
  } finally {
    await Promise.all(conns.map((c) => c.close()));
    await listener.close();
  }
});

test('QUIC handshakes with and without Stateless Retry both connect (retry under load, always, never)', async (t) => {
  // Each Stateless Retry mints one token: count them.
  const proto = QUICServer.prototype as unknown as { mintToken: (...a: unknown[]) => Promise<unknown> };
  const mintToken = proto.mintToken;
  let mints = 0;
  proto.mintToken = function (this: unknown, ...a: unknown[]) { mints++; return mintToken.apply(this, a); };
  t.after(() => { proto.mintToken = mintToken; });
  const expected: Record<number, (n: number) => boolean> = { 0: (n) => n === 12, 2: (n) => n <= 10, 1000: (n) => n === 0 };
  for (const quicRetryAbove of [0, 2, 1000]) {
    mints = 0;
    const { listener, accepted } = await echoListener({ limits: { quicRetryAbove } });
    const address = `${listener.nodeId}@127.0.0.1:${listener.quicPort}`;
    const conns: Connection[] = [];
    try {
      // 12 at once: with a threshold of 2 some are asked to retry, the rest are accepted at once.
      conns.push(...await Promise.all(Array.from({ length: 12 }, () => dial(address, { alpn: TEST_ALPN, transport: 'quic', timeoutMs: 5000 }))));
      const backs = await Promise.all(conns.map(async (c, i) => (await echo(await c.openStream(), Buffer.from(`n${i}`))).toString()));
      assert.deepEqual(backs, conns.map((_, i) => `n${i}`), `quicRetryAbove ${quicRetryAbove}`);
      assert.equal(accepted.length, 12, `one server connection per dial (quicRetryAbove ${quicRetryAbove})`);
      assert.ok(expected[quicRetryAbove]!(mints), `${mints} retries with quicRetryAbove ${quicRetryAbove}`);
    } finally {
      await Promise.all(conns.map((c) => c.close()));
      await listener.close();
    }
  }
});
