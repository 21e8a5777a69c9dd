// Incremental verifying bao decoder: takes the encoded stream (combined encoding or a slice) in
// pieces of any size and hands out each group of content only after it matched the tree whose root
// is the expected hash. The first mismatch ends decoding with an error naming the node.
import { OUT_LEN, parentCV, subtreeCV } from './blake3.ts';
import {
  BaoRangeError, HEADER_LEN, PARENT_LEN, groupsForRanges, readSizeHeader, treeShape, walkTree,
} from './bao-tree.ts';
import type { BaoOptions, ByteRange, TreeShape, TreeVisit } from './bao-tree.ts';

export interface VerifiedGroup {
  /** Index of the group (chunk group) in the content. */
  group: number;
  /** Byte offset of `data` in the content. */
  offset: number;
  /**
   * The verified bytes (may be a view of the piece given to `write`). For a group that arrived
   * split across pieces and has `parts`, reading this joins them into a new array (once).
   */
  readonly data: Uint8Array;
  /**
   * The same bytes as views of the pieces given to `write`, in order, when the group spanned two
   * to four of them: a writer can `writev` these and never join them. Absent otherwise.
   */
  readonly parts?: readonly Uint8Array[];
  /** The number of bytes (`data.length`, without joining `parts`). */
  readonly length: number;
  /**
   * The group's chaining value, as the verified parents above it prove it (32 bytes); absent when
   * the group is the whole content (its value is then the root hash, with the root flag).
   */
  cv?: Uint8Array;
}

/**
 * A group whose parents are verified but whose own bytes are not hashed yet (`writeUnchecked`):
 * the caller hashes it (e.g. on a worker thread) and must compare with `expected` before using it.
 */
export interface UncheckedGroup {
  group: number;
  offset: number;
  /** The bytes, not yet checked (may be a view of the piece given to `writeUnchecked`). */
  data: Uint8Array;
  /** The chaining value the group must hash to: proven by its parents, or the root hash when `isRoot`. */
  expected: Uint8Array;
  /** Index of the group's first chunk (the BLAKE3 chunk counter to hash it with). */
  startChunk: number;
  /** The group is the whole content: hash it with the root flag. */
  isRoot: boolean;
  /** Offset of the group in the encoded stream (for the error message). */
  streamOffset: number;
}

/** The error a group that does not hash to its expected value gets (the same text `write` gives). */
export function groupMismatch(group: UncheckedGroup): BaoVerifyError {
  return new BaoVerifyError(
    `bao: group ${group.group} (content bytes ${group.offset}..${group.offset + group.data.length}) at stream offset ${group.streamOffset} does not match the hash`,
    'group', group.streamOffset, group.group,
  );
}

/** The verified form of an unchecked group whose hash matched. */
export function verifiedGroup(group: UncheckedGroup): VerifiedGroup {
  const { data } = group;
  return group.isRoot
    ? { group: group.group, offset: group.offset, data, length: data.length }
    : { group: group.group, offset: group.offset, data, length: data.length, cv: group.expected };
}

/**
 * A verified group that arrived split across pieces, kept as views of them: hashing used a reused
 * scratch copy, so nothing of the group is copied to keep it; `data` joins the parts on first use.
 */
class SplitGroup implements VerifiedGroup {
  #data: Uint8Array | undefined;
  constructor(
    readonly group: number,
    readonly offset: number,
    readonly parts: readonly Uint8Array[],
    readonly length: number,
    readonly cv: Uint8Array | undefined,
  ) {}
  get data(): Uint8Array {
    if (!this.#data) {
      const joined = new Uint8Array(this.length);
      let at = 0;
      for (const part of this.parts) {
        joined.set(part, at);
        at += part.length;
      }
      this.#data = joined;
    }
    return this.#data;
  }
}

/** A split group of more pieces than this is copied out whole (a writev of many tiny views costs more). */
const MAX_PARTS = 4;

/** Hashes an unchecked group here (on this thread): its verified form, or a BaoVerifyError. */
export function checkGroup(group: UncheckedGroup): VerifiedGroup {
  if (!sameBytes(subtreeCV(group.data, group.startChunk, group.isRoot), group.expected)) throw groupMismatch(group);
  return verifiedGroup(group);
}

