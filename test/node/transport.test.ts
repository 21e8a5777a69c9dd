// Through a whole node (startNode on 127.0.0.1:0): QUIC and TLS clients reach a protocol by its
// ALPN, an unregistered ALPN and a wrong pinned key are refused, and the per-IP limit holds.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { dial } from '../../actors/listener/dial.ts';
import { REASON_TOO_MANY_FROM_IP } from '../../actors/listener/listener.ts';
import type { Connection } from '../../actors/listener/connection.ts';
import { nodeIdFromPublicKey } from '../../actors/vault/nodeId.ts';
import { DEFAULT_CONFIG } from '../../supervisors/config.ts';
import type { RunningNode } from '../../supervisors/startNode.ts';
import { echo, newKeys, within } from '../listener/fixtures.ts';
import { echoProtocol, makeHome, roundTrip, startTestNode, type TestHome } from './helpers.ts';
import { builtinProtocols } from '../../protocols/builtin.ts';

const TRANSPORTS = ['quic', 'tls'] as const;
const ECHO = 'test/echo';
const OTHER = 'test/other';

let home: TestHome;
let node: RunningNode;

before(async () => {
  home = await makeHome();
  node = await startTestNode(home, { protocols: [echoProtocol(ECHO), echoProtocol(OTHER)] });
});

after(async () => {
  await node?.stop();
  home?.cleanup();
});

test('the node listens on one port number for both transports and offers every registered ALPN', () => {
  assert.equal(node.quicPort, node.tcpPort);
  assert.ok(node.quicPort > 0);
  assert.equal(node.address, `127.0.0.1:${node.quicPort}`);
  assert.deepEqual([...node.alpns].sort(), [...builtinProtocols({ home: home.home, config: DEFAULT_CONFIG }).map((p) => p.alpn), ECHO, OTHER].sort());
});

for (const transport of TRANSPORTS) {
  test(`${transport}: a client reaches a test protocol by its ALPN and gets its bytes echoed`, async () => {
    for (const alpn of [ECHO, OTHER]) {
      const conn = await dial(`${node.nodeId}@${node.address}`, { alpn, transport, identity: newKeys() });
      try {
        assert.equal(conn.alpn, alpn);
        assert.equal(conn.peer?.nodeId, node.nodeId);
        const payload = Buffer.from(`hello ${alpn} over ${transport}`);
        assert.deepEqual(await echo(await conn.openStream(), payload), payload);
      } finally {
        await conn.close('done');
      }
    }
  });

  test(`${transport}: an ALPN no protocol registered is refused at the handshake`, async () => {
    await assert.rejects(
      dial(`${node.nodeId}@${node.address}`, { alpn: 'test/unregistered', transport, identity: newKeys(), timeoutMs: 5000 }),
      /refused ALPN "test\/unregistered"/,
    );
  });

  test(`${transport}: a pinned key that is not the node's is refused`, async () => {
    const wrong = nodeIdFromPublicKey(newKeys().publicKey);
    await assert.rejects(
      dial(`${wrong}@${node.address}`, { alpn: ECHO, transport, identity: newKeys(), timeoutMs: 5000 }),
      (err: Error) => err.message.includes(`expected ${wrong}`) && err.message.includes(`got ${node.nodeId}`),
    );
  });
}

test('the per-IP connection limit from the config holds through the node (both transports count)', async () => {
  const limited = await makeHome();
  const config = structuredClone(DEFAULT_CONFIG);
  config.limits.perIp = 2;
  const n = await startTestNode(limited, { config, protocols: [echoProtocol(ECHO)] });
  const open: Connection[] = [];
  const address = `${n.nodeId}@${n.address}`;
  try {
    open.push(await dial(address, { alpn: ECHO, transport: 'quic' }));
    open.push(await dial(address, { alpn: ECHO, transport: 'tls' }));
    // Both work (the TLS connection's one stream stays open: ending it would end the connection).
    const tlsStream = await open[1]!.openStream();
    assert.equal((await roundTrip(tlsStream, Buffer.from('ok'))).toString(), 'ok');
    assert.equal((await echo(await open[0]!.openStream(), Buffer.from('ok'))).toString(), 'ok');
    // A third over QUIC is closed with the reason; over TLS the TCP connection is dropped.
    const quicThird = await dial(address, { alpn: ECHO, transport: 'quic', timeoutMs: 5000 }).then(
      async (conn) => (await within(conn.closed, 5000, 'third QUIC connection closed')).reason,
      (err: Error) => err.message,
    );
    assert.equal(quicThird, REASON_TOO_MANY_FROM_IP);
    const tlsThird = await dial(address, { alpn: ECHO, transport: 'tls', timeoutMs: 5000 }).then(
      async (conn) => {
        // A TLS connection that got through must not be able to echo.
        const reply = await echo(await conn.openStream(), Buffer.from('x')).then((b) => b.toString(), (e: Error) => e.message);
        return `accepted (${reply})`;
      },
      (err: Error) => err.message,
    );
    assert.doesNotMatch(tlsThird, /^accepted \(x\)$/);
    // The two admitted connections still work.
    assert.equal((await roundTrip(tlsStream, Buffer.from('still'))).toString(), 'still');
    // Once one closes, a new connection is let in.
    await open.shift()!.close('done');
    const again = await within(
      (async () => {
        for (let i = 0; i < 50; i++) {
          try {
            const conn = await dial(address, { alpn: ECHO, transport: 'quic', timeoutMs: 2000 });
            const reason = await Promise.race([conn.closed.then((c) => c.reason), new Promise<null>((r) => setTimeout(() => r(null), 200))]);
            if (reason === null) return conn;
          } catch {
            /* not yet freed */
          }
          await new Promise((r) => setTimeout(r, 50));
        }
        throw new Error('no connection let in after one closed');
      })(),
      15_000,
      'a new connection after one closed',
    );
    open.push(again);
    assert.equal((await echo(await again.openStream(), Buffer.from('again'))).toString(), 'again');
  } finally {
    await Promise.all(open.map((c) => c.close().catch(() => {})));
    await n.stop();
    limited.cleanup();
  }
});
