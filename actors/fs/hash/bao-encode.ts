// bao encoding: the outboard (size header + pre-order parents), the combined encoding (parents with
// the content's groups interleaved) and slices (only the nodes a byte range needs).
import { OUT_LEN, parentCV, subtreeCV } from './blake3.ts';
import {
  BaoRangeError, HEADER_LEN, PARENT_LEN, combinedLen, encodedLen, groupsForRanges, leftGroups, outboardLen, readSizeHeader, treeShape,
  walkTree, writeSizeHeader,
} from './bao-tree.ts';
import type { BaoOptions, ByteRange, TreeShape } from './bao-tree.ts';

export interface BaoOutboard {
  /** The BLAKE3 hash of the content (the root of the tree). */
  hash: Uint8Array;
  /** Size header then the parents in pre-order. */
  outboard: Uint8Array;
}

export interface BaoCombined {
  hash: Uint8Array;
  /** Size header then the tree in pre-order, each parent followed by its subtrees' data. */
  encoded: Uint8Array;
}

/**
 * Hashes groups [lo, hi) and writes their parents (and, when `combined` is given, the groups' data)
 * at their pre-order places. Returns the subtree's chaining value (the hash when it is the root).
 */
function encodeSubtree(
  shape: TreeShape, data: Uint8Array, lo: number, hi: number, outboard: Uint8Array, parentIndex: number,
  combined: Uint8Array | undefined, combinedOffset: number,
): Uint8Array {
  const isRoot = lo === 0 && hi === shape.groupCount;
  if (hi - lo === 1) {
    const start = Math.min(lo * shape.groupLen, shape.size);
    const end = Math.min(hi * shape.groupLen, shape.size);
    const bytes = data.subarray(start, end);
    combined?.set(bytes, combinedOffset);
    return subtreeCV(bytes, lo * 2 ** shape.chunkGroupLog, isRoot);
  }
  const mid = lo + leftGroups(hi - lo);
  const leftOffset = combinedOffset + PARENT_LEN;
  const rightOffset = leftOffset + encodedLen(shape, lo, mid);
  const left = encodeSubtree(shape, data, lo, mid, outboard, parentIndex + 1, combined, leftOffset);
  const right = encodeSubtree(shape, data, mid, hi, outboard, parentIndex + (mid - lo), combined, rightOffset);
  const at = HEADER_LEN + PARENT_LEN * parentIndex;
  outboard.set(left, at);
  outboard.set(right, at + OUT_LEN);
  combined?.set(outboard.subarray(at, at + PARENT_LEN), combinedOffset);
  return parentCV(left, right, isRoot);
}

/** The hash and outboard of `data` (the content itself is not copied). */
export function encodeOutboard(data: Uint8Array, opts: BaoOptions = {}): BaoOutboard {
  const shape = treeShape(data.length, opts);
  const outboard = new Uint8Array(outboardLen(shape));
  writeSizeHeader(outboard, shape.size);
  const hash = encodeSubtree(shape, data, 0, shape.groupCount, outboard, 0, undefined, 0);
  return { hash, outboard };
}

/** The hash and combined encoding of `data`. */
export function encodeCombined(data: Uint8Array, opts: BaoOptions = {}): BaoCombined {
  const shape = treeShape(data.length, opts);
  const outboard = new Uint8Array(outboardLen(shape));
  const encoded = new Uint8Array(combinedLen(shape));
  writeSizeHeader(outboard, shape.size);
  writeSizeHeader(encoded, shape.size);
  const hash = encodeSubtree(shape, data, 0, shape.groupCount, outboard, 0, encoded, HEADER_LEN);
  return { hash, encoded };
}

function need(source: Uint8Array, end: number, what: string): void {
  if (source.length < end) throw new BaoRangeError(`bao: ${what} is truncated (${source.length} < ${end} bytes)`);
}

/**
 * The slice of the encoding that proves bytes [start, start + len): size header, then the parents
 * and groups on the way to those bytes, in pre-order. `source` is the combined encoding when
 * `outboard` is undefined, else the content itself with `outboard` its outboard.
 */
export function extractSlice(
  source: Uint8Array, outboard: Uint8Array | undefined, start: number, len: number, opts: BaoOptions = {},
): Uint8Array {
  return extractRanges(source, outboard, [{ start, len }], opts);
}

/** Like `extractSlice` for several byte ranges at once: one pre-order walk over their union. */
export function extractRanges(
  source: Uint8Array, outboard: Uint8Array | undefined, ranges: readonly ByteRange[], opts: BaoOptions = {},
): Uint8Array {
  const header = outboard ?? source;
  need(header, HEADER_LEN, outboard ? 'outboard' : 'encoding');
  const shape = treeShape(readSizeHeader(header), opts);
  if (outboard) {
    need(outboard, outboardLen(shape), 'outboard');
    need(source, shape.size, 'content');
  } else {
    need(source, combinedLen(shape), 'encoding');
  }
  const wanted = groupsForRanges(shape, ranges);
  const pieces: Uint8Array[] = [header.subarray(0, HEADER_LEN)];
  let total = HEADER_LEN;
  for (const node of walkTree(shape, wanted)) {
    let piece: Uint8Array;
    if (node.kind === 'parent') {
      const at = outboard ? node.outboardOffset : node.combinedOffset;
      piece = header.subarray(at, at + PARENT_LEN);
    } else if (outboard) {
      piece = source.subarray(node.dataStart, node.dataEnd);
    } else {
      piece = source.subarray(node.combinedOffset, node.combinedOffset + node.dataEnd - node.dataStart);
    }
    pieces.push(piece);
    total += piece.length;
  }
  const slice = new Uint8Array(total);
  let at = 0;
  for (const piece of pieces) {
    slice.set(piece, at);
    at += piece.length;
  }
  return slice;
}