export interface BaoDecoderOptions extends BaoOptions {
  /** Byte ranges the stream is a slice for; the whole content when absent. */
  ranges?: ByteRange[];
  /** Largest content size accepted from the stream's header (default 2^53 - 1). */
  maxSize?: number;
}

export type BaoFailure = 'header' | 'parent' | 'group' | 'trailing' | 'truncated';

export class BaoVerifyError extends Error {
  override name = 'BaoVerifyError';
  constructor(
    message: string,
    readonly failure: BaoFailure,
    /** Offset in the encoded stream where the offending piece starts. */
    readonly streamOffset: number,
    /** The group that failed (for a `group` failure) or the first group under a failed parent. */
    readonly group?: number,
  ) {
    super(message);
  }
}

/** Bytes of one gather slab (see groupSpace; only groups handed out unhashed, or in many parts, use it). */
const GATHER_SLAB = 1024 * 1024;

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

function describe(node: TreeVisit | undefined): string {
  if (!node) return 'the size header';
  if (node.kind === 'group') return `group ${node.group} (content bytes ${node.dataStart}..${node.dataEnd})`;
  return `the parent of groups ${node.lo}..${node.hi - 1}`;
}

export class BaoDecoder {
  private readonly hash: Uint8Array;
  private readonly expectedSize: number | undefined;
  private readonly opts: BaoDecoderOptions;
  private shape: TreeShape | undefined;
  private walker: Iterator<TreeVisit> | undefined;
  /** The node being received; undefined while the header is, null once the tree is complete. */
  private node: TreeVisit | undefined | null = undefined;
  private needLen = HEADER_LEN;
  /** Holds a header or parent split across pieces. */
  private readonly buffer = new Uint8Array(Math.max(HEADER_LEN, PARENT_LEN));
  /**
   * Where a node split across pieces is gathered: `buffer` (header, parent), `scratch` (a group
   * hashed here, reused: the group is handed out as `parts`), or a slab view (a group handed out
   * unhashed by `writeUnchecked`, which must outlive this call).
   */
  private gather: Uint8Array = this.buffer;
  private scratch: Uint8Array = new Uint8Array(0);
  /** Views of the pieces a group being gathered into `scratch` came in. */
  private parts: Uint8Array[] = [];
  private have = 0;
  /** Chaining values the next nodes must have, the next one last. */
  private readonly expected: Uint8Array[] = [];
  private streamOffset = 0;
  private slab: Uint8Array = new Uint8Array(0);
  private slabAt = 0;
  private failure: BaoVerifyError | undefined;
  /** Set while `writeUnchecked` runs: groups are handed out unhashed to this list. */
  private unchecked: UncheckedGroup[] | undefined;

  /**
   * `hash`: the BLAKE3 hash of the content. `size`: the content size if known (the stream's header
   * must then say the same), else taken from the header.
   */
  constructor(hash: Uint8Array, size: number | undefined, opts: BaoDecoderOptions = {}) {
    if (hash.length !== OUT_LEN) throw new BaoRangeError(`bao: a hash is ${OUT_LEN} bytes`);
    if (size !== undefined) treeShape(size, opts);
    this.hash = hash.slice();
    this.expectedSize = size;
    this.opts = opts;
    this.expected.push(this.hash);
  }

  /** True once every node the stream must carry has been verified. */
  get done(): boolean {
    return this.node === null;
  }

  /** The content size (after the header was read). */
  get size(): number | undefined {
    return this.shape?.size;
  }

  /**
   * Consumes the next piece of the stream now, and returns the groups it completed, each verified.
   * If the piece holds a bad node, the returned iterator yields the groups verified before it and
   * then throws a BaoVerifyError; the decoder stays failed. Iterate the result fully.
   */
  write(piece: Uint8Array): IterableIterator<VerifiedGroup> {
    const verified: VerifiedGroup[] = [];
    const failure = this.writeVerified(piece, verified);
    return (function* () {
      yield* verified;
      if (failure) throw failure;
    })();
  }

