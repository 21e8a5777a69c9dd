// Streaming bao outboard: the blob store hashes input of any size as it arrives, keeping only one
// chunk group of bytes and one 32-byte chaining value per group (0.2 % of the input at 16 KiB
// groups), then builds the outboard's parents from those values. `encodeOutboard` in bao-encode.ts
// needs the whole content in memory; this gives the same bytes without that.
import { OUT_LEN, parentCV, subtreeCV } from './blake3.ts';
import { HEADER_LEN, PARENT_LEN, leftGroups, outboardLen, readSizeHeader, treeShape, writeSizeHeader } from './bao-tree.ts';
import type { BaoOptions, TreeShape } from './bao-tree.ts';
import type { BaoOutboard } from './bao-encode.ts';

/** Builds the outboard's parents over the given group chaining values (n ≥ 2), pre-order. */
function buildParents(shape: TreeShape, cvs: Uint8Array, lo: number, hi: number, outboard: Uint8Array, parentIndex: number): Uint8Array {
  if (hi - lo === 1) return cvs.subarray(lo * OUT_LEN, (lo + 1) * OUT_LEN);
  const mid = lo + leftGroups(hi - lo);
  const left = buildParents(shape, cvs, lo, mid, outboard, parentIndex + 1);
  const right = buildParents(shape, cvs, mid, hi, outboard, parentIndex + (mid - lo));
  const at = HEADER_LEN + PARENT_LEN * parentIndex;
  outboard.set(left, at);
  outboard.set(right, at + OUT_LEN);
  return parentCV(left, right, lo === 0 && hi === shape.groupCount);
}

/**
 * The BLAKE3 hash and the outboard of a content of `size` bytes from its groups' chaining values
 * (32 bytes per group, in order): only the parents are hashed, so this costs one compression per
 * group instead of hashing the content. With one group there are no chaining values (its value is
 * the root hash) and `undefined` is returned: the caller has to hash that group.
 */
export function outboardFromGroupCvs(size: number, cvs: Uint8Array, opts: BaoOptions = {}): BaoOutboard | undefined {
  const shape = treeShape(size, opts);
  if (shape.groupCount === 1) return undefined;
  if (cvs.length !== OUT_LEN * shape.groupCount) {
    throw new RangeError(`bao: ${shape.groupCount} groups need ${OUT_LEN * shape.groupCount} bytes of chaining values, got ${cvs.length}`);
  }
  const outboard = new Uint8Array(outboardLen(shape));
  writeSizeHeader(outboard, shape.size);
  const hash = buildParents(shape, cvs, 0, shape.groupCount, outboard, 0);
  return { hash: hash.slice(), outboard };
}

/**
 * Incremental outboard encoder: `update` with the content in pieces of any size, then `finish()`
 * gives the BLAKE3 hash and the outboard, byte for byte what `encodeOutboard` gives.
 */
export class OutboardEncoder {
  readonly #chunkGroupLog: number;
  readonly #groupLen: number;
  #group: Uint8Array;
  #groupFill = 0;
  /** Chaining values of the finished groups, 32 bytes each. */
  #cvs = new Uint8Array(OUT_LEN * 64);
  #groups = 0;
  #size = 0;
  #finished = false;

  constructor(opts: BaoOptions = {}) {
    const shape = treeShape(0, opts);
    this.#chunkGroupLog = shape.chunkGroupLog;
    this.#groupLen = shape.groupLen;
    this.#group = new Uint8Array(this.#groupLen);
  }

  /** Bytes seen so far. */
  get size(): number {
    return this.#size;
  }

