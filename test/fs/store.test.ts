// BlobStore: round trips, ranges, bao slices, partial blobs and resume, verified writes, tags and
// GC with collections, concurrent adds, and reconcile after a simulated crash.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { blake3 } from '../../actors/fs/hash/blake3.ts';
import { BaoDecoder, encodeOutboard, extractRanges } from '../../actors/fs/hash/bao.ts';
import { OutboardEncoder, groupChainingValues } from '../../actors/fs/hash/bao-stream.ts';
import { BlobStore, GROUP_LEN } from '../../actors/fs/store.ts';
import { decodeCollection, encodeCollection } from '../../actors/fs/collection.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const BAO = { chunkGroupLog: 4 };

/** Deterministic bytes (no Math.random: failures reproduce). */
function bytesOf(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed * 2654435761 >>> 0;
  for (let i = 0; i < size; i++) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    out[i] = x & 0xff;
  }
  return out;
}

async function collect(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of source) parts.push(p);
  return Buffer.concat(parts);
}

function tempHome(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-store-'));
}

const SIZES = [0, 1, 1023, 1024, 1025, GROUP_LEN - 1, GROUP_LEN, GROUP_LEN + 1, 3 * 1024 * 1024];

describe('OutboardEncoder', () => {
  it('gives the bytes of encodeOutboard for every size, in any piece size', () => {
    for (const size of [...SIZES, 2 * GROUP_LEN, 5 * GROUP_LEN + 7]) {
      const data = bytesOf(size, size + 3);
      const expected = encodeOutboard(data, BAO);
      for (const piece of [1000, 16384, 65536 + 1]) {
        if (size > 100_000 && piece === 1000) continue;
        const enc = new OutboardEncoder(BAO);
        for (let at = 0; at < size; at += piece) enc.update(data.subarray(at, at + piece));
        const got = enc.finish();
        assert.equal(hex(got.hash), hex(expected.hash), `hash, size ${size}, piece ${piece}`);
        assert.equal(hex(got.hash), hex(blake3(data)), `plain blake3, size ${size}`);
        assert.ok(Buffer.from(got.outboard).equals(Buffer.from(expected.outboard)), `outboard, size ${size}`);
      }
    }
  });

  it('groupChainingValues refuses an outboard with a flipped byte', () => {
    const data = bytesOf(5 * GROUP_LEN);
    const { hash, outboard } = encodeOutboard(data, BAO);
    assert.equal(groupChainingValues(hash, outboard, BAO).length, 5 * 32);
    const bad = outboard.slice();
    bad[20]! ^= 1;
    assert.throws(() => groupChainingValues(hash, bad, BAO), /does not match/);
  });
});

