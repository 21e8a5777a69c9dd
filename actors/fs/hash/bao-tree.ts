// The shape of a bao tree: which groups of chunks exist, how the BLAKE3 tree splits them, where each
// node sits in the pre-order encoding, and which nodes a range request needs. No hashing here.
import { CHUNK_LEN } from './blake3.ts';

/** Bytes of the size header that starts every encoding (u64, little-endian). */
export const HEADER_LEN = 8;
/** Bytes of one parent node in the encoding: left chaining value then right chaining value. */
export const PARENT_LEN = 64;
/** Largest chunk group accepted: 2^16 chunks (64 MiB), so one group always fits in memory. */
export const MAX_CHUNK_GROUP_LOG = 16;

export interface BaoOptions {
  /** log2 of chunks per group: 0 = classic bao (1 KiB leaves), 4 = 16 KiB groups (the wire default). */
  chunkGroupLog?: number;
}

/** A byte range of the content: `len` bytes from `start`. */
export interface ByteRange {
  start: number;
  len: number;
}

export interface TreeShape {
  /** Content size in bytes. */
  size: number;
  chunkGroupLog: number;
  /** Bytes per group: 1024 << chunkGroupLog. */
  groupLen: number;
  /** Groups in the tree, at least 1 (empty content is one empty group). */
  groupCount: number;
}

/** A parent node, visited before its children (pre-order). */
export interface ParentVisit {
  kind: 'parent';
  /** Groups [lo, hi) under this node; the left child has [lo, mid). */
  lo: number;
  mid: number;
  hi: number;
  isRoot: boolean;
  /** Whether the left/right child is visited next (only those a range needs). */
  wantLeft: boolean;
  wantRight: boolean;
  /** Where this node is in a full combined encoding and in an outboard. */
  combinedOffset: number;
  outboardOffset: number;
}

/** A group of chunks (a leaf of the bao tree). */
export interface GroupVisit {
  kind: 'group';
  group: number;
  isRoot: boolean;
  /** Its bytes in the content: [dataStart, dataEnd). */
  dataStart: number;
  dataEnd: number;
  combinedOffset: number;
}

export type TreeVisit = ParentVisit | GroupVisit;

export class BaoRangeError extends RangeError {
  override name = 'BaoRangeError';
}

export function checkChunkGroupLog(chunkGroupLog: number): number {
  if (!Number.isInteger(chunkGroupLog) || chunkGroupLog < 0 || chunkGroupLog > MAX_CHUNK_GROUP_LOG) {
    throw new BaoRangeError(`bao: chunkGroupLog must be an integer 0..${MAX_CHUNK_GROUP_LOG}, got ${chunkGroupLog}`);
  }
  return chunkGroupLog;
}

export function treeShape(size: number, opts: BaoOptions = {}): TreeShape {
  if (!Number.isSafeInteger(size) || size < 0) throw new BaoRangeError(`bao: bad content size ${size}`);
  const chunkGroupLog = checkChunkGroupLog(opts.chunkGroupLog ?? 0);
  const groupLen = CHUNK_LEN * 2 ** chunkGroupLog;
  return { size, chunkGroupLog, groupLen, groupCount: Math.max(1, Math.ceil(size / groupLen)) };
}

/** Groups in the left subtree of a node over `n` ≥ 2 groups: the largest power of two below n. */
export function leftGroups(n: number): number {
  let p = 1;
  while (p * 2 < n) p *= 2;
  return p;
}

/** Bytes of the content held by groups [lo, hi). */
export function dataLen(shape: TreeShape, lo: number, hi: number): number {
  return Math.min(hi * shape.groupLen, shape.size) - Math.min(lo * shape.groupLen, shape.size);
}

/** Bytes of the combined encoding of the subtree over groups [lo, hi) (no header). */
export function encodedLen(shape: TreeShape, lo: number, hi: number): number {
  return PARENT_LEN * (hi - lo - 1) + dataLen(shape, lo, hi);
}

export function combinedLen(shape: TreeShape): number {
  return HEADER_LEN + encodedLen(shape, 0, shape.groupCount);
}

export function outboardLen(shape: TreeShape): number {
  return HEADER_LEN + PARENT_LEN * (shape.groupCount - 1);
}

/**
 * Group intervals [first, end) covering byte ranges, sorted and merged, as bao's slices do: a range
 * of length 0 still covers the group holding `start`, and a range starting at or past the end of the
 * content covers the last group (so a slice always proves the content's size).
 */
