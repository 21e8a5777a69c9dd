// Completing a fetched blob from the chaining values its verified groups proved (no rehash): the
// outboard is byte for byte encodeOutboard's, the .cvs file exists only while the blob is partial,
// and a missing or damaged .cvs file falls back to rehashing the content, still completing right.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BaoDecoder, encodeOutboard, extractRanges } from '../../actors/fs/hash/bao.ts';
import { outboardFromGroupCvs } from '../../actors/fs/hash/bao-stream.ts';
import { subtreeCV } from '../../actors/fs/hash/blake3.ts';
import { BlobStore, GROUP_LEN } from '../../actors/fs/store.ts';
import { hex, seededBytes } from './fixtures.ts';

const BAO = { chunkGroupLog: 4 } as const;



describe('bao decoder hands out proven chaining values', () => {
  it('each inner group carries its subtree value; a one-group content carries none', () => {
    const data = seededBytes(5 * GROUP_LEN + 77, 1);
    const { hash, outboard } = encodeOutboard(data, BAO);
    const decoder = new BaoDecoder(hash, data.length, BAO);
    const groups = [...decoder.write(extractRanges(data, outboard, [{ start: 0, len: data.length }], BAO))];
    decoder.finish();
    assert.equal(groups.length, 6);
    for (const g of groups) {
      assert.equal(hex(g.cv!), hex(subtreeCV(data.subarray(g.offset, g.offset + g.data.length), g.group * 16, false)));
    }
    const cvs = Buffer.concat(groups.map((g) => g.cv!));
    const rebuilt = outboardFromGroupCvs(data.length, cvs, BAO)!;
    assert.equal(hex(rebuilt.hash), hex(hash));
    assert.equal(hex(rebuilt.outboard), hex(outboard));
    const small = seededBytes(100, 2);
    const one = encodeOutboard(small, BAO);
    const d1 = new BaoDecoder(one.hash, small.length, BAO);
    const [only] = [...d1.write(extractRanges(small, one.outboard, [{ start: 0, len: 100 }], BAO))];
    assert.equal(only!.cv, undefined);
    assert.equal(outboardFromGroupCvs(100, new Uint8Array(0), BAO), undefined);
    assert.throws(() => outboardFromGroupCvs(data.length, cvs.subarray(32), BAO), /chaining values/);
  });
});

describe('BlobStore completion from stored chaining values', () => {
  let home: string;
  let store: BlobStore;
  before(async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-bao-completion-'));
    store = await BlobStore.open(home);
  });
  after(async () => {
    await store.close();
    fs.rmSync(home, { recursive: true, force: true });
  });

  const partialCvs = (hash: string): string => path.join(home, 'blobs', 'partial', `${hash}.cvs`);
  const storedOutboard = (hash: string): Buffer => fs.readFileSync(path.join(home, 'blobs', 'data', `${hash}.obao`));

  /** Fetches `data` in two slices, calling `between` after the first; returns the hash. */
  async function fetchInTwo(data: Uint8Array, between: (hash: string) => void): Promise<string> {
    const { hash, outboard } = encodeOutboard(data, BAO);
    const h = hex(hash);
    await store.beginPartial(h, data.length);
    const first = [{ start: 0, len: 3 * GROUP_LEN }];
    await store.writeEncoded(h, first, extractRanges(data, outboard, first, BAO));
    assert.equal(store.stat(h).complete, false);
    between(h);
    const missing = store.missingRanges(h);
    const done = await store.writeEncoded(h, missing, extractRanges(data, outboard, missing, BAO));
    assert.equal(done.complete, true);
    assert.equal(hex(storedOutboard(h)), hex(outboard), 'the outboard is encodeOutboard\'s');
    assert.equal(fs.existsSync(partialCvs(h)), false, 'the .cvs file goes with the partial blob');
    assert.equal(hex(await collect(store, h)), hex(data));
    return h;
  }

  it('keeps the proven values beside a partial blob and builds the outboard from them', async () => {
    await fetchInTwo(seededBytes(9 * GROUP_LEN + 5, 3), (h) => {
      const cvs = fs.readFileSync(partialCvs(h));
      assert.ok(cvs.length >= 3 * 32, 'values of the three stored groups are on disk');
    });
  });

  it('rehashes instead when the .cvs file is gone (a partial blob from an older version)', async () => {
    await fetchInTwo(seededBytes(7 * GROUP_LEN, 4), (h) => fs.rmSync(partialCvs(h)));
  });

  it('rehashes instead when a stored value is damaged (the rebuilt root would differ)', async () => {
    await fetchInTwo(seededBytes(6 * GROUP_LEN + 999, 5), (h) => {
      const fd = fs.openSync(partialCvs(h), 'r+');
      try {
        fs.writeSync(fd, Buffer.from([0xff, 0x00, 0xff]), 0, 3, 40);
      } finally {
        fs.closeSync(fd);
      }
    });
  });

  it('a one-group blob completes without a .cvs file', async () => {
    const data = seededBytes(1000, 6);
    const { hash, outboard } = encodeOutboard(data, BAO);
    const h = hex(hash);
    await store.beginPartial(h, data.length);
    const done = await store.writeEncoded(h, undefined, extractRanges(data, outboard, [{ start: 0, len: 1000 }], BAO));
    assert.equal(done.complete, true);
    assert.equal(fs.existsSync(partialCvs(h)), false);
  });

  it('writeVerifiedGroup (outboard given up front) also completes from stored values', async () => {
    const data = seededBytes(4 * GROUP_LEN + 10, 7);
    const { hash, outboard } = encodeOutboard(data, BAO);
    const h = hex(hash);
    await store.beginPartial(h, data.length, { outboard });
    for (let g = 4; g >= 0; g--) await store.writeVerifiedGroup(h, g, data.subarray(g * GROUP_LEN, (g + 1) * GROUP_LEN));
    assert.equal(store.stat(h).complete, true);
    assert.equal(hex(storedOutboard(h)), hex(outboard));
  });

  it('reconcile keeps the .cvs file of a partial blob and removes an orphan one', async () => {
    const data = seededBytes(5 * GROUP_LEN, 8);
    const { hash, outboard } = encodeOutboard(data, BAO);
    const h = hex(hash);
    await store.beginPartial(h, data.length);
    const first = [{ start: 0, len: GROUP_LEN }];
    await store.writeEncoded(h, first, extractRanges(data, outboard, first, BAO));
    const orphan = partialCvs('ab'.repeat(32));
    fs.writeFileSync(orphan, new Uint8Array(64));
    await store.reconcile();
    assert.equal(fs.existsSync(partialCvs(h)), true);
    assert.equal(fs.existsSync(orphan), false);
    await store.delete(h);
    assert.equal(fs.existsSync(partialCvs(h)), false);
  });
});

async function collect(store: BlobStore, hash: string): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const piece of await store.createReadStream(hash)) parts.push(piece as Uint8Array);
  return Buffer.concat(parts);
}
