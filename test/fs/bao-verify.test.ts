// Verifying with the groups hashed on a worker thread (PipelinedVerifier + Blake3Pool) gives exactly
// what BaoDecoder.write gives: the same groups in the same order, the same error at the same group,
// nothing after a bad node; a cut-off stream keeps what verified; a lost pool falls back to this
// thread; an idle pool never keeps a process alive; the store writes the same blob either way.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { BaoDecoder, BaoVerifyError, encodeCombined } from '../../actors/fs/hash/bao.ts';
import type { UncheckedGroup, VerifiedGroup } from '../../actors/fs/hash/bao-decode.ts';
import { PipelinedVerifier } from '../../actors/fs/hash/bao-verify.ts';
import { Blake3Pool, defaultHashWorkers } from '../../actors/fs/hash/blake3-pool.ts';
import { subtreeCV } from '../../actors/fs/hash/blake3.ts';
import { BlobStore, BlobStoreError } from '../../actors/fs/store.ts';
import { hex, seededBytes } from './fixtures.ts';

const BAO = { chunkGroupLog: 4 } as const;
const GROUP = 16 * 1024;
const root = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));



/** Cuts `stream` into pieces of varying sizes (some splitting groups and parents). */
function pieces(stream: Uint8Array, seed: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let x = seed | 1;
  for (let at = 0; at < stream.length;) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    const len = 1 + ((x >>> 0) % (40 * 1024));
    out.push(stream.subarray(at, at + len));
    at += len;
  }
  return out;
}

/** Where each group starts in the combined stream (from the decoder's unchecked mode). */
function groupOffsets(hash: Uint8Array, size: number, stream: Uint8Array): UncheckedGroup[] {
  const out: UncheckedGroup[] = [];
  assert.equal(new BaoDecoder(hash, size, BAO).writeUnchecked(stream, out), undefined);
  return out;
}

interface Outcome { groups: VerifiedGroup[]; error?: string }

function viaDecoder(hash: Uint8Array, size: number, parts: Uint8Array[]): Outcome {
  const decoder = new BaoDecoder(hash, size, BAO);
  const groups: VerifiedGroup[] = [];
  try {
    for (const p of parts) for (const g of decoder.write(p)) groups.push(g);
    decoder.finish();
  } catch (err) {
    assert.ok(err instanceof BaoVerifyError, String(err));
    return { groups, error: err.message };
  }
  return { groups };
}

async function viaVerifier(hash: Uint8Array, size: number, parts: Uint8Array[], pool: Blake3Pool | undefined, opts = {}): Promise<Outcome> {
  const verifier = new PipelinedVerifier(new BaoDecoder(hash, size, BAO), pool, opts);
  const groups: VerifiedGroup[] = [];
  try {
    for (const p of parts) for (const g of await verifier.write(p)) groups.push(g);
    for (const g of await verifier.finish()) groups.push(g);
  } catch (err) {
    assert.ok(err instanceof BaoVerifyError, String(err));
    return { groups, error: err.message };
  }
  return { groups };
}

function sameOutcome(actual: Outcome, expected: Outcome): void {
  assert.equal(actual.error, expected.error);
  assert.equal(actual.groups.length, expected.groups.length);
  actual.groups.forEach((g, i) => {
    const e = expected.groups[i]!;
    assert.equal(g.group, e.group);
    assert.equal(g.offset, e.offset);
    assert.ok(Buffer.from(g.data).equals(Buffer.from(e.data)), `group ${g.group} bytes`);
    assert.equal(g.cv && hex(g.cv), e.cv && hex(e.cv));
  });
}