  /**
   * Like `write`, without an iterator per piece: pushes the verified groups to `out` and returns
   * the decoder's failure (after pushing the groups before it), else undefined.
   */
  writeVerified(piece: Uint8Array, out: VerifiedGroup[]): BaoVerifyError | undefined {
    try {
      this.consume(piece, out);
    } catch (error) {
      if (!(error instanceof BaoVerifyError)) throw error;
      this.failure = error;
      return error;
    }
    return undefined;
  }

  /**
   * Like `write`, but groups are not hashed: each is pushed to `out` with the value it must hash to,
   * and the caller checks it (`checkGroup`, or the same comparison after hashing elsewhere) before
   * using it. Parents and the header are verified here as in `write`. Returns the decoder's failure
   * (a bad parent, header or trailing bytes) after pushing the groups before it, else undefined.
   */
  writeUnchecked(piece: Uint8Array, out: UncheckedGroup[]): BaoVerifyError | undefined {
    this.unchecked = out;
    try {
      this.consume(piece, []);
    } catch (error) {
      if (!(error instanceof BaoVerifyError)) throw error;
      this.failure = error;
      return error;
    } finally {
      this.unchecked = undefined;
    }
    return undefined;
  }

  /** Call at the end of the stream: throws if the stream failed or stopped early. */
  finish(): void {
    if (this.failure) throw this.failure;
    if (this.node !== null) {
      const missing = this.needLen - this.have;
      throw this.fail('truncated', `bao: the stream ended at offset ${this.streamOffset + this.have}, ${missing} bytes short of the end of ${describe(this.node)}`);
    }
  }

  /** Decodes a whole stream, yielding verified groups; throws at the first bad or missing byte. */
  async *decode(source: AsyncIterable<Uint8Array>): AsyncGenerator<VerifiedGroup> {
    for await (const piece of source) yield* this.write(piece);
    this.finish();
  }

  /**
   * Room for one group split across pieces: a view of a shared 1 MiB slab, not an array per group.
   * A slice arrives in ~16 KiB transport pieces and the 64-byte parents shift every group across
   * two of them, so an array per group meant thousands of allocations (and GC) per 128 MiB. Views
   * handed out stay valid: a full slab is replaced, never reused. Unzeroed is fine: a view is
   * handed out only once every byte of it was written.
   */
  private groupSpace(len: number): Uint8Array {
    if (this.slabAt + len > this.slab.length) {
      const slab = Buffer.allocUnsafeSlow(Math.max(GATHER_SLAB, len));
      this.slab = new Uint8Array(slab.buffer, slab.byteOffset, slab.length);
      this.slabAt = 0;
    }
    const out = this.slab.subarray(this.slabAt, this.slabAt + len);
    this.slabAt += len;
    return out;
  }

  /** A copy of `bytes` that stays valid (in a slab). */
  private keep(bytes: Uint8Array): Uint8Array {
    const copy = this.groupSpace(bytes.length);
    copy.set(bytes);
    return copy;
  }

  /** The reused space a group split across pieces is gathered in to be hashed here. */
  private scratchSpace(len: number): Uint8Array {
    if (this.scratch.length < len) this.scratch = new Uint8Array(len);
    return this.scratch;
  }

  private fail(failure: BaoFailure, message: string, group?: number): BaoVerifyError {
    this.failure = new BaoVerifyError(message, failure, this.streamOffset, group);
    return this.failure;
  }

