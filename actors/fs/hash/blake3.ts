// BLAKE3 (hash, keyed hash, key derivation, extended output) and the tree pieces bao needs.
// Pure and synchronous: no I/O, no actors. The compression function lives in blake3-compress.ts;
// this module owns the chunk state, the chaining-value stack and the root/XOF output.
import {
  CHUNK_END, CHUNK_START, CHUNK_WORDS, DERIVE_KEY_CONTEXT, DERIVE_KEY_MATERIAL, IV, KEYED_HASH, PARENT, ROOT,
  compress, compressChunks,
} from './blake3-compress.ts';
import { SIMD_MAX_CHUNKS, simdKernel } from './blake3-simd.ts';
import type { Blake3SimdKernel } from './blake3-simd.ts';

export const OUT_LEN = 32;
export const KEY_LEN = 32;
export const BLOCK_LEN = 64;
export const CHUNK_LEN = 1024;

// Blocks are read as little-endian words through a Uint32Array view; on a big-endian host that
// view would be wrong, and no Node.js platform we ship on is big-endian, so refuse loudly.
if (new Uint8Array(Uint32Array.of(1).buffer)[0] !== 1) {
  throw new Error('blake3: big-endian hosts are not supported');
}

/** Chunks hashed per call of the unrolled chunk loop (64 KiB: fits in L2 with its words). */
const BATCH_CHUNKS = 64;
// Shared scratch for the whole-chunk fast path; safe because hashing is synchronous.
const batchWords = new Uint32Array(BATCH_CHUNKS * CHUNK_WORDS);
const batchBytes = new Uint8Array(batchWords.buffer);
const batchCvs = new Uint32Array(BATCH_CHUNKS * 8);
const parentBlock = new Uint32Array(16);
const outputWords = new Uint32Array(16);
const outputBytes = new Uint8Array(outputWords.buffer);

// The WebAssembly SIMD kernel hashes whole chunks four at a time; the TypeScript kernel stays for
// runtimes without WebAssembly SIMD and as the tests' oracle (useSimdKernel(false)).
let simd: Blake3SimdKernel | undefined = simdKernel;

/** Fewest chunks worth a SIMD call: one per lane (fewer would hash unused lanes for nothing). */
const SIMD_MIN_CHUNKS = 4;

/** True when whole chunks go through the WebAssembly SIMD kernel. */
export function simdKernelActive(): boolean {
  return simd !== undefined;
}

/**
 * Turns the WebAssembly SIMD kernel on (where the runtime has it) or off (TypeScript only); returns
 * whether it was on. For tests and benchmarks; results are the same either way.
 */
export function useSimdKernel(enabled: boolean): boolean {
  const was = simd !== undefined;
  simd = enabled ? simdKernel : undefined;
  return was;
}

function popcount32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** Set bits of a non-negative safe integer (chunk counts reach 2^43 and beyond). */
function popcount(x: number): number {
  return popcount32(x >>> 0) + popcount32(Math.floor(x / 0x100000000) >>> 0);
}

/** Largest power of two ≤ `n` (n ≥ 1) that divides `position` (any power divides 0), at most `max`. */
function alignedPowerOfTwo(n: number, position: number, max: number): number {
  let count = max;
  while (count > n || position % count !== 0) count /= 2;
  return count;
}

export interface HashOptions {
  /** Output length in bytes (extended output, any length ≥ 0); default 32. */
  length?: number;
}

/** What a hasher computes: the plain hash, a keyed hash (32-byte key) or a derived key. */
export type Blake3Mode =
  | { kind: 'hash' }
  | { kind: 'keyed'; key: Uint8Array }
  | { kind: 'deriveKey'; context: string };

/** Key words and flags given directly: only for hashing a derive_key context inside this module. */
interface RawMode {
  kind: 'raw';
  key: Uint32Array;
  flags: number;
}

function wordsOf(bytes32: Uint8Array): Uint32Array {
  const words = new Uint32Array(8);
  new Uint8Array(words.buffer).set(bytes32);
  return words;
}

function bytesOfWords(words: Uint32Array, count: number): Uint8Array {
  // A fresh small array filled from a view: cheaper than ArrayBuffer.prototype.slice.
  const out = new Uint8Array(count * 4);
  out.set(new Uint8Array(words.buffer, words.byteOffset, count * 4));
  return out;
}

function checkLength(length: number): void {
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`blake3: bad output length ${length}`);
}