describe('pipelined verification on a worker pool', () => {
  let pool: Blake3Pool;
  const data = seededBytes(3 * 1024 * 1024 + 5000, 7);
  const { hash, encoded } = encodeCombined(data, BAO);
  const offsets = groupOffsets(hash, data.length, encoded);

  before(() => { pool = new Blake3Pool(1); });
  after(async () => { await pool.close(); });

  it('the pool answers BLAKE3 subtree values, as subtreeCV', async () => {
    const jobs = [0, 1, 5, 200].map((g) => ({ data: data.subarray(g * GROUP, (g + 1) * GROUP), startChunk: g * 16, isRoot: false }));
    jobs.push({ data: data.subarray(0, 3000), startChunk: 0, isRoot: true });
    const cvs = await pool.hash(jobs);
    jobs.forEach((j, i) => assert.equal(hex(cvs.subarray(i * 32, i * 32 + 32)), hex(subtreeCV(j.data, j.startChunk, j.isRoot))));
  });

  it('a good stream: every group, in order, as BaoDecoder.write gives them (pieces of any size)', async () => {
    for (const seed of [1, 2]) {
      const parts = pieces(encoded, seed);
      const expected = viaDecoder(hash, data.length, parts);
      assert.equal(expected.error, undefined);
      const verifier = new PipelinedVerifier(new BaoDecoder(hash, data.length, BAO), pool, { batchGroups: 8, maxBatchesInFlight: 2 });
      const groups: VerifiedGroup[] = [];
      for (const p of parts) for (const g of await verifier.write(p)) groups.push(g);
      for (const g of await verifier.finish()) groups.push(g);
      assert.ok(verifier.pooled, 'a 3 MiB stream goes to the pool');
      sameOutcome({ groups }, expected);
      assert.equal(Buffer.concat(groups.map((g) => g.data)).equals(Buffer.from(data)), true);
    }
  });

  it('a flipped byte: the groups before it, then the same error naming that group; nothing after', async () => {
    for (const bad of [0, 37, 150, offsets.length - 1]) {
      const stream = Buffer.from(encoded);
      stream[offsets[bad]!.streamOffset + 100]! ^= 0x01;
      const parts = pieces(stream, bad + 3);
      const expected = viaDecoder(hash, data.length, parts);
      assert.match(expected.error ?? '', new RegExp(`^bao: group ${bad} \\(content bytes ${bad * GROUP}\\.\\.`));
      sameOutcome(await viaVerifier(hash, data.length, parts, pool, { batchGroups: 16 }), expected);
    }
  });

  it('a bad parent: the groups before it, then the parent error; a bad group before it wins', async () => {
    // The first parent between two groups after group 40.
    const gapAt = offsets.findIndex((g, i) => i > 40 && g.streamOffset !== offsets[i - 1]!.streamOffset + GROUP);
    assert.ok(gapAt > 40);
    const parentAt = offsets[gapAt - 1]!.streamOffset + GROUP;
    const stream = Buffer.from(encoded);
    stream[parentAt + 3]! ^= 0x80;
    const expected = viaDecoder(hash, data.length, [stream]);
    assert.match(expected.error ?? '', /^bao: the parent of groups/);
    assert.equal(expected.groups.length, gapAt);
    sameOutcome(await viaVerifier(hash, data.length, [stream], pool, { batchGroups: 8 }), expected);
    stream[offsets[20]!.streamOffset]! ^= 0x01;
    const both = viaDecoder(hash, data.length, [stream]);
    assert.match(both.error ?? '', /^bao: group 20 /);
    sameOutcome(await viaVerifier(hash, data.length, [stream], pool, { batchGroups: 8 }), both);
  });

  it('a truncated stream fails as the decoder does; settle() keeps what verified', async () => {
    const cut = [encoded.subarray(0, offsets[100]!.streamOffset + 10)];
    const expected = viaDecoder(hash, data.length, cut);
    assert.match(expected.error ?? '', /^bao: the stream ended/);
    sameOutcome(await viaVerifier(hash, data.length, cut, pool), expected);
    const verifier = new PipelinedVerifier(new BaoDecoder(hash, data.length, BAO), pool, { batchGroups: 16 });
    const groups: VerifiedGroup[] = [];
    for (const g of await verifier.write(cut[0]!)) groups.push(g);
    groups.push(...await verifier.settle());
    assert.deepEqual(groups.map((g) => g.group), [...Array(100).keys()]);
  });

  it('small content stays on this thread; a closed pool falls back to this thread', async () => {
    const small = seededBytes(200 * 1024, 9);
    const enc = encodeCombined(small, BAO);
    const verifier = new PipelinedVerifier(new BaoDecoder(enc.hash, small.length, BAO), pool);
    const groups = [...await verifier.write(enc.encoded), ...await verifier.finish()];
    assert.equal(verifier.pooled, false);
    assert.equal(groups.length, 13);
    const closed = new Blake3Pool(1);
    await closed.close();
    await assert.rejects(closed.hash([{ data: small, startChunk: 0, isRoot: true }]));
    const stream = Buffer.from(encoded);
    stream[offsets[60]!.streamOffset + 1]! ^= 0x04;
    sameOutcome(await viaVerifier(hash, data.length, pieces(stream, 5), closed), viaDecoder(hash, data.length, pieces(stream, 5)));
  });

  it('ALKNET_HASH_WORKERS sets the default; 0 turns the pool off', () => {
    assert.equal(defaultHashWorkers({ ALKNET_HASH_WORKERS: '0' }), 0);
    assert.equal(defaultHashWorkers({ ALKNET_HASH_WORKERS: '3' }), 3);
    assert.equal(defaultHashWorkers({}), os.availableParallelism() >= 4 ? 1 : 0);
  });

  it('a pool left open does not keep the process alive', async () => {
    const script = [
      `import { Blake3Pool } from ${JSON.stringify(path.join(root, 'actors/fs/hash/blake3-pool.ts'))};`,
      'const pool = new Blake3Pool(1);',
      'const cvs = await pool.hash([{ data: new Uint8Array(16384), startChunk: 16, isRoot: false }]);',
      'console.log(cvs.length);',
    ].join('\n');
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, timeout: 20_000 });
    assert.equal(stdout.trim(), '32');
  });
});

