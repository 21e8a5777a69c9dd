// bao: the published vectors (classic bao, chunkGroupLog 0), decoding with the incremental verifier,
// tamper detection per group, range slices, and 16 KiB groups (chunkGroupLog 4) as the wire uses.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { blake3 } from '../../actors/fs/hash/blake3.ts';
import {
  BaoDecoder, BaoVerifyError, combinedLen, encodeCombined, encodeOutboard, extractRanges, extractSlice, outboardLen,
  treeShape, walkTree,
} from '../../actors/fs/hash/bao.ts';
import type { BaoDecoderOptions, VerifiedGroup } from '../../actors/fs/hash/bao.ts';
import { hex, seededBytes } from './fixtures.ts';
import { requireVectors } from '../support/vectors.ts';

const published = requireVectors<BaoVectors>('bao.json');

interface SliceVector { start: number; len: number; output_len: number; output_blake3: string; corruptions: number[] }
interface BaoVectors {
  encode: Array<{ input_len: number; output_len: number; bao_hash: string; encoded_blake3: string; corruptions: number[] }>;
  outboard: Array<{
    input_len: number; output_len: number; bao_hash: string; encoded_blake3: string;
    outboard_corruptions: number[]; input_corruptions: number[];
  }>;
  seek: Array<{ input_len: number; seek_offsets: number[] }>;
  slice: Array<{ input_len: number; bao_hash: string; slices: SliceVector[] }>;
}

/** bao's test input: a 4-byte little-endian counter starting at 1, cut to `length`. */
function counterInput(length: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(length / 4));
  for (let i = 0; i < words.length; i++) words[i] = i + 1;
  return new Uint8Array(words.buffer, 0, length).slice();
}


function flipped(bytes: Uint8Array, at: number): Uint8Array {
  const copy = bytes.slice();
  copy[at]! ^= 1;
  return copy;
}

/** Decodes `stream` in pieces of `pieceLen`; returns the verified groups, or them and the error. */
function decodeAll(
  hash: Uint8Array, stream: Uint8Array, opts: BaoDecoderOptions = {}, pieceLen = 1000, size?: number,
): { groups: VerifiedGroup[]; error?: BaoVerifyError } {
  const decoder = new BaoDecoder(hash, size, opts);
  const groups: VerifiedGroup[] = [];
  try {
    for (let pos = 0; pos < stream.length; pos += pieceLen) {
      for (const group of decoder.write(stream.subarray(pos, pos + pieceLen))) groups.push(group);
    }
    decoder.finish();
    assert.equal(decoder.done, true);
    return { groups };
  } catch (error) {
    assert.ok(error instanceof BaoVerifyError, `expected a BaoVerifyError, got ${String(error)}`);
    return { groups, error };
  }
}

function joined(groups: VerifiedGroup[]): Uint8Array {
  const total = groups.reduce((sum, g) => sum + g.data.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const group of groups) {
    out.set(group.data, at);
    at += group.data.length;
  }
  return out;
}