  private consume(input: Uint8Array, out: VerifiedGroup[]): void {
    if (this.failure) throw this.failure;
    // A Buffer's subarray builds a Buffer through its species constructor, several times slower
    // than a plain view; the groups and parts cut from a piece are plain views of the same bytes.
    const piece = input.constructor === Uint8Array ? input : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    let pos = 0;
    for (;;) {
      if (this.node === null) {
        if (pos < piece.length) {
          throw this.fail('trailing', `bao: ${piece.length - pos} unexpected bytes after the end of the stream at offset ${this.streamOffset}`);
        }
        return;
      }
      const want = this.needLen - this.have;
      if (want > 0 && pos === piece.length) return;
      let bytes: Uint8Array;
      if (this.have === 0 && piece.length - pos >= want) {
        bytes = piece.subarray(pos, pos + want);
        pos += want;
      } else {
        if (this.have === 0) {
          this.gather = this.node?.kind !== 'group' ? this.buffer : this.unchecked ? this.groupSpace(this.needLen) : this.scratchSpace(this.needLen);
          this.parts.length = 0;
        }
        const take = Math.min(want, piece.length - pos);
        const part = piece.subarray(pos, pos + take);
        this.gather.set(part, this.have);
        if (this.gather === this.scratch) this.parts.push(part);
        this.have += take;
        pos += take;
        if (this.have < this.needLen) return;
        // A header or parent is copied out; a group gathered for writeUnchecked is its own slab view.
        bytes = this.gather === this.buffer ? this.buffer.slice(0, this.needLen)
          : this.gather === this.scratch ? this.scratch.subarray(0, this.needLen) : this.gather;
      }
      this.accept(bytes, out);
      this.streamOffset += this.needLen;
      this.have = 0;
      this.next();
    }
  }

  /** Verifies one complete node (or the header). */
  private accept(bytes: Uint8Array, out: VerifiedGroup[]): void {
    const node = this.node;
    if (node === undefined) {
      this.startTree(bytes);
      return;
    }
    if (node === null) return;
    const expected = this.expected.pop()!;
    if (node.kind === 'parent') {
      const left = bytes.slice(0, OUT_LEN);
      const right = bytes.slice(OUT_LEN, PARENT_LEN);
      if (!sameBytes(parentCV(left, right, node.isRoot), expected)) {
        throw this.fail('parent', `bao: ${describe(node)} at stream offset ${this.streamOffset} does not match the hash`, node.lo);
      }
      if (node.wantRight) this.expected.push(right);
      if (node.wantLeft) this.expected.push(left);
      return;
    }
    const shape = this.shape!;
    if (this.unchecked) {
      // A group begun in a writeVerified call (into the scratch) must outlive this call.
      if (bytes.buffer === this.scratch.buffer) {
        bytes = this.keep(bytes);
        this.parts = [];
      }
      this.unchecked.push({
        group: node.group, offset: node.dataStart, data: bytes, expected, startChunk: node.group * 2 ** shape.chunkGroupLog,
        isRoot: node.isRoot, streamOffset: this.streamOffset,
      });
      return;
    }
    if (!sameBytes(subtreeCV(bytes, node.group * 2 ** shape.chunkGroupLog, node.isRoot), expected)) {
      throw this.fail('group', `bao: ${describe(node)} at stream offset ${this.streamOffset} does not match the hash`, node.group);
    }
    const cv = node.isRoot ? undefined : expected;
    if (bytes.buffer === this.scratch.buffer) {
      // Gathered into the reused scratch only to hash it: keep the pieces' views, or (many tiny
      // pieces) one copy. The scratch is overwritten by the next split group.
      const parts = this.parts;
      this.parts = [];
      if (parts.length <= MAX_PARTS) {
        out.push(new SplitGroup(node.group, node.dataStart, parts, bytes.length, cv));
        return;
      }
      bytes = this.keep(bytes);
    }
    out.push(cv ? { group: node.group, offset: node.dataStart, data: bytes, length: bytes.length, cv } : { group: node.group, offset: node.dataStart, data: bytes, length: bytes.length });
  }

  private startTree(header: Uint8Array): void {
    let size: number;
    try {
      size = readSizeHeader(header, this.opts.maxSize);
    } catch (error) {
      throw this.fail('header', (error as Error).message);
    }
    if (this.expectedSize !== undefined && size !== this.expectedSize) {
      throw this.fail('header', `bao: the stream's size header says ${size} bytes, expected ${this.expectedSize}`);
    }
    const shape = treeShape(size, this.opts);
    this.shape = shape;
    const wanted = this.opts.ranges ? groupsForRanges(shape, this.opts.ranges) : undefined;
    this.walker = walkTree(shape, wanted);
  }

  private next(): void {
    const step = this.walker?.next();
    if (!step || step.done) {
      this.node = null;
      return;
    }
    this.node = step.value;
    this.needLen = step.value.kind === 'parent' ? PARENT_LEN : step.value.dataEnd - step.value.dataStart;
  }
}