describe('BlobStore.writeEncoded with hash workers', () => {
  let dir: string;
  const data = seededBytes(2 * 1024 * 1024 + 333, 11);
  const { hash, encoded } = encodeCombined(data, BAO);
  const hashHex = hex(hash);

  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-bao-verify-')); });
  after(() => { fs.rmSync(dir, { recursive: true, force: true }); });

  for (const hashWorkers of [0, 1]) {
    it(`hashWorkers ${hashWorkers}: a bad group is refused, the groups before it are kept, a retry completes`, async () => {
      fs.mkdirSync(path.join(dir, `w${hashWorkers}`)); // the store never creates a home
      const store = await BlobStore.open(path.join(dir, `w${hashWorkers}`), { hashWorkers });
      try {
        await store.beginPartial(hashHex, data.length);
        const offsets = groupOffsets(hash, data.length, encoded);
        const bad = Buffer.from(encoded);
        bad[offsets[70]!.streamOffset + 9]! ^= 0x02;
        await assert.rejects(store.writeEncoded(hashHex, undefined, (async function* () { yield* pieces(bad, 4); })()), (err: unknown) => {
          assert.ok(err instanceof BlobStoreError);
          assert.equal(err.code, 'INVALID_INPUT');
          assert.match(err.message, /^bao: group 70 \(content bytes 1146880\.\./);
          return true;
        });
        assert.equal(store.stat(hashHex).verifiedGroups, 70);
        const stat = await store.writeEncoded(hashHex, undefined, (async function* () { yield* pieces(encoded, 6); })());
        assert.equal(stat.complete, true);
        assert.ok(Buffer.from(await store.getBytes(hashHex)).equals(Buffer.from(data)));
      } finally {
        await store.close();
      }
    });
  }
});
