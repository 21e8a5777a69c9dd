// Closing a QUIC client does not hold the caller for the draining period: close() returns once the
// server has been told (CONNECTION_CLOSE), the connection drains in the background, and a process
// that closed its client exits on its own, with the server knowing why the connection ended.
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { dial } from '../../actors/listener/dial.ts';
import { newKeys } from '../listener/fixtures.ts';
import { makeHome, spawnChild, startTestNode, type TestHome } from '../node/helpers.ts';
import type { RunningNode } from '../../supervisors/startNode.ts';
import { track } from '../support/settle.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
let home: TestHome;
let node: RunningNode;

before(async () => {
  home = await makeHome('alknet-call-close-');
  node = await startTestNode(home);
});
after(async () => {
  await node?.stop();
  home?.cleanup();
});

/** Resolves with the reason of the next connection.closed the node publishes. */
function nextClose(): Promise<string> {
  return new Promise((resolve) => {
    const off = node.bus.subscribe('connection.closed', ({ reason }) => {
      off();
      resolve(reason);
    });
  });
}

test('close() returns before the drain ends; closed resolves after it; the server hears the reason', async () => {
  const serverSaw = nextClose();
  const conn = await dial(`${node.nodeId}@${node.address}`, { alpn: 'alknet/call', transport: 'quic', identity: newKeys() });
  await conn.close('done here');
  const closed = track(conn.closed);
  await new Promise((r) => setImmediate(r));
  assert.equal(closed.outcome.state, 'pending', 'close() returned while the connection still drains');
  assert.deepEqual(await conn.closed, { reason: 'done here' });
  assert.equal(await serverSaw, 'done here');
});

test('a process that closes its QUIC client exits on its own, and the server got the close', async () => {
  const serverSaw = nextClose();
  const child = spawnChild(['--import', 'tsx', path.join(here, 'closeFixture.ts'), `${node.nodeId}@${node.address}`, path.join(home.home, 'known_nodes')]);
  // A child still alive after 30 s is killed, and then fails on its signal.
  const { code, signal } = await child.exited(30_000);
  assert.equal(signal, null, `the process exited by itself (stderr: ${child.stderr().slice(0, 500)})`);
  assert.equal(code, 0, child.stderr().slice(0, 500));
  assert.deepEqual(child.stdout().trim().split('\n'), [node.nodeId, 'closed']);
  assert.equal(await serverSaw, 'client closed', 'the CONNECTION_CLOSE left before the process did');
});
