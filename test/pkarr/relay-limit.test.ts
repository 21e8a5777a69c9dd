// The relay's PUT rate per address ([pkarr] relayPutsPerMinute, relayPutBurst): past it 429 with
// Retry-After, so one client cannot flood the bounded store with fresh keys and evict everyone
// else's records; another address is still served, and GET is never limited.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { skipUnlessTool } from '../support/tools.ts';
import { bodyFile, curlBinary, outsidePackets, requirePythonCryptography, startPkarrNode, type OutsidePackets, type PkarrNode } from './helpers.ts';

const python = requirePythonCryptography();
const skip = skipUnlessTool('curl', 'curl') || python.skip;

let node: PkarrNode;
let outside: OutsidePackets;
before(async () => {
  if (skip) return;
  outside = outsidePackets(python.value);
  node = await startPkarrNode({ relayPutsPerMinute: 1, relayPutBurst: 3 });
});
after(async () => {
  await node?.stop();
  node?.cleanup();
});

const put = (from: string) =>
  curlBinary(node.node, `/${outside.z32}`, ['--interface', from, '-X', 'PUT', '--data-binary', `@${bodyFile(outside.good)}`]);

test('past its burst an address gets 429 with Retry-After; another address and GETs are served', { skip }, async () => {
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) statuses.push((await put('127.0.0.1')).status);
  assert.deepEqual(statuses.slice(0, 3), [204, 204, 204], `the burst is served: ${statuses}`);
  const limited = await put('127.0.0.1');
  assert.equal(limited.status, 429, limited.body.toString());
  assert.equal(limited.headers['retry-after'], '60');
  assert.match(limited.body.toString(), /at most 1 a minute/);
  assert.equal((await put('127.0.0.2')).status, 204, 'another address has its own bucket');
  const got = await curlBinary(node.node, `/${outside.z32}`);
  assert.equal(got.status, 200);
  assert.ok(got.body.equals(outside.good));
});
