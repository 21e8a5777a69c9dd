// A QUIC client's UDP socket is its own: when its connection ends, the socket goes, whichever side
// closed first — also when the client's close() crosses the server's CONNECTION_CLOSE, where js-quic
// left the socket open (and the process alive: found by the SSH hardening tests).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dial } from '../../actors/listener/dial.ts';
import { sessionFromHandler, type ProtocolSpec } from '../../protocols/protocol.ts';
import { makeHome, poll, startTestNode } from '../node/helpers.ts';

/** Closes its connection as soon as a byte arrives. */
const closer: ProtocolSpec = {
  alpn: 'test/closer',
  session: sessionFromHandler(({ conn }) => {
    conn.onStream((stream) => {
      stream.on('error', () => {});
      stream.on('data', () => void conn.close('bye'));
    });
  }),
};

const udpSockets = (): number => process.getActiveResourcesInfo().filter((r) => r === 'UDPWRAP').length;

test('40 QUIC clients that close while the server closes them leave no UDP socket behind', async () => {
  const home = await makeHome();
  const node = await startTestNode(home, { agent: false, protocols: [closer] });
  try {
    const before = udpSockets();
    for (let i = 0; i < 40; i++) {
      const conn = await dial(`${node.nodeId}@${node.address}`, { alpn: closer.alpn, transport: 'quic' });
      const stream = await conn.openStream();
      stream.on('error', () => {});
      stream.write('x');
      // Close at slightly different moments around the server's own close.
      for (let turn = 0; turn < i % 5; turn++) await new Promise((r) => setImmediate(r));
      await conn.close('mine').catch(() => {});
      await conn.closed;
    }
    const left = await poll(() => (udpSockets() === before ? before : undefined), 10_000, 'every client socket closed').catch(() => udpSockets());
    assert.equal(left, before, `${left - before} client UDP socket(s) left open`);
  } finally {
    await node.stop();
    home.cleanup();
  }
});