describe('BlobStore', () => {
  let home: string;
  let store: BlobStore;
  before(async () => {
    home = tempHome();
    store = await BlobStore.open(home);
  });
  after(async () => {
    await store.close();
    fs.rmSync(home, { recursive: true, force: true });
  });

  it('round-trips bytes of every edge size, as bytes, stream and file path', async () => {
    for (const size of SIZES) {
      const data = bytesOf(size, size);
      const { hash, size: got } = await store.add(data);
      assert.equal(hash, hex(blake3(data)), `hash of ${size}`);
      assert.equal(got, size);
      assert.ok(store.has(hash));
      assert.deepEqual({ size: store.stat(hash).size, complete: store.stat(hash).complete }, { size, complete: true });
      const back = await collect(await store.get(hash));
      assert.ok(Buffer.from(back).equals(Buffer.from(data)), `content of ${size}`);
    }
    const data = bytesOf(200_000, 9);
    async function* pieces(): AsyncGenerator<Uint8Array> {
      for (let at = 0; at < data.length; at += 7777) yield data.subarray(at, at + 7777);
    }
    assert.equal((await store.add(pieces())).hash, hex(blake3(data)));
    const file = path.join(home, 'input.bin');
    fs.writeFileSync(file, data);
    assert.equal((await store.add(file)).hash, hex(blake3(data)));
    assert.equal(fs.readdirSync(path.join(home, 'blobs', 'tmp')).length, 0, 'no temp files left');
  });

  it('reads byte ranges, clamped to the size', async () => {
    const data = bytesOf(100_000, 2);
    const { hash } = await store.add(data);
    const ranges = [{ start: 10, len: 5 }, { start: 50_000, len: 20_000 }, { start: 99_990, len: 100 }, { start: 200_000, len: 5 }];
    const got = await store.getBytes(hash, { ranges });
    const expected = Buffer.concat([data.subarray(10, 15), data.subarray(50_000, 70_000), data.subarray(99_990)]);
    assert.ok(Buffer.from(got).equals(expected));
    await assert.rejects(store.getBytes(hash, { ranges: [{ start: -1, len: 3 }] }), { code: 'INVALID_INPUT' });
    await assert.rejects(store.get('0'.repeat(64)), { code: 'NOT_FOUND' });
    await assert.rejects(store.get('xyz'), { code: 'INVALID_INPUT' });
  });

  it('encoded() streams the bao slice a provider sends, which verifies', async () => {
    const data = bytesOf(300_000, 4);
    const { hash } = await store.add(data);
    const { outboard } = encodeOutboard(data, BAO);
    for (const ranges of [undefined, [{ start: 0, len: 1 }], [{ start: 40_000, len: 70_000 }, { start: 290_000, len: 1 }]]) {
      const slice = await collect(await store.encoded(hash, ranges));
      const expected = ranges ? extractRanges(data, outboard, ranges, BAO) : extractRanges(data, outboard, [{ start: 0, len: data.length }], BAO);
      assert.ok(Buffer.from(slice).equals(Buffer.from(expected)), `slice for ${JSON.stringify(ranges)}`);
      const decoder = new BaoDecoder(Buffer.from(hash, 'hex'), data.length, { ...BAO, ranges });
      let n = 0;
      for (const g of decoder.write(slice)) n += g.data.length;
      decoder.finish();
      assert.ok(n > 0);
    }
  });

  it('readSlice windows of any size put together are exactly the slice, each window within its bound', async () => {
    const data = bytesOf(37 * GROUP_LEN + 123, 9);
    const { hash } = await store.add(data);
    const { outboard } = encodeOutboard(data, BAO);
    const rangeSets = [undefined, [{ start: 5 * GROUP_LEN + 7, len: 9 * GROUP_LEN }], [{ start: 0, len: 1 }, { start: 20 * GROUP_LEN, len: 1 }, { start: 1e9, len: 0 }]];
    for (const ranges of rangeSets) {
      const expected = extractRanges(data, outboard, ranges ?? [{ start: 0, len: data.length }], BAO);
      for (const maxBytes of [1, GROUP_LEN, 3 * GROUP_LEN + 5, 1 << 20]) {
        const parts: Uint8Array[] = [];
        let from: number | null = 0;
        for (let i = 0; from !== null && i < 1000; i++) {
          const w = await store.readSlice(hash, ranges, from, maxBytes);
          assert.equal(w.size, data.length);
          // One group past the bound at most (a window always carries a group), plus its parents.
          assert.ok(w.bytes.length <= Math.max(maxBytes, 1) + GROUP_LEN + 64 * 8 + 8, `window of ${w.bytes.length} for max ${maxBytes}`);
          parts.push(w.bytes);
          assert.ok(w.nextGroup === null || w.nextGroup > from, 'windows move forward');
          from = w.nextGroup;
        }
        assert.equal(from, null, 'the walk ended');
        assert.ok(Buffer.concat(parts).equals(Buffer.from(expected)), `ranges ${JSON.stringify(ranges)}, max ${maxBytes}`);
      }
    }
    await assert.rejects(store.readSlice(hash, undefined, 38), { code: 'INVALID_INPUT' });
  });

  it('writeGroups stores verified runs, marks them at the sync, refuses runs that do not fit', async () => {
    const data = bytesOf(6 * GROUP_LEN + 10, 12);
    const { hash, outboard } = encodeOutboard(data, BAO);
    const h = hex(hash);
    await store.beginPartial(h, data.length);
    const cvs = groupChainingValues(hash, outboard, BAO);
    const run = (g: number, n: number) => ({ data: [data.subarray(g * GROUP_LEN, Math.min((g + n) * GROUP_LEN, data.length))], cvs: cvs.slice(g * 32, (g + n) * 32) });
    await assert.rejects(store.writeGroups(h, 0, [data.subarray(0, 100)], cvs.slice(0, 32)), { code: 'INVALID_INPUT' }, 'not a whole group');
    await assert.rejects(store.writeGroups(h, 0, run(0, 2).data, cvs.slice(0, 32)), { code: 'INVALID_INPUT' }, 'one value for two groups');
    await assert.rejects(store.writeGroups(h, 6, [data.subarray(0, GROUP_LEN)], cvs.slice(0, 32)), { code: 'INVALID_INPUT' }, 'past the end');
    const a = run(0, 4);
    let stat = await store.writeGroups(h, 0, a.data, a.cvs);
    assert.equal(stat.verifiedGroups, 0, 'bits wait for the sync');
    stat = await store.writeGroups(h, 0, [], undefined, { sync: true });
    assert.equal(stat.verifiedGroups, 4);
    assert.deepEqual(store.missingRanges(h), [{ start: 4 * GROUP_LEN, len: 2 * GROUP_LEN + 10 }]);
    const b = run(4, 3);
    stat = await store.writeGroups(h, 4, b.data, b.cvs, { sync: true });
    assert.equal(stat.complete, true, 'completed from the stored values (they rebuild the root)');
    assert.ok(Buffer.from(await store.getBytes(h)).equals(Buffer.from(data)));
  });

  it('tracks a partial blob, resumes from missingRanges and completes when the root verifies', async () => {
    const data = bytesOf(5 * GROUP_LEN + 100, 5);
    const { hash, outboard } = encodeOutboard(data, BAO);
    const h = hex(hash);
    const stat = await store.beginPartial(h, data.length);
    assert.deepEqual([stat.complete, stat.groups, stat.verifiedGroups], [false, 6, 0]);
    assert.deepEqual(store.missingRanges(h), [{ start: 0, len: data.length }]);
    assert.equal(store.has(h), false);
    // First fetch: groups 1..2 only.
    const first = [{ start: GROUP_LEN, len: 2 * GROUP_LEN }];
    await store.writeEncoded(h, first, extractRanges(data, outboard, first, BAO));
    assert.deepEqual(store.missingRanges(h), [{ start: 0, len: GROUP_LEN }, { start: 3 * GROUP_LEN, len: data.length - 3 * GROUP_LEN }]);
    assert.equal(store.stat(h).verifiedGroups, 2);
    // The verified part can be read already; the missing part cannot.
    assert.ok(Buffer.from(await store.getBytes(h, { ranges: first })).equals(Buffer.from(data.subarray(GROUP_LEN, 3 * GROUP_LEN))));
    await assert.rejects(store.getBytes(h, { ranges: [{ start: 0, len: 10 }] }), { code: 'NOT_FOUND' });
    // beginPartial again is a resume, not a reset.
    assert.equal((await store.beginPartial(h, data.length)).verifiedGroups, 2);
    await assert.rejects(store.beginPartial(h, data.length + 1), { code: 'INVALID_INPUT' });
    // Resume: ask for exactly what is missing.
    const missing = store.missingRanges(h);
    const done = await store.writeEncoded(h, missing, extractRanges(data, outboard, missing, BAO));
    assert.equal(done.complete, true);
    assert.ok(store.has(h));
    assert.deepEqual(store.missingRanges(h), []);
    assert.ok(Buffer.from(await store.getBytes(h)).equals(Buffer.from(data)));
    assert.ok(Buffer.from(await collect(await store.encoded(h))).equals(Buffer.from(extractRanges(data, outboard, [{ start: 0, len: data.length }], BAO))));
    assert.equal(fs.existsSync(path.join(home, 'blobs', 'partial', h)), false);
  });

  it('refuses a group with a flipped byte (verified write and bao slice), keeping the good groups', async () => {
    const data = bytesOf(4 * GROUP_LEN, 6);
    const { hash, outboard } = encodeOutboard(data, BAO);
    const h = hex(hash);
    await store.beginPartial(h, data.length, { outboard });
    const group1 = data.slice(GROUP_LEN, 2 * GROUP_LEN);
    group1[100]! ^= 0x01;
    await assert.rejects(store.writeVerifiedGroup(h, 1, group1), { code: 'INVALID_INPUT', message: /does not match/ });
    assert.equal(store.stat(h).verifiedGroups, 0);
    await store.writeVerifiedGroup(h, 0, data.subarray(0, GROUP_LEN));
    assert.equal(store.stat(h).verifiedGroups, 1);
    await assert.rejects(store.writeVerifiedGroup(h, 1, data.subarray(0, 10)), { code: 'INVALID_INPUT' });
    await assert.rejects(store.writeVerifiedGroup(h, 9, data.subarray(0, GROUP_LEN)), { code: 'INVALID_INPUT' });
    // A slice whose group 2 has a flipped byte: groups before it are stored, the blob stays partial.
    const slice = extractRanges(data, outboard, [{ start: GROUP_LEN, len: 3 * GROUP_LEN }], BAO);
    const bad = slice.slice();
    bad[bad.length - GROUP_LEN - 5]! ^= 0x80; // inside group 2 (the third group of the slice is group 3)
    await assert.rejects(store.writeEncoded(h, [{ start: GROUP_LEN, len: 3 * GROUP_LEN }], bad), { code: 'INVALID_INPUT', message: /does not match/ });
    const st = store.stat(h);
    assert.equal(st.complete, false);
    assert.ok(st.verifiedGroups >= 2 && st.verifiedGroups < 4, `verified ${st.verifiedGroups}`);
    await store.writeEncoded(h, store.missingRanges(h), extractRanges(data, outboard, store.missingRanges(h), BAO));
    assert.ok(store.has(h));
    assert.ok(Buffer.from(await store.getBytes(h)).equals(Buffer.from(data)));
  });

  it('adds the same content concurrently without loss or leftovers', async () => {
    const data = bytesOf(700_000, 7);
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => store.add(i % 2 ? data : Buffer.from(data))));
    const hash = hex(blake3(data));
    for (const r of results) assert.equal(r.hash, hash);
    assert.ok(Buffer.from(await store.getBytes(hash)).equals(Buffer.from(data)));
    assert.equal(store.list().filter((s) => s.hash === hash).length, 1);
    assert.equal(fs.readdirSync(path.join(home, 'blobs', 'tmp')).length, 0);
    // Two stores (as two processes would) on one home, adding at once.
    const other = await BlobStore.open(home);
    try {
      const more = bytesOf(300_000, 8);
      const [a, b] = await Promise.all([store.add(more), other.add(more)]);
      assert.equal(a.hash, b.hash);
      assert.ok(other.has(a.hash) && store.has(a.hash));
    } finally {
      await other.close();
    }
  });
});

