// The BLAKE3 WebAssembly SIMD kernel: the published vectors through it and through the TypeScript
// kernel alone, both against @noble/hashes on random sizes, splits and tree positions, the kernel's
// chunk counters above 2^32, and the generated files (.wat from its generator, base64 from the .wat).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import fc from 'fast-check';
import { blake3 as nobleBlake3 } from '@noble/hashes/blake3.js';
import { Blake3Hasher, blake3, deriveKey, keyedHash, parentCV, simdKernelActive, subtreeCV, useSimdKernel } from '../../actors/fs/hash/blake3.ts';
import { IV, compressChunks } from '../../actors/fs/hash/blake3-compress.ts';
import { SIMD_MAX_CHUNKS, simdKernel } from '../../actors/fs/hash/blake3-simd.ts';
import { hex, pattern251, seededBytes, projectRoot, type Blake3Vectors } from './fixtures.ts';
import { requireVectors } from '../support/vectors.ts';

const published = requireVectors<Blake3Vectors>('blake3.json');




/** Runs `work` with the SIMD kernel on or off, restoring the previous choice. */
function withKernel<T>(simd: boolean, work: () => T): T {
  const was = useSimdKernel(simd);
  try {
    return work();
  } finally {
    useSimdKernel(was);
  }
}

after(() => useSimdKernel(true));

