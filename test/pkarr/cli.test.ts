// `alknet pkarr publish` and `alknet pkarr resolve`, run as a user would. publish runs in its own
// process on the home of a running node A: the packet lands in the LMDB store that A shares, so A's
// relay serves it at once; node B's home then resolves A through A as its relay. Mistakes are one
// line with exit 2 (usage) or 1 (failure).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { alknet, alknetLines } from '../cli/run.ts';
import { nodeIdFromPublicKey } from '../../lib/nodeId.ts';
import { verifySignedPacket } from '../../lib/pkarr/signedPacket.ts';
import { skipUnlessTool } from '../support/tools.ts';
import { curlBinary, startPkarrNode, type PkarrNode } from './helpers.ts';

let a: PkarrNode;
let b: PkarrNode;
before(async () => {
  [a, b] = await Promise.all([startPkarrNode(), startPkarrNode()]);
});
after(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  a?.cleanup();
  b?.cleanup();
});

test('publish on node A (its home, another process); A serves it as relay; resolve from B through A', { skip: skipUnlessTool('curl', 'curl') }, async () => {
  const own = `127.0.0.1:${a.node.tcpPort}`;
  const pub = await alknet(['--home', a.home.home, 'pkarr', 'publish', '--address', own, '--json'], { env: { ALKNET_PASSPHRASE: a.home.passphrase } });
  assert.equal(pub.code, 0, pub.stderr);
  const published = JSON.parse(pub.stdout) as { nodeId: string; addresses: string[]; dht: boolean; packet: string };
  assert.equal(published.nodeId, a.node.nodeId);
  assert.deepEqual(published.addresses, [own]);
  const bytes = Buffer.from(published.packet, 'base64');
  verifySignedPacket(a.node.nodeId, bytes);
  // The running node reads the store the CLI wrote: its relay answers with the same bytes.
  const g = await curlBinary(a.node, `/${a.node.nodeId}`);
  assert.equal(g.status, 200);
  assert.ok(g.body.equals(bytes));

  const res = await alknet(['--home', b.home.home, 'pkarr', 'resolve', a.node.nodeId, '--relay', a.address, '--json']);
  assert.equal(res.code, 0, res.stderr);
  const resolved = JSON.parse(res.stdout) as { source: string; addresses: string[]; packet: string; records: { type: string; name: string }[] };
  assert.equal(resolved.source, 'relay');
  assert.deepEqual(resolved.addresses, [own]);
  assert.equal(resolved.packet, published.packet);
  assert.deepEqual(resolved.records.map((r) => r.type).sort(), ['A', 'TXT']);
  // B's running node sees what its home's store now holds.
  const onB = await b.node.bus.request('pkarr', 'pkarr.get', { publicKey: a.node.nodeId }, { deadlineMs: 5_000 });
  assert.deepEqual(onB.packet && Buffer.from(onB.packet), bytes);

  // Human output, from the local store now, and through [pkarr] relays of the home's config.
  const text = await alknet(['--home', b.home.home, 'pkarr', 'resolve', a.node.nodeId]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /source:\s+local/);
  assert.match(text.stdout, new RegExp(`_alknet\\.${a.node.nodeId} 300 IN TXT "addr=${own.replace(/\./g, '\\.')}"`));
  const clientHome = fs.mkdtempSync(path.join(path.dirname(b.home.home), 'alknet-pkarr-cfg-'));
  try {
    fs.writeFileSync(path.join(clientHome, 'config.toml'), `[pkarr]\nrelays = ["${a.address}"]\n`);
    const viaConfig = await alknet(['--home', clientHome, 'pkarr', 'resolve', a.node.nodeId]);
    assert.equal(viaConfig.code, 0, viaConfig.stderr);
    assert.match(viaConfig.stdout, /source:\s+relay/);
  } finally {
    fs.rmSync(clientHome, { recursive: true, force: true });
  }
});

test('publish to a relay: B publishes its packet to A with --relay', async () => {
  const r = await alknet(['--home', b.home.home, 'pkarr', 'publish', '--address', `127.0.0.1:${b.node.tcpPort}`, '--relay', a.address], { env: { ALKNET_PASSPHRASE: b.home.passphrase } });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.includes(`relay:       ${a.address}: ok`), r.stdout);
  const onA = await a.node.bus.request('pkarr', 'pkarr.get', { publicKey: b.node.nodeId }, { deadlineMs: 5_000 });
  assert.ok(onA.packet);
});

test('mistakes are one line: exit 2 for usage, 1 for failures', async () => {
  const badId = await alknet(['pkarr', 'resolve', 'not-an-id']);
  assert.equal(badId.code, 2);
  assert.deepEqual(alknetLines(badId.stderr), ['alknet: "not-an-id" is not a node id (52 z-base-32 characters)']);
  const badRelay = await alknet(['--home', b.home.home, 'pkarr', 'resolve', a.node.nodeId, '--relay', 'nowhere']);
  assert.equal(badRelay.code, 2);
  assert.match(badRelay.stderr, /--relay: address "nowhere"/);
  const portZero = await alknet(['--home', a.home.home, 'pkarr', 'publish', '--address', '127.0.0.1:0'], { env: { ALKNET_PASSPHRASE: a.home.passphrase } });
  assert.equal(portZero.code, 2);
  assert.match(portZero.stderr, /port 0/);
  const noPassphrase = await alknet(['--home', a.home.home, 'pkarr', 'publish', '--address', '127.0.0.1:9']);
  assert.equal(noPassphrase.code, 1);
  assert.equal(alknetLines(noPassphrase.stderr).length, 1, noPassphrase.stderr);
  assert.match(noPassphrase.stderr, /ALKNET_PASSPHRASE/);
  const wrongPassphrase = await alknet(['--home', a.home.home, 'pkarr', 'publish', '--address', '127.0.0.1:9'], { env: { ALKNET_PASSPHRASE: 'wrong' } });
  assert.equal(wrongPassphrase.code, 1);
  assert.equal(alknetLines(wrongPassphrase.stderr).length, 1, wrongPassphrase.stderr);
  assert.match(wrongPassphrase.stderr, /passphrase/i);
  const nobody = nodeIdFromPublicKey(ed25519.getPublicKey(new Uint8Array(randomBytes(32))));
  const unknown = await alknet(['--home', b.home.home, 'pkarr', 'resolve', nobody, '--relay', a.address]);
  assert.equal(unknown.code, 1);
  assert.deepEqual(alknetLines(unknown.stderr), [`alknet: no signed packet for ${nobody} (asked: ${a.address})`]);
  const noHome = await alknet(['--home', '/nonexistent/alknet-home', 'pkarr', 'publish']);
  assert.equal(noHome.code, 1);
  assert.match(noHome.stderr, /no home folder/);
});