describe('bao published vectors (chunkGroupLog 0)', () => {
  const { skip } = published;

  it('combined encoding: hash, bytes, decoding, and every listed corruption fails', { skip }, () => {
    const vectors = published.value;
    assert.ok(vectors.encode.length > 10);
    for (const c of vectors.encode) {
      const input = counterInput(c.input_len);
      const { hash, encoded } = encodeCombined(input);
      assert.equal(hex(hash), c.bao_hash);
      assert.equal(hex(hash), hex(blake3(input)));
      assert.equal(encoded.length, c.output_len);
      assert.equal(hex(blake3(encoded)), c.encoded_blake3, `encoded bytes for ${c.input_len}`);
      const good = decodeAll(hash, encoded, {}, 77);
      assert.equal(good.error, undefined);
      assert.deepEqual(joined(good.groups), input);
      for (const at of c.corruptions) {
        const bad = decodeAll(hash, flipped(encoded, at));
        assert.ok(bad.error, `corruption at ${at} of ${c.input_len} went unnoticed`);
      }
    }
  });

  it('outboard: bytes, and corruptions of outboard or content fail', { skip }, () => {
    const vectors = published.value;
    for (const c of vectors.outboard) {
      const input = counterInput(c.input_len);
      const { hash, outboard } = encodeOutboard(input);
      assert.equal(hex(hash), c.bao_hash);
      assert.equal(outboard.length, c.output_len);
      assert.equal(hex(blake3(outboard)), c.encoded_blake3, `outboard bytes for ${c.input_len}`);
      const whole = extractSlice(input, outboard, 0, input.length);
      assert.deepEqual(joined(decodeAll(hash, whole).groups), input);
      const detects = (content: Uint8Array, ob: Uint8Array): boolean => {
        try {
          return decodeAll(hash, extractSlice(content, ob, 0, content.length)).error !== undefined;
        } catch {
          return true; // the outboard's size header no longer fits the content
        }
      };
      for (const at of c.outboard_corruptions) assert.ok(detects(input, flipped(outboard, at)), `outboard corruption at ${at}`);
      for (const at of c.input_corruptions) assert.ok(detects(flipped(input, at), outboard), `input corruption at ${at}`);
    }
  });

  it('slices from the combined encoding and from the outboard, decoding, corruptions', { skip }, () => {
    const vectors = published.value;
    for (const c of vectors.slice) {
      const input = counterInput(c.input_len);
      const { hash, encoded } = encodeCombined(input);
      const { outboard } = encodeOutboard(input);
      for (const s of c.slices) {
        const label = `size ${c.input_len} slice ${s.start}+${s.len}`;
        const slice = extractSlice(encoded, undefined, s.start, s.len);
        assert.equal(slice.length, s.output_len, label);
        assert.equal(hex(blake3(slice)), s.output_blake3, label);
        assert.deepEqual(extractSlice(input, outboard, s.start, s.len), slice, label);
        const ranges = [{ start: s.start, len: s.len }];
        const good = decodeAll(hash, slice, { ranges }, 100);
        assert.equal(good.error, undefined, label);
        for (const group of good.groups) assert.deepEqual(group.data, input.subarray(group.offset, group.offset + group.data.length));
        if (s.start < c.input_len && s.len > 0) {
          const covered = good.groups.some((g) => g.offset <= s.start && s.start < g.offset + g.data.length);
          assert.ok(covered, `${label}: the start byte is in the slice`);
        }
        for (const at of s.corruptions) assert.ok(decodeAll(hash, flipped(slice, at), { ranges }).error, `${label} corruption at ${at}`);
      }
    }
  });

  it('seek offsets: a one-byte slice proves the group holding the byte', { skip }, () => {
    const vectors = published.value;
    for (const c of vectors.seek) {
      const input = counterInput(c.input_len);
      const { hash, encoded } = encodeCombined(input);
      for (const offset of c.seek_offsets) {
        const ranges = [{ start: offset, len: 1 }];
        const { groups, error } = decodeAll(hash, extractSlice(encoded, undefined, offset, 1), { ranges });
        assert.equal(error, undefined);
        assert.equal(groups.length, 1);
        const byte = Math.min(offset, Math.max(0, c.input_len - 1));
        assert.equal(groups[0]!.offset, Math.floor(byte / 1024) * 1024);
      }
    }
  });
});

describe('bao with 16 KiB groups (chunkGroupLog 4)', () => {
  const opts = { chunkGroupLog: 4 };

  it('the hash is the BLAKE3 hash and sizes follow the group count', () => {
    for (const size of [0, 1, 16383, 16384, 16385, 100_000, 1_048_576 + 3]) {
      const input = seededBytes(size, size + 5);
      const { hash, outboard } = encodeOutboard(input, opts);
      const { hash: hash2, encoded } = encodeCombined(input, opts);
      const shape = treeShape(size, opts);
      assert.equal(hex(hash), hex(blake3(input)));
      assert.equal(hex(hash2), hex(hash));
      assert.equal(outboard.length, outboardLen(shape));
      assert.equal(outboard.length, 8 + 64 * (Math.max(1, Math.ceil(size / 16384)) - 1));
      assert.equal(encoded.length, combinedLen(shape));
      assert.deepEqual(extractSlice(input, outboard, 0, size, opts), encoded);
      const { groups, error } = decodeAll(hash, encoded, opts, 4097, size);
      assert.equal(error, undefined);
      assert.deepEqual(joined(groups), input);
    }
  });

  it('a flipped byte is caught in its group, and only the groups before it are yielded', () => {
    const input = seededBytes(10 * 16384 + 500, 1);
    const { hash, encoded } = encodeCombined(input, opts);
    // Flip one content byte in group 6 (content byte 6 * 16384 + 123).
    const contentByte = 6 * 16384 + 123;
    const whole = decodeAll(hash, encoded, opts);
    assert.equal(whole.error, undefined);
    // The byte's place in the stream: its group's offset in the pre-order walk, plus 123.
    const shape = treeShape(input.length, opts);
    const node = [...walkTree(shape)].find((n) => n.kind === 'group' && n.group === 6)!;
    const streamAt = node.combinedOffset + 123;
    assert.ok(streamAt > 0);
    assert.equal(encoded[streamAt], input[contentByte]);
    const { groups, error } = decodeAll(hash, flipped(encoded, streamAt), opts, 3000);
    assert.ok(error);
    assert.equal(error.failure, 'group');
    assert.equal(error.group, 6);
    assert.match(error.message, /group 6 \(content bytes 98304\.\.114688\)/);
    assert.deepEqual(groups.map((g) => g.group), [0, 1, 2, 3, 4, 5]);
    // A flipped parent byte fails at that parent, before any group under it is yielded.
    const parent = decodeAll(hash, flipped(encoded, 8 + 3), opts);
    assert.equal(parent.error?.failure, 'parent');
    assert.equal(parent.groups.length, 0);
  });

  it('range slices contain only the needed parents and groups, verify, and a tampered slice fails', () => {
    const input = seededBytes(20 * 16384 + 77, 2);
    const { hash, outboard } = encodeOutboard(input, opts);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: input.length + 10 }), fc.integer({ min: 0, max: 70_000 }), fc.nat(), (start, len, flipSeed) => {
        const slice = extractSlice(input, outboard, start, len, opts);
        const ranges = [{ start, len }];
        const { groups, error } = decodeAll(hash, slice, { ...opts, ranges }, 999);
        assert.equal(error, undefined);
        const first = Math.floor(Math.min(start, input.length - 1) / 16384);
        const end = start >= input.length ? 21 : Math.ceil(Math.min(input.length, start + Math.max(len, 1)) / 16384);
        assert.deepEqual(groups.map((g) => g.group), Array.from({ length: end - first }, (_, i) => first + i));
        for (const g of groups) assert.deepEqual(g.data, input.subarray(g.offset, g.offset + g.data.length));
        // Only what is needed: the data of these groups plus at most one parent per level per edge.
        const dataBytes = groups.reduce((sum, g) => sum + g.data.length, 0);
        assert.ok(slice.length <= 8 + dataBytes + 64 * (2 * 5 + (end - first)), `slice of ${slice.length} bytes is too big`);
        const tampered = decodeAll(hash, flipped(slice, 8 + (flipSeed % (slice.length - 8))), { ...opts, ranges });
        assert.ok(tampered.error, 'tampered slice verified');
      }),
      { numRuns: 40 },
    );
  });

  it('several ranges in one slice stream', () => {
    const input = seededBytes(12 * 16384, 3);
    const { hash, encoded } = encodeCombined(input, opts);
    const { outboard } = encodeOutboard(input, opts);
    const ranges = [{ start: 9 * 16384 + 5, len: 16384 }, { start: 0, len: 10 }];
    const slice = extractRanges(input, outboard, ranges, opts);
    assert.deepEqual(extractRanges(encoded, undefined, ranges, opts), slice);
    const { groups, error } = decodeAll(hash, slice, { ...opts, ranges }, 5000, input.length);
    assert.equal(error, undefined);
    assert.deepEqual(groups.map((g) => g.group), [0, 9, 10]);
    for (const g of groups) assert.deepEqual(g.data, input.subarray(g.offset, g.offset + g.data.length));
    // The full encoding is not a slice for these ranges: the decoder expects only the needed nodes.
    assert.ok(decodeAll(hash, encoded, { ...opts, ranges }).error);
  });
});

