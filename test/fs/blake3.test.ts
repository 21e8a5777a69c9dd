// BLAKE3: the published vectors, a cross-check against @noble/hashes on random inputs and splits,
// the tree pieces (chunkCV / parentCV / subtreeCV) against the whole hash, and the b3sum CLI.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { blake3 as nobleBlake3 } from '@noble/hashes/blake3.js';
import { Blake3Hasher, blake3, chunkCV, deriveKey, keyedHash, parentCV, subtreeCV } from '../../actors/fs/hash/blake3.ts';
import { hex, pattern251, seededBytes, projectRoot, type Blake3Vectors } from './fixtures.ts';
import { requireTool } from '../support/tools.ts';
import { requireVectors } from '../support/vectors.ts';

const published = requireVectors<Blake3Vectors>('blake3.json');




describe('blake3 published vectors', () => {
  const { skip } = published;

  it('hash, keyed_hash and derive_key, extended output and 32-byte default', { skip }, () => {
    const vectors = published.value;
    const key = new TextEncoder().encode(vectors.key);
    assert.equal(vectors.cases.length, 35);
    for (const c of vectors.cases) {
      const input = pattern251(c.input_len);
      const outLen = c.hash.length / 2;
      assert.equal(hex(blake3(input, { length: outLen })), c.hash, `hash len ${c.input_len}`);
      assert.equal(hex(blake3(input)), c.hash.slice(0, 64), `hash default len ${c.input_len}`);
      assert.equal(hex(keyedHash(key, input, { length: outLen })), c.keyed_hash, `keyed len ${c.input_len}`);
      assert.equal(hex(keyedHash(key, input)), c.keyed_hash.slice(0, 64));
      assert.equal(hex(deriveKey(vectors.context_string, input, { length: outLen })), c.derive_key, `derive len ${c.input_len}`);
      assert.equal(hex(deriveKey(vectors.context_string, input)), c.derive_key.slice(0, 64));
    }
  });

  it('incremental hasher in odd pieces and seekable XOF match the vectors', { skip }, () => {
    const vectors = published.value;
    for (const c of vectors.cases) {
      const input = pattern251(c.input_len);
      const hasher = new Blake3Hasher();
      for (let pos = 0, step = 1; pos < input.length; pos += step, step = (step * 7 + 3) % 1500 + 1) {
        hasher.update(input.subarray(pos, pos + step));
      }
      assert.equal(hex(hasher.digest(c.hash.length / 2)), c.hash);
      assert.equal(hex(hasher.digestAt(37, 50)), c.hash.slice(74, 174));
    }
  });
});

describe('blake3 against @noble/hashes', () => {
  it('boundary sizes, whole and incremental', () => {
    const sizes = [0, 1, 63, 64, 65, 1023, 1024, 1025, 2048, 16383, 16384, 16385, 65536 + 1, 3 * 1024 * 1024 + 17];
    for (const size of sizes) {
      const input = seededBytes(size, size + 1);
      const expected = hex(nobleBlake3(input));
      assert.equal(hex(blake3(input)), expected, `size ${size}`);
      const hasher = new Blake3Hasher();
      hasher.update(input.subarray(0, size >> 1)).update(input.subarray(size >> 1));
      assert.equal(hex(hasher.digest()), expected, `split size ${size}`);
    }
  });

  it('random sizes, splits, keys and output lengths (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 40_000 }), fc.integer({ min: 0, max: 40_000 }), fc.integer({ min: 1, max: 200 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.integer(),
        (size, splitAt, outLen, key, seed) => {
          const input = seededBytes(size, seed);
          const split = Math.min(splitAt, size);
          assert.equal(hex(blake3(input, { length: outLen })), hex(nobleBlake3(input, { dkLen: outLen })));
          const hasher = Blake3Hasher.keyed(key).update(input.subarray(0, split)).update(input.subarray(split));
          assert.equal(hex(hasher.digest()), hex(nobleBlake3(input, { key })));
          assert.equal(hex(deriveKey('alknet test context', input)), hex(nobleBlake3(input, { context: new TextEncoder().encode('alknet test context') })));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('an 8 MiB input', () => {
    const input = seededBytes(8 * 1024 * 1024 + 5, 99);
    assert.equal(hex(blake3(input)), hex(nobleBlake3(input)));
  });
});

describe('blake3 tree pieces', () => {
  it('chunkCV and parentCV rebuild the hash of 3 chunks', () => {
    const input = seededBytes(2500, 7);
    const c0 = chunkCV(input.subarray(0, 1024), 0, false);
    const c1 = chunkCV(input.subarray(1024, 2048), 1, false);
    const c2 = chunkCV(input.subarray(2048), 2, false);
    // BLAKE3 splits 3 chunks as (2 | 1): the left subtree is the largest power of two.
    const root = parentCV(parentCV(c0, c1, false), c2, true);
    assert.equal(hex(root), hex(blake3(input)));
    assert.notEqual(hex(parentCV(parentCV(c0, c1, false), c2, false)), hex(root), 'the root flag changes the value');
  });

  it('a single chunk with the root flag is the hash', () => {
    for (const size of [0, 1, 1024]) {
      const input = seededBytes(size, 3);
      assert.equal(hex(chunkCV(input, 0, true)), hex(blake3(input)));
    }
    assert.throws(() => chunkCV(new Uint8Array(1025), 0, false), /at most 1024/);
  });

  it('subtreeCV of 16 KiB groups rebuilds the hash', () => {
    const input = seededBytes(40_000, 11);
    const g0 = subtreeCV(input.subarray(0, 16384), 0, false);
    const g1 = subtreeCV(input.subarray(16384, 32768), 16, false);
    const g2 = subtreeCV(input.subarray(32768), 32, false);
    assert.equal(hex(parentCV(parentCV(g0, g1, false), g2, true)), hex(blake3(input)));
    assert.equal(hex(subtreeCV(input, 0, true)), hex(blake3(input)));
  });

  it('rejects a bad key length and output length', () => {
    assert.throws(() => keyedHash(new Uint8Array(31), new Uint8Array(1)), /32 bytes/);
    assert.throws(() => blake3(new Uint8Array(1), { length: -1 }), /bad output length/);
  });
});

describe('blake3 generated code', () => {
  it('blake3-compress.ts is what blake3-codegen.ts writes', () => {
    const generated = execFileSync(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'actors/fs/hash/blake3-codegen.ts')], {
      cwd: projectRoot, encoding: 'utf8', timeout: 30_000,
    });
    assert.equal(generated, readFileSync(path.join(projectRoot, 'actors/fs/hash/blake3-compress.ts'), 'utf8'));
  });
});

describe('blake3 against the b3sum CLI', () => {
  const tool = requireTool('b3sum', 'b3sum');
  it('hashes a 5 MiB file the same', { skip: tool.skip }, () => {
    const b3sum = tool.value;
    const dir = mkdtempSync(path.join(tmpdir(), 'alknet-blake3-'));
    try {
      const file = path.join(dir, 'input.bin');
      const input = seededBytes(5 * 1024 * 1024 + 333, 42);
      writeFileSync(file, input);
      const output = execFileSync(b3sum, ['--no-names', file], { encoding: 'utf8', timeout: 30_000 }).trim();
      assert.equal(hex(blake3(input)), output);
      const long = execFileSync(b3sum, ['--no-names', '--length', '100', file], { encoding: 'utf8', timeout: 30_000 }).trim();
      assert.equal(hex(blake3(input, { length: 100 })), long);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
