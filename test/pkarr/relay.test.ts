// The pkarr relay API on a real node, spoken by curl: a signed packet made outside the project
// (a fresh key, a hand-built DNS packet, signed by Python's cryptography) stored with PUT and read
// back with GET byte for byte; a flipped byte, a forged signature and a stale packet refused with
// pkarr's statuses; If-Modified-Since; the size limit; and the records surviving a restart.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeIdFromPublicKey } from '../../lib/nodeId.ts';
import { readNodeRecords } from '../../lib/pkarr/records.ts';
import { verifySignedPacket } from '../../lib/pkarr/signedPacket.ts';
import { skipUnlessTool } from '../support/tools.ts';
import { bodyFile, curlBinary, outsidePackets, requirePythonCryptography, startPkarrNode, type OutsidePackets, type PkarrNode } from './helpers.ts';

const python = requirePythonCryptography();
const skip = skipUnlessTool('curl', 'curl') || python.skip;

let node: PkarrNode;
let outside: OutsidePackets;
before(async () => {
  if (skip) return;
  outside = outsidePackets(python.value);
  node = await startPkarrNode();
});
after(async () => {
  await node?.stop();
  node?.cleanup();
});

const put = (bytes: Uint8Array, z32 = outside.z32, extra: string[] = []) =>
  curlBinary(node.node, `/${z32}`, ['-X', 'PUT', '-H', 'content-type: application/pkarr.org/relays#payload', '--data-binary', `@${bodyFile(bytes)}`, ...extra]);

test('the outside key encodes to the same z-base-32 here and in Python', { skip }, () => {
  assert.equal(nodeIdFromPublicKey(outside.publicKey), outside.z32);
});

test('PUT stores the outside-signed packet (204); GET returns the very same bytes', { skip }, async () => {
  const r = await put(outside.good);
  assert.equal(r.status, 204, r.body.toString());
  assert.equal(r.headers['access-control-allow-origin'], '*');
  const g = await curlBinary(node.node, `/${outside.z32}`);
  assert.equal(g.status, 200, g.body.toString());
  assert.equal(g.headers['content-type'], 'application/pkarr.org/relays#payload');
  assert.ok(g.body.equals(outside.good), 'GET returns the bytes PUT stored');
  assert.match(g.headers['cache-control'] ?? '', /^public, max-age=300$/);
  assert.equal(g.headers['last-modified'], new Date(Math.floor(outside.timestamp / 1000)).toUTCString());
  // Its records, as the DNS front end will answer them.
  const p = verifySignedPacket(outside.z32, g.body);
  assert.deepEqual(readNodeRecords(p.dnsPacket, outside.z32).addresses, [{ host: '192.0.2.7', port: 4433 }]);
  // Over HTTP/1.1 too; HEAD gives the headers alone.
  const h1 = await curlBinary(node.node, `/${outside.z32}`, ['--http1.1']);
  assert.ok(h1.body.equals(outside.good));
  const head = await curlBinary(node.node, `/${outside.z32}`, ['-I']);
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], String(outside.good.length));
  assert.ok(!head.body.includes(outside.good), 'no body on HEAD (curl -I writes the headers to -o)');
});

test('one flipped byte anywhere is refused with 400; the stored packet is unchanged', { skip }, async () => {
  for (const at of [0, 40, 64, 70, 72, outside.good.length - 1]) {
    const bad = Buffer.from(outside.good);
    bad[at]! ^= 0x01;
    const r = await put(bad);
    assert.equal(r.status, 400, `byte ${at}: ${r.status} ${r.body}`);
  }
  const g = await curlBinary(node.node, `/${outside.z32}`);
  assert.ok(g.body.equals(outside.good));
});

test('a forged packet (signed by another key) is 400; a stale one is 409; the same again is 204', { skip }, async () => {
  const forged = await put(outside.forged);
  assert.equal(forged.status, 400, forged.body.toString());
  assert.match(forged.body.toString(), /signature/);
  const stale = await put(outside.stale);
  assert.equal(stale.status, 409, stale.body.toString());
  const again = await put(outside.good);
  assert.equal(again.status, 204);
  const g = await curlBinary(node.node, `/${outside.z32}`);
  assert.ok(g.body.equals(outside.good), 'still the first packet');
});

test('If-Modified-Since: 304 when the packet is not newer; If-Unmodified-Since older than the stored one: 412', { skip }, async () => {
  const since = new Date(Math.floor(outside.timestamp / 1000) + 1000).toUTCString();
  const r = await curlBinary(node.node, `/${outside.z32}`, ['-H', `If-Modified-Since: ${since}`]);
  assert.equal(r.status, 304);
  assert.equal(r.body.length, 0);
  const earlier = new Date(Math.floor(outside.timestamp / 1000) - 10_000).toUTCString();
  const r2 = await curlBinary(node.node, `/${outside.z32}`, ['-H', `If-Modified-Since: ${earlier}`]);
  assert.equal(r2.status, 200);
  const cas = await put(outside.newer, outside.z32, ['-H', `If-Unmodified-Since: ${earlier}`]);
  assert.equal(cas.status, 412, cas.body.toString());
});

test('a body above 1072 bytes is 413; a short one 400; a bad key 400; an unknown key 404', { skip }, async () => {
  const big = await put(Buffer.alloc(1073, 1));
  assert.equal(big.status, 413);
  const short = await put(Buffer.alloc(80, 1));
  assert.equal(short.status, 400);
  // 52 z-base-32 characters that are not an Ed25519 point are refused as a key (32 bytes of 0x02 are none).
  const notAPoint = nodeIdFromPublicKey(Buffer.alloc(32, 2));
  const bad = await curlBinary(node.node, `/${notAPoint}`);
  assert.equal(bad.status, 400);
  assert.match(bad.body.toString(), /not an Ed25519 public key/);
  assert.equal((await curlBinary(node.node, '/' + 'y'.repeat(51))).status, 404, '51 characters: no such route');
  const unknown = await curlBinary(node.node, `/${node.node.nodeId}`);
  assert.equal(unknown.status, 404);
  const preflight = await curlBinary(node.node, `/${outside.z32}`, ['-X', 'OPTIONS']);
  assert.equal(preflight.status, 204);
  assert.match(preflight.headers['access-control-allow-methods'] ?? '', /PUT/);
});

test('a newer packet replaces the old one, and the records survive a restart of the node', { skip }, async () => {
  const r = await put(outside.newer);
  assert.equal(r.status, 204, r.body.toString());
  await node.restart();
  const g = await curlBinary(node.node, `/${outside.z32}`);
  assert.equal(g.status, 200);
  assert.ok(g.body.equals(outside.newer), 'the newer packet, read back after the restart');
  const older = await put(outside.good);
  assert.equal(older.status, 409, 'the restarted node still refuses the older packet');
});