describe('blake3 SIMD kernel', () => {
  it('loads on this runtime (Node.js 20 has WebAssembly SIMD) and is the default', () => {
    assert.ok(simdKernel, 'the WebAssembly SIMD module did not load');
    assert.equal(simdKernelActive(), true);
    assert.equal(useSimdKernel(false), true);
    assert.equal(simdKernelActive(), false);
    assert.equal(useSimdKernel(true), false);
  });

  for (const simd of [true, false]) {
    it(`published vectors, every case and mode, ${simd ? 'SIMD' : 'TypeScript only'}`, { skip: published.skip }, () => {
      const vectors = published.value;
      withKernel(simd, () => {
        const key = new TextEncoder().encode(vectors.key);
        for (const c of vectors.cases) {
          const input = pattern251(c.input_len);
          const outLen = c.hash.length / 2;
          assert.equal(hex(blake3(input, { length: outLen })), c.hash, `hash len ${c.input_len}`);
          assert.equal(hex(keyedHash(key, input, { length: outLen })), c.keyed_hash, `keyed len ${c.input_len}`);
          assert.equal(hex(deriveKey(vectors.context_string, input, { length: outLen })), c.derive_key, `derive len ${c.input_len}`);
          // Pieces of 3000 bytes: the hasher crosses chunk boundaries mid-piece and re-aligns.
          const hasher = new Blake3Hasher();
          for (let at = 0; at < input.length; at += 3000) hasher.update(input.subarray(at, at + 3000));
          assert.equal(hex(hasher.digest(outLen)), c.hash, `pieces len ${c.input_len}`);
        }
      });
    });
  }

  it('SIMD, TypeScript and @noble/hashes agree on random sizes, splits and modes (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 300_000 }), fc.array(fc.integer({ min: 0, max: 300_000 }), { maxLength: 4 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.integer(), fc.constantFrom('hash', 'keyed', 'derive'),
        (size, cuts, key, seed, mode) => {
          const input = seededBytes(size, seed);
          const points = [0, ...cuts.map((c) => Math.min(c, size)).sort((a, b) => a - b), size];
          const make = (): Blake3Hasher => mode === 'keyed' ? Blake3Hasher.keyed(key) : mode === 'derive' ? Blake3Hasher.deriveKey('alknet simd test') : new Blake3Hasher();
          const run = (simd: boolean): string => withKernel(simd, () => {
            const hasher = make();
            for (let i = 1; i < points.length; i++) hasher.update(input.subarray(points[i - 1], points[i]));
            return hex(hasher.digest(40));
          });
          const noble = hex(nobleBlake3(input, {
            dkLen: 40,
            ...(mode === 'keyed' ? { key } : mode === 'derive' ? { context: new TextEncoder().encode('alknet simd test') } : {}),
          }));
          assert.equal(run(true), noble);
          assert.equal(run(false), noble);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('subtreeCV of power-of-two groups at any aligned position matches the TypeScript kernel (fast-check)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 2 ** 40 }), fc.integer(), (log, slot, seed) => {
        const chunks = 2 ** log;
        const input = seededBytes(chunks * 1024, seed);
        const startChunk = slot * chunks;
        const simd = withKernel(true, () => hex(subtreeCV(input, startChunk, false)));
        assert.equal(simd, withKernel(false, () => hex(subtreeCV(input, startChunk, false))));
      }),
      { numRuns: 30 },
    );
  });

  it('16 KiB groups through the SIMD path rebuild the @noble/hashes root', () => {
    const input = seededBytes(5 * 16384 + 100, 5);
    const g = [0, 1, 2, 3, 4, 5].map((i) => subtreeCV(input.subarray(i * 16384, (i + 1) * 16384), i * 16, false));
    const root = parentCV(parentCV(parentCV(g[0]!, g[1]!, false), parentCV(g[2]!, g[3]!, false), false), parentCV(g[4]!, g[5]!, false), true);
    assert.equal(hex(root), hex(nobleBlake3(input)));
  });

  it('chunk counters above 2^32 and every count up to the batch size match compressChunks', () => {
    const input = seededBytes(SIMD_MAX_CHUNKS * 1024, 77);
    const words = new Uint32Array(input.buffer.slice(0));
    for (const [count, counter] of [[1, 0], [3, 2 ** 32 - 2], [5, 2 ** 40 + 1], [SIMD_MAX_CHUNKS, 2 ** 52], [7, 9]] as const) {
      const fromSimd = new Uint32Array(count * 8);
      const fromTs = new Uint32Array(count * 8);
      simdKernel!.chunkCvs(IV, input, 0, count, counter, 0, fromSimd, 0);
      compressChunks(IV, words, 0, count, counter, 0, fromTs, 0);
      assert.deepEqual(fromSimd, fromTs, `count ${count} counter ${counter}`);
    }
    assert.throws(() => simdKernel!.chunkCvs(IV, input, 0, SIMD_MAX_CHUNKS + 1, 0, 0, new Uint32Array(8 * 300), 0), /bad chunk count/);
  });

  it('an 8 MiB input and a 1 MiB-piece stream agree with @noble/hashes', () => {
    const input = seededBytes(8 * 1024 * 1024 + 999, 3);
    const expected = hex(nobleBlake3(input));
    assert.equal(hex(blake3(input)), expected);
    const hasher = new Blake3Hasher();
    for (let at = 0; at < input.length; at += 1 << 20) hasher.update(input.subarray(at, at + (1 << 20)));
    assert.equal(hex(hasher.digest()), expected);
  });
});

describe('blake3 SIMD generated files', () => {
  it('blake3-simd.wat is what blake3-simd-codegen.ts writes', () => {
    const generated = execFileSync(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'actors/fs/hash/blake3-simd-codegen.ts')], {
      cwd: projectRoot, encoding: 'utf8', timeout: 30_000,
    });
    assert.equal(generated, readFileSync(path.join(projectRoot, 'actors/fs/hash/blake3-simd.wat'), 'utf8'));
  });

  let wabtInstalled = true;
  try {
    createRequire(import.meta.url).resolve('wabt');
  } catch {
    wabtInstalled = false;
  }
  it('blake3-simd-module.ts is blake3-simd.wat assembled', { skip: wabtInstalled ? false : 'wabt (npm devDependency) is not installed' }, async () => {
    const { WAT_FILE, MODULE_FILE, assembleWat, moduleSource } = await import('../../actors/fs/hash/blake3-simd-build.ts');
    const wasm = await assembleWat(readFileSync(WAT_FILE, 'utf8'));
    assert.equal(moduleSource(wasm), readFileSync(MODULE_FILE, 'utf8'));
  });
});