describe('bao decoder errors', () => {
  const input = seededBytes(5000, 9);
  const { hash, encoded } = encodeCombined(input);

  it('byte-by-byte input yields the same groups', () => {
    const { groups, error } = decodeAll(hash, encoded, {}, 1);
    assert.equal(error, undefined);
    assert.deepEqual(joined(groups), input);
  });

  it('a truncated stream fails at finish naming the offset', () => {
    const { error } = decodeAll(hash, encoded.subarray(0, encoded.length - 10));
    assert.equal(error?.failure, 'truncated');
    assert.match(error!.message, /ended at offset/);
  });

  it('trailing bytes fail', () => {
    const longer = new Uint8Array(encoded.length + 1);
    longer.set(encoded);
    assert.equal(decodeAll(hash, longer).error?.failure, 'trailing');
  });

  it('a size header that differs from the known size, or over the limit, fails', () => {
    assert.equal(decodeAll(hash, encoded, {}, 1000, 4999).error?.failure, 'header');
    assert.equal(decodeAll(hash, encoded, { maxSize: 4096 }).error?.failure, 'header');
    const huge = encoded.slice();
    huge[7] = 0xff;
    assert.equal(decodeAll(hash, huge).error?.failure, 'header');
  });

  it('a wrong hash fails at the root and the decoder stays failed', () => {
    const wrong = flipped(hash, 0);
    const decoder = new BaoDecoder(wrong, undefined);
    assert.throws(() => [...decoder.write(encoded)], /parent of groups 0\.\.4 at stream offset 8/);
    assert.throws(() => decoder.finish(), BaoVerifyError);
    assert.throws(() => [...decoder.write(new Uint8Array(1))], BaoVerifyError);
  });

  it('decode() over an async stream', async () => {
    async function* pieces(): AsyncGenerator<Uint8Array> {
      for (let pos = 0; pos < encoded.length; pos += 700) yield encoded.subarray(pos, pos + 700);
    }
    const groups: VerifiedGroup[] = [];
    for await (const group of new BaoDecoder(hash, input.length).decode(pieces())) groups.push(group);
    assert.deepEqual(joined(groups), input);
  });

  it('rejects bad options', () => {
    assert.throws(() => encodeOutboard(input, { chunkGroupLog: 17 }), /chunkGroupLog/);
    assert.throws(() => new BaoDecoder(new Uint8Array(31), undefined), /32 bytes/);
    assert.throws(() => extractSlice(encoded.subarray(0, 100), undefined, 0, 1), /truncated/);
  });
});
