// Groups that arrive split across pieces (TLS hands 16 KiB records, bao groups are 16 KiB plus
// 64-byte parents, so nearly every group is split): the decoder hashes them from a reused scratch
// and hands them out as views of the pieces (`parts`), with no copy kept. These tests check that
// the parts are exactly the group's bytes, that a later group never overwrites an earlier one's,
// that many tiny pieces fall back to one copy, that a group begun unhashed (writeUnchecked) and
// finished hashed (or the other way) is still right, and that the store writes from the parts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BaoDecoder, BaoVerifyError, encodeCombined } from '../../actors/fs/hash/bao.ts';
import type { UncheckedGroup, VerifiedGroup } from '../../actors/fs/hash/bao-decode.ts';
import { checkGroup } from '../../actors/fs/hash/bao-decode.ts';
import { BlobStore } from '../../actors/fs/store.ts';
import { seededBytes } from './fixtures.ts';

const BAO = { chunkGroupLog: 4 } as const;
const GROUP = 16 * 1024;

function cut(stream: Uint8Array, len: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  // Fresh copies: a piece is a buffer of its own, as a socket hands them.
  for (let at = 0; at < stream.length; at += len) out.push(Uint8Array.from(stream.subarray(at, at + len)));
  return out;
}

function decodeAll(hash: Uint8Array, size: number, pieces: Uint8Array[]): VerifiedGroup[] {
  const decoder = new BaoDecoder(hash, size, BAO);
  const groups: VerifiedGroup[] = [];
  for (const piece of pieces) assert.equal(decoder.writeVerified(piece, groups), undefined);
  decoder.finish();
  return groups;
}

describe('bao groups split across pieces', () => {
  const data = seededBytes(20 * GROUP + 300, 11);
  const { hash, encoded } = encodeCombined(data, BAO);

  it('hands a split group out as views of the pieces, equal to the content', () => {
    const groups = decodeAll(hash, data.length, cut(encoded, 16 * 1024));
    assert.equal(groups.length, 21);
    const split = groups.filter((g) => g.parts);
    assert.ok(split.length >= 19, `${split.length} groups came in parts`);
    for (const g of groups) {
      const expected = data.subarray(g.offset, g.offset + g.length);
      if (g.parts) {
        assert.ok(g.parts.length >= 2 && g.parts.length <= 4);
        assert.equal(Buffer.concat(g.parts).equals(expected), true, `group ${g.group} parts`);
      }
      assert.equal(Buffer.from(g.data).equals(expected), true, `group ${g.group} data`);
      assert.equal(g.data.length, g.length);
    }
  });

  it('copies a group out once when it came in many tiny pieces', () => {
    const groups = decodeAll(hash, data.length, cut(encoded, 1000));
    for (const g of groups) {
      if (g.length > 4 * 1000) assert.equal(g.parts, undefined, `group ${g.group} has no parts`);
      assert.equal(Buffer.from(g.data).equals(data.subarray(g.offset, g.offset + g.length)), true);
    }
    // The copies are distinct: reading all after decoding still gives the content.
    assert.equal(Buffer.concat(groups.map((g) => g.data)).equals(data), true);
  });

  it('still rejects a bad split group, and hands out the ones before it', () => {
    const located: UncheckedGroup[] = [];
    assert.equal(new BaoDecoder(hash, data.length, BAO).writeUnchecked(encoded, located), undefined);
    const target = located[7]!;
    const bad = Uint8Array.from(encoded);
    bad[target.streamOffset + 5]! ^= 1;
    const decoder = new BaoDecoder(hash, data.length, BAO);
    const groups: VerifiedGroup[] = [];
    let failure: BaoVerifyError | undefined;
    for (const piece of cut(bad, 16 * 1024)) {
      failure = decoder.writeVerified(piece, groups);
      if (failure) break;
    }
    assert.ok(failure instanceof BaoVerifyError);
    assert.equal(failure.failure, 'group');
    for (const g of groups) assert.equal(Buffer.from(g.data).equals(data.subarray(g.offset, g.offset + g.length)), true);
    assert.equal(failure.group, 7);
    assert.deepEqual(groups.map((g) => g.group), [0, 1, 2, 3, 4, 5, 6]);
  });

  it('switching between unhashed and hashed modes mid-group keeps every group intact', () => {
    const decoder = new BaoDecoder(hash, data.length, BAO);
    const unchecked: UncheckedGroup[] = [];
    const verified: VerifiedGroup[] = [];
    cut(encoded, 10 * 1024).forEach((piece, i) => {
      const failure = i % 2 === 0 ? decoder.writeUnchecked(piece, unchecked) : decoder.writeVerified(piece, verified);
      assert.equal(failure, undefined);
    });
    decoder.finish();
    const all = [...verified, ...unchecked.map((g) => checkGroup(g))].sort((a, b) => a.group - b.group);
    assert.equal(all.length, 21);
    assert.equal(Buffer.concat(all.map((g) => g.data)).equals(data), true);
  });

  it('the store writes a blob received in 16 KiB pieces byte for byte', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-split-'));
    const store = await BlobStore.open(home, { hashWorkers: 0 });
    try {
      const big = seededBytes(3 * 1024 * 1024 + 777, 5);
      const enc = encodeCombined(big, BAO);
      const hex = Buffer.from(enc.hash).toString('hex');
      await store.beginPartial(hex, big.length);
      const pieces = cut(enc.encoded, 16 * 1024);
      const stat = await store.writeEncoded(hex, undefined, (async function* () { yield* pieces; })());
      assert.equal(stat.complete, true);
      assert.equal(Buffer.from(await store.getBytes(hex)).equals(big), true);
    } finally {
      await store.close();
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
