import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { forgetKnownNode, knownNodeKey, lookupKnownNode, parseKnownNodes, readKnownNodes, recordKnownNode,
  MAX_KNOWN_NODES_BYTES } from '../../actors/peers/knownNodes.ts';
import { nodeIdFromPublicKey } from '../../actors/vault/nodeId.ts';
import fc from 'fast-check';
import { newKeys, withTempDir } from './fixtures.ts';

const idA = nodeIdFromPublicKey(newKeys().publicKey);
const idB = nodeIdFromPublicKey(newKeys().publicKey);

test('keys normalize host case and bracket IPv6', () => {
  assert.equal(knownNodeKey('Example.COM', 4433), 'example.com:4433');
  assert.equal(knownNodeKey('::1', 1), '[::1]:1');
  assert.equal(knownNodeKey('[::1]', 1), '[::1]:1');
});

test('parse skips comments, blank and malformed lines', () => {
  const text = `# comment\n\n127.0.0.1:1 ${idA}\nbad line here\n[::1]:2 ${idB}\nhost:99999 ${idA}\nhost:3 notanid\n`;
  assert.deepEqual(parseKnownNodes(text), [
    { address: '127.0.0.1:1', nodeId: idA },
    { address: '[::1]:2', nodeId: idB },
  ]);
});

test('record, lookup, replace and forget; other lines survive; no temp files left', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'known_nodes');
    assert.equal(await lookupKnownNode(path, '127.0.0.1', 7000), undefined, 'a missing file is empty');
    await writeFile(path, '# mine\nsomething odd\n');
    await recordKnownNode(path, '127.0.0.1', 7000, idA);
    await recordKnownNode(path, '::1', 7001, idB);
    assert.equal(await lookupKnownNode(path, '127.0.0.1', 7000), idA);
    assert.equal(await lookupKnownNode(path, '[::1]', 7001), idB);
    await recordKnownNode(path, '127.0.0.1', 7000, idB);
    assert.equal(await lookupKnownNode(path, '127.0.0.1', 7000), idB);
    const text = await readFile(path, 'utf8');
    assert.match(text, /^# mine\nsomething odd\n/);
    assert.equal(text.split('\n').filter((l) => l.startsWith('127.0.0.1:7000')).length, 1);
    await forgetKnownNode(path, '127.0.0.1', 7000);
    assert.equal(await lookupKnownNode(path, '127.0.0.1', 7000), undefined);
    assert.equal((await readKnownNodes(path)).length, 1);
    assert.deepEqual(await readdir(dir), ['known_nodes']);
  });
});

test('concurrent records in one process all land', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'known_nodes');
    await Promise.all(Array.from({ length: 20 }, (_, i) => recordKnownNode(path, '10.0.0.1', 1000 + i, i % 2 ? idA : idB)));
    assert.equal((await readKnownNodes(path)).length, 20);
  });
});

test('an oversized file is refused, not parsed', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'known_nodes');
    await writeFile(path, 'x'.repeat(MAX_KNOWN_NODES_BYTES + 1));
    await assert.rejects(lookupKnownNode(path, 'h', 1), /larger than/);
  });
});

test('recording something that is not a node id throws', () => {
  assert.throws(() => recordKnownNode('/nonexistent/known_nodes', 'h', 1, 'nope'), /not a node id/);
});

test('fuzz: parsing arbitrary text never throws and yields only valid entries', () => {
  fc.assert(fc.property(fc.array(fc.oneof(fc.string({ maxLength: 80 }), fc.constant(`h:1 ${idA}`), fc.constant(`[::1]:2 ${idB}`))),
    (lines) => {
      for (const entry of parseKnownNodes(lines.join('\n'))) {
        assert.match(entry.address, /:\d+$/);
        assert.ok(entry.nodeId === idA || entry.nodeId === idB || entry.nodeId.length === 52);
      }
    }), { numRuns: 300 });
});