/**
 * The last compression of a (sub)tree, kept un-run so the caller decides whether it is the root
 * (ROOT flag, any output length) or an inner node (8-word chaining value).
 */
class PendingOutput {
  readonly cv = new Uint32Array(8);
  readonly block = new Uint32Array(16);
  counter = 0;
  blockLen = 0;
  flags = 0;

  chainingValue(out: Uint32Array, outOff: number): void {
    compress(this.cv, 0, this.block, 0, this.counter, this.blockLen, this.flags, out, outOff, false);
  }

  rootBytes(length: number, offset = 0): Uint8Array {
    const result = new Uint8Array(length);
    let produced = 0;
    let blockIndex = Math.floor(offset / BLOCK_LEN);
    let skip = offset % BLOCK_LEN;
    while (produced < length) {
      compress(this.cv, 0, this.block, 0, blockIndex, this.blockLen, this.flags | ROOT, outputWords, 0, true);
      const take = Math.min(BLOCK_LEN - skip, length - produced);
      result.set(outputBytes.subarray(skip, skip + take), produced);
      produced += take;
      skip = 0;
      blockIndex++;
    }
    return result;
  }
}

/**
 * Incremental BLAKE3. `update` any number of times, then `digest(length)` (any length: extended
 * output). `digest` does not consume the state, so more `update`s may follow.
 */
export class Blake3Hasher {
  private readonly key: Uint32Array;
  private readonly flags: number;
  // Chunk state: the chunk being filled.
  private readonly chunkCv = new Uint32Array(8);
  private readonly blockWords = new Uint32Array(16);
  private readonly blockBytes = new Uint8Array(this.blockWords.buffer);
  private blockLen = 0;
  private blocksCompressed = 0;
  private chunkCounter = 0;
  /** Chunk index where this (sub)tree starts; merges count chunks relative to it. */
  private startChunk = 0;
  // Chaining values of completed subtrees, largest first (at most 54 for 2^64 bytes).
  private readonly stack = new Uint32Array(54 * 8);
  private stackLen = 0;
  private readonly pending = new PendingOutput();

  constructor(mode: Blake3Mode | RawMode = { kind: 'hash' }) {
    if (mode.kind === 'raw') {
      this.key = mode.key.slice();
      this.flags = mode.flags;
    } else if (mode.kind === 'keyed') {
      if (mode.key.length !== KEY_LEN) throw new RangeError(`blake3: key must be ${KEY_LEN} bytes`);
      this.key = wordsOf(mode.key);
      this.flags = KEYED_HASH;
    } else if (mode.kind === 'deriveKey') {
      const contextHasher = new Blake3Hasher({ kind: 'raw', key: IV, flags: DERIVE_KEY_CONTEXT });
      contextHasher.update(new TextEncoder().encode(mode.context));
      this.key = wordsOf(contextHasher.digest(KEY_LEN));
      this.flags = DERIVE_KEY_MATERIAL;
    } else {
      this.key = IV.slice();
      this.flags = 0;
    }
    this.chunkCv.set(this.key);
  }

  static keyed(key: Uint8Array): Blake3Hasher {
    return new Blake3Hasher({ kind: 'keyed', key });
  }

  static deriveKey(context: string): Blake3Hasher {
    return new Blake3Hasher({ kind: 'deriveKey', context });
  }

  /**
   * Forget all input and start again, hashing a subtree whose first chunk has index `startChunk`
   * (0 for a whole input). Used by `subtreeCV` for the chunk groups of bao.
   */
  reset(startChunk = 0): this {
    if (!Number.isSafeInteger(startChunk) || startChunk < 0) throw new RangeError(`blake3: bad chunk index ${startChunk}`);
    this.startChunk = startChunk;
    this.chunkCounter = startChunk;
    this.chunkCv.set(this.key);
    this.blockLen = 0;
    this.blocksCompressed = 0;
    this.stackLen = 0;
    return this;
  }

