// A protocol actor that fails (a session escalates with `session.fatal`) is restarted by its
// supervisor: its connections close with a reason, a new connection reaches the fresh actor, and a
// connection to another ALPN, opened before the crash, keeps echoing throughout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dial } from '../../actors/listener/dial.ts';
import { protocolSystemId } from '../../actors/listener/actor.ts';
import { echo, newKeys, within } from '../listener/fixtures.ts';
import { crashableEchoProtocol, echoProtocol, makeHome, poll, roundTrip, startTestNode } from './helpers.ts';

const CRASHY = 'test/crashy';
const STEADY = 'test/steady';

for (const transport of ['quic', 'tls'] as const) {
  test(`${transport}: one protocol actor crashes and is restarted while another ALPN keeps serving`, async () => {
    const home = await makeHome();
    const node = await startTestNode(home, { protocols: [crashableEchoProtocol(CRASHY), echoProtocol(STEADY)] });
    const address = `${node.nodeId}@${node.address}`;
    const closeAll: Array<() => Promise<void>> = [];
    try {
      const steady = await dial(address, { alpn: STEADY, transport, identity: newKeys() });
      closeAll.push(() => steady.close());
      const steadyStream = await steady.openStream();
      assert.equal((await roundTrip(steadyStream, Buffer.from('before'))).toString(), 'before');

      const before = node.root.system.get(protocolSystemId(CRASHY));
      assert.ok(before, 'the crashy protocol actor is registered');

      const doomed = await dial(address, { alpn: CRASHY, transport, identity: newKeys() });
      closeAll.push(() => doomed.close());
      const doomedStream = await doomed.openStream();
      doomedStream.on('error', () => {});
      assert.equal((await roundTrip(doomedStream, Buffer.from('echo me'))).toString(), 'echo me');

      // Keep the steady connection busy while the other actor crashes and restarts.
      let steadyRounds = 0;
      let steadyError: Error | null = null;
      let crashing = true;
      const steadyLoop = (async () => {
        while (crashing) {
          const text = `round ${steadyRounds}`;
          const back = await roundTrip(steadyStream, Buffer.from(text));
          assert.equal(back.toString(), text);
          steadyRounds++;
          await new Promise((r) => setTimeout(r, 5));
        }
      })().catch((err: Error) => {
        steadyError = err;
      });

      doomedStream.write('crash');
      const { reason } = await within(doomed.closed, 10_000, 'the crashed protocol\'s connection closes');
      if (transport === 'quic') assert.equal(reason, `${CRASHY} is restarting: the test asked for a crash`, 'QUIC carries the close reason');

      // The supervisor spawns a fresh actor under the same systemId.
      const fresh = await poll(() => {
        const ref = node.root.system.get(protocolSystemId(CRASHY));
        return ref && ref !== before && ref.getSnapshot().status === 'active' ? ref : undefined;
      }, 10_000, 'a fresh protocol actor');
      assert.notEqual(fresh, before);

      // A new connection to that ALPN reaches the fresh actor.
      const again = await within(
        (async () => {
          for (let i = 0; ; i++) {
            const conn = await dial(address, { alpn: CRASHY, transport, identity: newKeys() });
            try {
              const back = await roundTrip(await conn.openStream(), Buffer.from('after restart'), 2000);
              return { conn, back };
            } catch (err) {
              await conn.close().catch(() => {});
              if (i >= 20) throw err;
              await new Promise((r) => setTimeout(r, 100));
            }
          }
        })(),
        15_000,
        'a connection to the restarted protocol',
      );
      closeAll.push(() => again.conn.close());
      assert.equal(again.back.toString(), 'after restart');

      crashing = false;
      await steadyLoop;
      assert.equal(steadyError, null, `the steady connection failed: ${String(steadyError)}`);
      assert.ok(steadyRounds > 0, 'the steady connection echoed during the crash');
      assert.equal((await roundTrip(steadyStream, Buffer.from('after'))).toString(), 'after');
      // The steady ALPN still takes new connections too.
      const late = await dial(address, { alpn: STEADY, transport: 'quic', identity: newKeys() });
      closeAll.push(() => late.close());
      assert.equal((await echo(await late.openStream(), Buffer.from('late'))).toString(), 'late');
    } finally {
      for (const close of closeAll) await close().catch(() => {});
      await node.stop();
      home.cleanup();
    }
  });
}