describe('BlobStore tags, collections and gc', () => {
  it('keeps tagged blobs and children of tagged collections, removes the rest', async () => {
    const home = tempHome();
    const store = await BlobStore.open(home);
    try {
      const dir = path.join(home, 'src');
      fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'a.txt'), 'alpha');
      fs.writeFileSync(path.join(dir, 'sub', 'b.bin'), bytesOf(40_000, 11));
      const coll = await store.addDirectory(dir, { tag: 'site' });
      assert.deepEqual(coll.entries.map((e) => e.name), ['a.txt', 'sub/b.bin']);
      assert.ok(await store.isCollection(coll.hash));
      assert.deepEqual(await store.readCollection(coll.hash), { entries: coll.entries, links: [], dirs: [] });
      assert.deepEqual(store.tags(), [{ name: 'site', hash: coll.hash }], 'temporary child tags are gone');

      const kept = await store.add(new TextEncoder().encode('keep me'), { tag: 'keep' });
      const loose = await store.add(new TextEncoder().encode('loose'));
      const untagged = await store.add(new TextEncoder().encode('was tagged'), { tag: 'tmp' });
      assert.equal(await store.untag('tmp'), true);
      assert.equal(await store.untag('tmp'), false);
      const freshPartial = hex(blake3(new TextEncoder().encode('partial')));
      await store.beginPartial(freshPartial, 7);

      const result = await store.gc();
      assert.deepEqual(new Set(result.removed), new Set([loose.hash, untagged.hash]));
      for (const e of coll.entries) assert.ok(store.has(e.hash), `child ${e.name} kept`);
      assert.ok(store.has(coll.hash) && store.has(kept.hash));
      assert.equal(store.stat(freshPartial).complete, false, 'a fresh partial survives');
      assert.equal(store.has(loose.hash), false);
      assert.equal(fs.existsSync(path.join(home, 'blobs', 'data', loose.hash)), false);
      // Without grace the partial goes too; untagging the collection frees everything else.
      await store.untag('site');
      const second = await store.gc({ partialGraceMs: 0 });
      assert.ok(second.removed.includes(freshPartial));
      assert.ok(second.removed.includes(coll.hash));
      assert.deepEqual(store.list().map((s) => s.hash), [kept.hash]);
      await assert.rejects(store.tag('x', loose.hash), { code: 'NOT_FOUND' });
      assert.equal(await store.delete(kept.hash), true);
      assert.equal(await store.delete(kept.hash), false);
      assert.deepEqual(store.tags(), []);
    } finally {
      await store.close();
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  it('refuses collections with unsafe names', () => {
    const h = '00'.repeat(32);
    assert.throws(() => encodeCollection([{ name: '../x', hash: h }]), /bad path segment/);
    assert.throws(() => encodeCollection([{ name: '/etc/passwd', hash: h }]), /absolute/);
    const good = encodeCollection([{ name: 'b', hash: h }, { name: 'a', hash: h }]);
    assert.deepEqual(decodeCollection(good).entries.map((e) => e.name), ['a', 'b']);
    assert.throws(() => decodeCollection(good.subarray(0, 12)), /collection/);
    assert.throws(() => decodeCollection(new Uint8Array(20)), /not a collection/);
  });
});

describe('BlobStore reconcile', () => {
  it('after a simulated crash: removes stale temp files, drops entries without files, re-indexes files without entries', async () => {
    const home = tempHome();
    let store = await BlobStore.open(home);
    const keep = bytesOf(50_000, 21);
    const lose = bytesOf(30_000, 22);
    const orphan = bytesOf(20_000, 23);
    const k = await store.add(keep, { tag: 'k' });
    const l = await store.add(lose);
    const partialData = bytesOf(3 * GROUP_LEN, 24);
    const { hash: ph, outboard: pob } = encodeOutboard(partialData, BAO);
    const p = hex(ph);
    await store.beginPartial(p, partialData.length);
    await store.writeEncoded(p, [{ start: 0, len: 1 }], extractRanges(partialData, pob, [{ start: 0, len: 1 }], BAO));
    await store.close();

    const blobs = path.join(home, 'blobs');
    // Crash leftovers: a temp file of a dead process, an entry whose file is gone, a complete file
    // renamed into place whose index write never happened (with no outboard), a corrupt one, and a
    // partial file that vanished.
    fs.writeFileSync(path.join(blobs, 'tmp', '999999999-deadbeef.data'), 'half');
    fs.rmSync(path.join(blobs, 'data', l.hash));
    const o = hex(blake3(orphan));
    fs.writeFileSync(path.join(blobs, 'data', o), orphan);
    const fake = 'ab'.repeat(32);
    fs.writeFileSync(path.join(blobs, 'data', fake), 'not what the name says');
    fs.rmSync(path.join(blobs, 'partial', p));
    fs.writeFileSync(path.join(blobs, 'partial', 'cd'.repeat(32)), 'no entry');

    store = await BlobStore.open(home);
    try {
      assert.deepEqual(fs.readdirSync(path.join(blobs, 'tmp')), []);
      assert.equal(store.has(l.hash), false, 'entry without file dropped');
      await assert.rejects(store.get(l.hash), { code: 'NOT_FOUND' });
      assert.ok(store.has(o), 'orphan file re-indexed');
      assert.ok(Buffer.from(await store.getBytes(o)).equals(Buffer.from(orphan)));
      assert.ok(Buffer.from(await collect(await store.encoded(o))).equals(Buffer.from(extractRanges(orphan, encodeOutboard(orphan, BAO).outboard, [{ start: 0, len: orphan.length }], BAO))));
      assert.equal(fs.existsSync(path.join(blobs, 'data', fake)), false, 'mislabelled file removed');
      assert.ok(store.has(k.hash));
      assert.deepEqual(store.stat(k.hash).tags, ['k']);
      const ps = store.stat(p);
      assert.deepEqual([ps.complete, ps.verifiedGroups], [false, 0], 'partial without its file is reset, never complete');
      assert.ok(fs.existsSync(path.join(blobs, 'partial', p)));
      assert.equal(fs.existsSync(path.join(blobs, 'partial', 'cd'.repeat(32))), false);
      for (const s of store.list()) if (s.complete) assert.equal(fs.statSync(path.join(blobs, 'data', s.hash)).size, s.size);
    } finally {
      await store.close();
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