  update(input: Uint8Array): this {
    let pos = 0;
    const end = input.length;
    while (pos < end) {
      if (this.blocksCompressed * BLOCK_LEN + this.blockLen === CHUNK_LEN) {
        // A full chunk followed by more input: it is not the root, so finish it.
        this.compressBufferedBlock(CHUNK_END);
        this.pushSubtreeCv(this.chunkCv, 0, 1);
        this.chunkCv.set(this.key);
        this.blocksCompressed = 0;
        this.blockLen = 0;
      }
      if (this.blocksCompressed === 0 && this.blockLen === 0 && end - pos > CHUNK_LEN) {
        // Fast path: whole chunks with more input after them (so none is the last chunk).
        const whole = Math.floor((end - pos - 1) / CHUNK_LEN);
        // The largest subtree that starts here: a power of two of chunks, aligned to its size. SIMD
        // pays off from four chunks (one per lane); fewer go through the TypeScript loop.
        const aligned = simd ? alignedPowerOfTwo(whole, this.chunkCounter - this.startChunk, SIMD_MAX_CHUNKS) : 0;
        if (simd && aligned >= SIMD_MIN_CHUNKS) {
          const count = aligned;
          simd.subtreeCv(this.key, input, pos, count, this.chunkCounter, this.flags, batchCvs, 0);
          this.pushSubtreeCv(batchCvs, 0, count);
          pos += count * CHUNK_LEN;
          continue;
        }
        const count = simd ? aligned : Math.min(BATCH_CHUNKS, whole);
        batchBytes.set(input.subarray(pos, pos + count * CHUNK_LEN));
        compressChunks(this.key, batchWords, 0, count, this.chunkCounter, this.flags, batchCvs, 0);
        for (let i = 0; i < count; i++) this.pushSubtreeCv(batchCvs, i * 8, 1);
        pos += count * CHUNK_LEN;
        continue;
      }
      if (this.blockLen === BLOCK_LEN) {
        this.compressBufferedBlock(0);
        this.blocksCompressed++;
        this.blockLen = 0;
      }
      const take = Math.min(BLOCK_LEN - this.blockLen, end - pos);
      this.blockBytes.set(input.subarray(pos, pos + take), this.blockLen);
      this.blockLen += take;
      pos += take;
    }
    return this;
  }

  /** The first `length` bytes (default 32) of the extended output. */
  digest(length: number = OUT_LEN): Uint8Array {
    checkLength(length);
    return this.finalOutput().rootBytes(length);
  }

  /** `length` bytes of the extended output starting at byte `offset` (seekable XOF). */
  digestAt(offset: number, length: number): Uint8Array {
    checkLength(length);
    checkLength(offset);
    return this.finalOutput().rootBytes(length, offset);
  }

  /** The non-root chaining value of everything hashed since `reset(startChunk)` (32 bytes). */
  subtreeChainingValue(): Uint8Array {
    const out = new Uint32Array(8);
    this.finalOutput().chainingValue(out, 0);
    return bytesOfWords(out, 8);
  }

  /** Number of bytes hashed since the last reset. */
  get byteCount(): number {
    return (this.chunkCounter - this.startChunk) * CHUNK_LEN + this.blocksCompressed * BLOCK_LEN + this.blockLen;
  }

  private compressBufferedBlock(extraFlags: number): void {
    // Zero the unused tail: a short final block is hashed as if padded with zeros.
    this.blockBytes.fill(0, this.blockLen);
    const flags = this.flags | extraFlags | (this.blocksCompressed === 0 ? CHUNK_START : 0);
    compress(this.chunkCv, 0, this.blockWords, 0, this.chunkCounter, this.blockLen, flags, this.chunkCv, 0, false);
  }

  /**
   * Adds the chaining value of the subtree of `count` chunks starting at `chunkCounter` (count a
   * power of two the position is a multiple of) and merges the subtrees it completes. Merging at
   * once is safe: callers push only when more input follows, so no merged node is the root.
   */
  private pushSubtreeCv(cvs: Uint32Array, off: number, count: number): void {
    this.chunkCounter += count;
    let top = this.stackLen * 8;
    this.stack.set(cvs.subarray(off, off + 8), top);
    this.stackLen++;
    // One stack entry per set bit of the chunk count: merge the two topmost until that holds.
    const entries = popcount(this.chunkCounter - this.startChunk);
    while (this.stackLen > entries) {
      parentBlock.set(this.stack.subarray(top - 8, top + 8));
      compress(this.key, 0, parentBlock, 0, 0, BLOCK_LEN, this.flags | PARENT, this.stack, top - 8, false);
      top -= 8;
      this.stackLen--;
    }
  }