  update(bytes: Uint8Array): this {
    if (this.#finished) throw new Error('bao: OutboardEncoder.update after finish');
    let pos = 0;
    while (pos < bytes.length) {
      // A full group is finished only when more bytes follow: the last group may be the root.
      if (this.#groupFill === this.#groupLen) this.#flushGroup();
      const take = Math.min(this.#groupLen - this.#groupFill, bytes.length - pos);
      this.#group.set(bytes.subarray(pos, pos + take), this.#groupFill);
      this.#groupFill += take;
      pos += take;
    }
    this.#size += bytes.length;
    return this;
  }

  finish(): BaoOutboard {
    if (this.#finished) throw new Error('bao: OutboardEncoder.finish called twice');
    this.#finished = true;
    const shape = treeShape(this.#size, { chunkGroupLog: this.#chunkGroupLog });
    const outboard = new Uint8Array(outboardLen(shape));
    writeSizeHeader(outboard, shape.size);
    if (this.#groups === 0) {
      // One group (or empty content): it is the root.
      return { hash: subtreeCV(this.#group.subarray(0, this.#groupFill), 0, true), outboard };
    }
    this.#flushGroup();
    const hash = buildParents(shape, this.#cvs, 0, shape.groupCount, outboard, 0);
    return { hash: hash.slice(), outboard };
  }

  #flushGroup(): void {
    const cv = subtreeCV(this.#group.subarray(0, this.#groupFill), this.#groups * 2 ** this.#chunkGroupLog, false);
    if ((this.#groups + 1) * OUT_LEN > this.#cvs.length) {
      const grown = new Uint8Array(this.#cvs.length * 2);
      grown.set(this.#cvs);
      this.#cvs = grown;
    }
    this.#cvs.set(cv, this.#groups * OUT_LEN);
    this.#groups++;
    this.#groupFill = 0;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

export class OutboardVerifyError extends Error {
  override name = 'OutboardVerifyError';
}

/**
 * Checks an outboard against `hash` (every parent up to the root) and returns the chaining value
 * each group must have, 32 bytes per group; with one group that is the hash itself (root flag).
 */
export function groupChainingValues(hash: Uint8Array, outboard: Uint8Array, opts: BaoOptions = {}): Uint8Array {
  if (hash.length !== OUT_LEN) throw new OutboardVerifyError(`bao: a hash is ${OUT_LEN} bytes`);
  if (outboard.length < HEADER_LEN) throw new OutboardVerifyError('bao: the outboard is shorter than its size header');
  const shape = treeShape(readSizeHeader(outboard), opts);
  if (outboard.length !== outboardLen(shape)) {
    throw new OutboardVerifyError(`bao: the outboard is ${outboard.length} bytes, expected ${outboardLen(shape)} for size ${shape.size}`);
  }
  const cvs = new Uint8Array(OUT_LEN * shape.groupCount);
  const visit = (lo: number, hi: number, parentIndex: number, expected: Uint8Array): void => {
    if (hi - lo === 1) {
      cvs.set(expected, lo * OUT_LEN);
      return;
    }
    const at = HEADER_LEN + PARENT_LEN * parentIndex;
    const left = outboard.subarray(at, at + OUT_LEN);
    const right = outboard.subarray(at + OUT_LEN, at + PARENT_LEN);
    if (!sameBytes(parentCV(left, right, lo === 0 && hi === shape.groupCount), expected)) {
      throw new OutboardVerifyError(`bao: the outboard's parent of groups ${lo}..${hi - 1} does not match the hash`);
    }
    const mid = lo + leftGroups(hi - lo);
    visit(lo, mid, parentIndex + 1, left);
    visit(mid, hi, parentIndex + (mid - lo), right);
  };
  visit(0, shape.groupCount, 0, hash);
  return cvs;
}

/** True when `bytes` is group `group` of a content whose expected group values are `cvs`. */
export function groupMatches(cvs: Uint8Array, group: number, bytes: Uint8Array, opts: BaoOptions = {}): boolean {
  const groupCount = cvs.length / OUT_LEN;
  if (group < 0 || group >= groupCount) return false;
  const chunkGroupLog = opts.chunkGroupLog ?? 0;
  const cv = subtreeCV(bytes, group * 2 ** chunkGroupLog, groupCount === 1);
  return sameBytes(cv, cvs.subarray(group * OUT_LEN, (group + 1) * OUT_LEN));
}