export function groupsForRanges(shape: TreeShape, ranges: readonly ByteRange[]): Array<[number, number]> {
  const intervals: Array<[number, number]> = [];
  for (const { start, len } of ranges) {
    if (!Number.isSafeInteger(start) || start < 0 || !Number.isSafeInteger(len) || len < 0) {
      throw new BaoRangeError(`bao: bad range start=${start} len=${len}`);
    }
    if (shape.size === 0) {
      intervals.push([0, 1]);
      continue;
    }
    const first = Math.min(start, shape.size - 1);
    const end = start >= shape.size ? shape.size : Math.min(shape.size, start + Math.max(len, 1));
    intervals.push([Math.floor(first / shape.groupLen), Math.ceil(end / shape.groupLen)]);
  }
  intervals.sort((a, b) => a[0] - b[0]);
  const merged: Array<[number, number]> = [];
  for (const interval of intervals) {
    const last = merged[merged.length - 1];
    if (last && interval[0] <= last[1]) last[1] = Math.max(last[1], interval[1]);
    else merged.push([interval[0], interval[1]]);
  }
  return merged;
}

function intersects(wanted: ReadonlyArray<readonly [number, number]> | undefined, lo: number, hi: number): boolean {
  if (!wanted) return true;
  for (const [a, b] of wanted) if (a < hi && b > lo) return true;
  return false;
}

interface Frame {
  lo: number;
  hi: number;
  combinedOffset: number;
  parentIndex: number;
}

/**
 * The nodes of the tree in pre-order (the order of the encoding), restricted to those the wanted
 * group intervals need (all of them when `wanted` is undefined).
 *
 * `fromGroup` resumes a walk: only nodes whose first group (`lo`, or the group itself) is at least
 * `fromGroup` are visited. Along the pre-order that first group never decreases, so the walks from
 * 0 to a, from a to b, … put together are exactly the whole walk: a slice can be read in windows
 * that each start at a group, without walking what earlier windows covered (O(log n) to resume).
 */
export function* walkTree(shape: TreeShape, wanted?: ReadonlyArray<readonly [number, number]>, fromGroup = 0): Generator<TreeVisit> {
  const n = shape.groupCount;
  const stack: Frame[] = [{ lo: 0, hi: n, combinedOffset: HEADER_LEN, parentIndex: 0 }];
  while (stack.length > 0) {
    const { lo, hi, combinedOffset, parentIndex } = stack.pop()!;
    if (hi <= fromGroup) continue; // wholly before the window
    const isRoot = lo === 0 && hi === n;
    if (hi - lo === 1) {
      yield {
        kind: 'group', group: lo, isRoot, combinedOffset,
        dataStart: Math.min(lo * shape.groupLen, shape.size), dataEnd: Math.min(hi * shape.groupLen, shape.size),
      };
      continue;
    }
    const mid = lo + leftGroups(hi - lo);
    const wantLeft = intersects(wanted, lo, mid);
    const wantRight = intersects(wanted, mid, hi);
    if (lo >= fromGroup) {
      yield {
        kind: 'parent', lo, mid, hi, isRoot, wantLeft, wantRight, combinedOffset,
        outboardOffset: HEADER_LEN + PARENT_LEN * parentIndex,
      };
    }
    const leftOffset = combinedOffset + PARENT_LEN;
    if (wantRight) {
      stack.push({
        lo: mid, hi, combinedOffset: leftOffset + encodedLen(shape, lo, mid), parentIndex: parentIndex + (mid - lo),
      });
    }
    if (wantLeft) stack.push({ lo, hi: mid, combinedOffset: leftOffset, parentIndex: parentIndex + 1 });
  }
}

export function writeSizeHeader(out: Uint8Array, size: number): void {
  const view = new DataView(out.buffer, out.byteOffset, HEADER_LEN);
  view.setUint32(0, size % 0x100000000, true);
  view.setUint32(4, Math.floor(size / 0x100000000), true);
}

/** The size in an 8-byte header; throws when it exceeds `maxSize` (default 2^53 - 1). */
export function readSizeHeader(header: Uint8Array, maxSize = Number.MAX_SAFE_INTEGER): number {
  if (header.length < HEADER_LEN) throw new BaoRangeError('bao: size header is 8 bytes');
  const view = new DataView(header.buffer, header.byteOffset, HEADER_LEN);
  const high = view.getUint32(4, true);
  const size = high * 0x100000000 + view.getUint32(0, true);
  if (high >= 0x200000 || size > maxSize) throw new BaoRangeError(`bao: size header ${size} exceeds the limit ${maxSize}`);
  return size;
}