  private finalOutput(): PendingOutput {
    const out = this.pending;
    // The chunk being filled (possibly empty for empty input) ends the tree.
    out.cv.set(this.chunkCv);
    out.block.fill(0);
    new Uint8Array(out.block.buffer).set(this.blockBytes.subarray(0, this.blockLen));
    out.counter = this.chunkCounter;
    out.blockLen = this.blockLen;
    out.flags = this.flags | CHUNK_END | (this.blocksCompressed === 0 ? CHUNK_START : 0);
    for (let i = this.stackLen - 1; i >= 0; i--) {
      // The right child's chaining value goes into the parent block after the left one.
      out.chainingValue(out.block, 8);
      out.block.set(this.stack.subarray(i * 8, i * 8 + 8), 0);
      out.cv.set(this.key);
      out.counter = 0;
      out.blockLen = BLOCK_LEN;
      out.flags = this.flags | PARENT;
    }
    return out;
  }
}

/** BLAKE3 of `bytes`; `length` bytes of output (default 32). */
export function blake3(bytes: Uint8Array, opts: HashOptions = {}): Uint8Array {
  return new Blake3Hasher().update(bytes).digest(opts.length ?? OUT_LEN);
}

/** BLAKE3 keyed hash (a MAC / PRF) with a 32-byte key. */
export function keyedHash(key: Uint8Array, bytes: Uint8Array, opts: HashOptions = {}): Uint8Array {
  return Blake3Hasher.keyed(key).update(bytes).digest(opts.length ?? OUT_LEN);
}

/** BLAKE3 key derivation: `context` is a hard-coded, globally unique, application string. */
export function deriveKey(context: string, material: Uint8Array, opts: HashOptions = {}): Uint8Array {
  return Blake3Hasher.deriveKey(context).update(material).digest(opts.length ?? OUT_LEN);
}

// One hasher reused for subtree chaining values (bao hashes many groups; no allocation each).
const subtreeHasher = new Blake3Hasher();

/**
 * Chaining value of the subtree made of `bytes`, whose first chunk has index `startChunk`.
 * `bytes` must be a whole BLAKE3 subtree: `startChunk` a multiple of the subtree's chunk count
 * rounded up to a power of two (true for every bao chunk group). With `isRoot` the result is the
 * BLAKE3 hash of the whole input (only meaningful when `startChunk` is 0 and `bytes` is all of it).
 */
export function subtreeCV(bytes: Uint8Array, startChunk: number, isRoot: boolean): Uint8Array {
  if (isRoot && startChunk !== 0) throw new RangeError('blake3: a root subtree starts at chunk 0');
  const chunks = bytes.length / CHUNK_LEN;
  if (simd && !isRoot && Number.isInteger(chunks) && chunks >= SIMD_MIN_CHUNKS && chunks <= SIMD_MAX_CHUNKS
    && (chunks & (chunks - 1)) === 0 && startChunk % chunks === 0) {
    // A whole aligned power-of-two subtree (every inner group of bao): one call of the SIMD kernel.
    simd.subtreeCv(IV, bytes, 0, chunks, startChunk, 0, batchCvs, 0);
    return bytesOfWords(batchCvs, 8);
  }
  if (!isRoot && bytes.length === CHUNK_LEN) {
    // One whole inner chunk (every group of classic bao): straight to the unrolled chunk loop.
    batchBytes.set(bytes);
    compressChunks(IV, batchWords, 0, 1, startChunk, 0, batchCvs, 0);
    return bytesOfWords(batchCvs, 8);
  }
  subtreeHasher.reset(startChunk).update(bytes);
  return isRoot ? subtreeHasher.digest(OUT_LEN) : subtreeHasher.subtreeChainingValue();
}

/** Chaining value of one chunk (at most 1024 bytes) at index `chunkIndex`; root flag if `isRoot`. */
export function chunkCV(bytes: Uint8Array, chunkIndex: number, isRoot: boolean): Uint8Array {
  if (bytes.length > CHUNK_LEN) throw new RangeError(`blake3: a chunk is at most ${CHUNK_LEN} bytes`);
  return subtreeCV(bytes, chunkIndex, isRoot);
}

const parentWords = new Uint32Array(16);
const parentOut = new Uint32Array(16);

/** Chaining value of a parent node from its children's (32 bytes each); root flag if `isRoot`. */
export function parentCV(left: Uint8Array, right: Uint8Array, isRoot: boolean): Uint8Array {
  if (left.length !== OUT_LEN || right.length !== OUT_LEN) throw new RangeError('blake3: a chaining value is 32 bytes');
  const bytes = new Uint8Array(parentWords.buffer);
  bytes.set(left, 0);
  bytes.set(right, OUT_LEN);
  compress(IV, 0, parentWords, 0, 0, BLOCK_LEN, PARENT | (isRoot ? ROOT : 0), parentOut, 0, false);
  return bytesOfWords(parentOut, 8);
}
