// The blob store: content-addressed blobs (BLAKE3) as files under `<home>/blobs/`, each with its
// bao outboard (16 KiB groups), indexed in LMDB under `<home>/db/`. Plain class, no actors: the fs
// actor and the CLI both use it. Decisions and the crash-safety argument: docs/blob-store.md.
//
//   blobs/data/<hex>        complete content         blobs/data/<hex>.obao   its outboard
//   blobs/partial/<hex>     a blob being fetched (sparse; the index holds its verified-group bitfield)
//   blobs/partial/<hex>.obao  its outboard when the fetcher supplied one
//   blobs/partial/<hex>.cvs   the proven chaining value of each stored group (32 bytes at 32·group)
//   blobs/tmp/<pid>-<rand>.*  adds in progress (removed at open when <pid> is gone)
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { BusError } from '../../bus/errors.ts';
import { Blake3Pool, defaultHashWorkers } from './hash/blake3-pool.ts';
import { PipelinedVerifier } from './hash/bao-verify.ts';
import type { VerifiedGroup } from './hash/bao-decode.ts';
import { BaoDecoder, BaoVerifyError, HEADER_LEN, PARENT_LEN, groupsForRanges, treeShape, walkTree } from './hash/bao.ts';
import type { ByteRange, TreeShape } from './hash/bao.ts';
import { OutboardEncoder, OutboardVerifyError, groupChainingValues, groupMatches, outboardFromGroupCvs } from './hash/bao-stream.ts';
import { COLLECTION_MAGIC, MAX_COLLECTION_BYTES, decodeCollection, encodeCollection, isCollectionBytes } from './collection.ts';
import type { CollectionEntry } from './collection.ts';
import { BlobIndex } from './index-db.ts';
import type { BlobRecord } from './index-db.ts';
import { fsyncDir } from '../../lib/atomicFile.ts';

/** The wire's chunk groups: 2^4 chunks = 16 KiB. */
export const CHUNK_GROUP_LOG = 4;
export const GROUP_LEN = 1024 << CHUNK_GROUP_LOG;
const BAO = { chunkGroupLog: CHUNK_GROUP_LOG } as const;
const READ_PIECE = 256 * 1024;
/** Partial blobs untouched for this long are collected by gc() unless tagged. */
export const PARTIAL_GRACE_MS = 60 * 60 * 1000;
const HASH_HEX = /^[0-9a-f]{64}$/;
const TAG_NAME = /^[\x21-\x7e]{1,255}$/;

export type BlobSource = Uint8Array | string | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

export interface BlobStat {
  hash: string;
  size: number;
  complete: boolean;
  /** Groups of 16 KiB in the blob, and how many of them are verified and stored. */
  groups: number;
  verifiedGroups: number;
  tags: string[];
}

export interface AddOptions {
  /** Tag the new blob in the same index transaction (so gc() can never see it untagged). */
  tag?: string;
  /** Told the running byte count while the input streams in. */
  onProgress?: (bytes: number) => void;
}

export interface AddResult {
  hash: string;
  size: number;
}

export interface GcResult {
  removed: string[];
  kept: number;
}

/** Errors carry the bus's codes, so the actor and the operations pass them on unchanged. */
export class BlobStoreError extends BusError {
  override name = 'BlobStoreError';
}

function notFound(hash: string): BlobStoreError {
  return new BlobStoreError('NOT_FOUND', `blob ${hash} not found`);
}

export function checkHash(hash: string): string {
  if (typeof hash !== 'string' || !HASH_HEX.test(hash)) throw new BlobStoreError('INVALID_INPUT', 'a blob hash is 64 lower-case hex characters');
  return hash;
}

function checkTag(name: string): string {
  if (typeof name !== 'string' || !TAG_NAME.test(name)) throw new BlobStoreError('INVALID_INPUT', 'a tag is 1-255 printable ASCII characters without spaces');
  return name;
}

function hexOf(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}


function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function exists(file: string): boolean {
  return fs.existsSync(file);
}

function hasBit(bits: Uint8Array, g: number): boolean {
  return ((bits[g >> 3] ?? 0) & (1 << (g & 7))) !== 0;
}

function allBits(bits: Uint8Array, groups: number): boolean {
  for (let g = 0; g < groups; g++) if (!hasBit(bits, g)) return false;
  return true;
}

function countBits(bits: Uint8Array, groups: number): number {
  let n = 0;
  for (let g = 0; g < groups; g++) if (hasBit(bits, g)) n++;
  return n;
}

/** Byte ranges clamped to the content; an empty list means all of it. */
function clampRanges(size: number, ranges: readonly ByteRange[] | undefined): ByteRange[] {
  if (!ranges || ranges.length === 0) return [{ start: 0, len: size }];
  return ranges.map(({ start, len }) => {
    if (!Number.isSafeInteger(start) || start < 0 || !Number.isSafeInteger(len) || len < 0) {
      throw new BlobStoreError('INVALID_INPUT', `bad range start=${start} len=${len}`);
    }
    const s = Math.min(start, size);
    return { start: s, len: Math.min(len, size - s) };
  });
}

async function* sourcePieces(source: BlobSource): AsyncGenerator<Uint8Array> {
  if (source instanceof Uint8Array) {
    for (let at = 0; at < source.length; at += READ_PIECE) yield source.subarray(at, at + READ_PIECE);
  } else if (typeof source === 'string') {
    for await (const piece of fs.createReadStream(source, { highWaterMark: READ_PIECE })) yield piece as Buffer;
  } else {
    for await (const piece of source as AsyncIterable<Uint8Array>) {
      if (!(piece instanceof Uint8Array)) throw new BlobStoreError('INVALID_INPUT', 'a blob source must yield bytes');
      yield piece;
    }
  }
}

/** Reads [start, start + len) of an open file in pieces. */
async function* readRange(fh: fsp.FileHandle, start: number, len: number): AsyncGenerator<Uint8Array> {
  let at = start;
  const end = start + len;
  while (at < end) {
    const want = Math.min(READ_PIECE, end - at);
    const buf = Buffer.allocUnsafe(want);
    const { bytesRead } = await fh.read(buf, 0, want, at);
    if (bytesRead === 0) throw new BlobStoreError('INTERNAL', 'blob file is shorter than its index entry');
    yield buf.subarray(0, bytesRead);
    at += bytesRead;
  }
}

/** Outboards up to this size are read whole when serving a slice (blobs up to 4 GiB; larger ones read per parent). */
const MAX_OUTBOARD_IN_MEMORY = 16 * 1024 * 1024;
const WINDOW_BYTES = 1024 * 1024;
/** Contiguous verified groups gathered into one write by writeEncoded. */
const WRITE_RUN_BYTES = 1024 * 1024;
/** Bytes of one chaining value in a partial blob's .cvs file. */
const CV_LEN = 32;
/** Completion reads a blob's stored chaining values whole up to this (blobs up to 32 GiB); larger ones are rehashed. */
const MAX_CVS_IN_MEMORY = 64 * 1024 * 1024;

/** Runs writeEncoded may have being written at once. */
const WRITES_IN_FLIGHT = 4;
/** Background datasync interval of writeEncoded. */
const EARLY_SYNC_BYTES = 32 * 1024 * 1024;

/** Writes `buffers` back to back at `position` (one writev; a short one is finished by writes). */
async function writeBuffers(fh: fsp.FileHandle, buffers: Uint8Array[], position: number): Promise<void> {
  let total = 0;
  for (const b of buffers) total += b.length;
  const { bytesWritten } = await fh.writev(buffers, position);
  if (bytesWritten < total) await writeAll(fh, Buffer.concat(buffers, total).subarray(bytesWritten), position + bytesWritten);
}

async function writeAll(fh: fsp.FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) done += (await fh.write(bytes, done, bytes.length - done, position + done)).bytesWritten;
}

/**
 * Serves [start, end) of a file from one large read at a time. Each refill is a fresh buffer, so a
 * view handed out earlier stays valid while the caller still holds it. The next window is read
 * while the current one is being sent (the walk visits groups in increasing order), so the sender
 * does not stop for each 1 MiB read.
 */
class ReadWindow {
  #buf: Uint8Array = new Uint8Array(0);
  #at = 0;
  #ahead: { at: number; len: number; bytes: Promise<Uint8Array> } | undefined;
  constructor(private readonly fh: fsp.FileHandle, private readonly size: number) {}
  async read(start: number, end: number): Promise<Uint8Array> {
    if (start < this.#at || end > this.#at + this.#buf.length) {
      const len = Math.min(Math.max(WINDOW_BYTES, end - start), this.size - start);
      const ahead = this.#ahead;
      this.#ahead = undefined;
      this.#buf = ahead && ahead.at === start && ahead.len >= end - start ? await ahead.bytes : await readExact(this.fh, start, len);
      this.#at = start;
      const next = start + this.#buf.length;
      if (next < this.size) {
        const nextLen = Math.min(WINDOW_BYTES, this.size - next);
        const bytes = readExact(this.fh, next, nextLen);
        bytes.catch(() => undefined); // awaited by the next read or by settle()
        this.#ahead = { at: next, len: nextLen, bytes };
      }
    }
    return this.#buf.subarray(start - this.#at, end - this.#at);
  }
  /** Waits for a read ahead still in flight (before the file is closed). */
  async settle(): Promise<void> {
    await this.#ahead?.bytes.catch(() => undefined);
    this.#ahead = undefined;
  }
}

async function readExact(fh: fsp.FileHandle, position: number, len: number): Promise<Uint8Array> {
  // Unzeroed: every byte is read into before it is returned (a short file throws).
  const buf = Buffer.allocUnsafeSlow(len);
  let got = 0;
  while (got < len) {
    const { bytesRead } = await fh.read(buf, got, len - got, position + got);
    if (bytesRead === 0) throw new BlobStoreError('INTERNAL', 'blob file is shorter than its index entry');
    got += bytesRead;
  }
  return buf;
}

/** Hash and outboard of a file, streamed. */
async function hashFile(file: string): Promise<{ hash: string; outboard: Uint8Array; size: number }> {
  const encoder = new OutboardEncoder(BAO);
  for await (const piece of fs.createReadStream(file, { highWaterMark: READ_PIECE })) encoder.update(piece as Buffer);
  const size = encoder.size;
  const { hash, outboard } = encoder.finish();
  return { hash: hexOf(hash), outboard, size };
}

async function writeDurable(file: string, data: Uint8Array): Promise<void> {
  const fh = await fsp.open(file, 'wx', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export interface BlobStoreOptions {
  /**
   * Worker threads that hash the groups of received slices (0: on the main thread). Default:
   * `ALKNET_HASH_WORKERS`, else 1 on a machine with two or more cores (blake3-pool.ts).
   */
  hashWorkers?: number;
}

export class BlobStore {
  readonly root: string;
  readonly #dataDir: string;
  readonly #partialDir: string;
  readonly #tmpDir: string;
  readonly #index: BlobIndex;
  /** Per-hash queue: partial writes, completion and deletion of one blob never interleave here. */
  readonly #locks = new Map<string, Promise<unknown>>();
  #closed = false;
  /** Worker threads that hash received groups (writeEncoded); started on first use. */
  readonly #hashWorkers: number;
  #hashPool: Blake3Pool | undefined;

  private constructor(home: string, opts: BlobStoreOptions) {
    this.#hashWorkers = opts.hashWorkers ?? defaultHashWorkers();
    this.root = path.join(home, 'blobs');
    this.#dataDir = path.join(this.root, 'data');
    this.#partialDir = path.join(this.root, 'partial');
    this.#tmpDir = path.join(this.root, 'tmp');
    for (const dir of [this.#dataDir, this.#partialDir, this.#tmpDir, path.join(home, 'db')]) fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.#index = new BlobIndex(path.join(home, 'db'));
  }

  /** Opens (creating) the store of a node home and reconciles the index with the files. */
  static async open(home: string, opts: BlobStoreOptions = {}): Promise<BlobStore> {
    const store = new BlobStore(home, opts);
    await store.reconcile();
    return store;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled([...this.#locks.values()]);
    await Promise.all([this.#index.close(), this.#hashPool?.close()]);
  }

  /** The hashing pool, started on first need; undefined when configured off (0 workers) or closed. */
  #pool(): Blake3Pool | undefined {
    if (this.#hashWorkers < 1 || this.#closed) return undefined;
    this.#hashPool ??= new Blake3Pool(this.#hashWorkers);
    return this.#hashPool;
  }

  // ---------------------------------------------------------------------------------------- paths

  #dataFile(hash: string): string {
    return path.join(this.#dataDir, hash);
  }
  #outboardFile(hash: string): string {
    return path.join(this.#dataDir, `${hash}.obao`);
  }
  #partialFile(hash: string): string {
    return path.join(this.#partialDir, hash);
  }
  #partialOutboard(hash: string): string {
    return path.join(this.#partialDir, `${hash}.obao`);
  }
  #partialCvs(hash: string): string {
    return path.join(this.#partialDir, `${hash}.cvs`);
  }
  #tempFile(kind: string): string {
    return path.join(this.#tmpDir, `${process.pid}-${randomBytes(8).toString('hex')}.${kind}`);
  }

  #withLock<T>(hash: string, fn: () => Promise<T>): Promise<T> {
    const before = this.#locks.get(hash) ?? Promise.resolve();
    const run = before.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.#locks.set(hash, tail);
    void tail.then(() => {
      if (this.#locks.get(hash) === tail) this.#locks.delete(hash);
    });
    return run;
  }

  #record(hash: string): BlobRecord {
    const record = this.#index.get(checkHash(hash));
    if (!record) throw notFound(hash);
    return record;
  }

  // ------------------------------------------------------------------------------------------ add

  /**
   * Adds content (bytes, a file path or a stream of bytes). It streams into a temp file while the
   * hash and outboard are computed, and takes its final name only once the hash is known and the
   * file is durable; the index entry is written last, so an acknowledged add survives a crash.
   */
  async add(source: BlobSource, opts: AddOptions = {}): Promise<AddResult> {
    if (opts.tag !== undefined) checkTag(opts.tag);
    const tempData = this.#tempFile('data');
    const tempOutboard = this.#tempFile('obao');
    const encoder = new OutboardEncoder(BAO);
    let committed = false;
    try {
      const fh = await fsp.open(tempData, 'wx', 0o600);
      try {
        for await (const piece of sourcePieces(source)) {
          encoder.update(piece);
          let written = 0;
          while (written < piece.length) written += (await fh.write(piece, written, piece.length - written)).bytesWritten;
          opts.onProgress?.(encoder.size);
        }
        await fh.sync();
      } finally {
        await fh.close();
      }
      const size = encoder.size;
      const result = encoder.finish();
      const hash = hexOf(result.hash);
      await writeDurable(tempOutboard, result.outboard);
      await this.#withLock(hash, async () => {
        const existing = this.#index.get(hash);
        if (!(existing?.complete && exists(this.#dataFile(hash)))) {
          // Outboard first: a data file never has its final name without its outboard beside it.
          fs.renameSync(tempOutboard, this.#outboardFile(hash));
          fs.renameSync(tempData, this.#dataFile(hash));
          fsyncDir(this.#dataDir);
          committed = true;
        }
        await this.#index.putComplete(hash, size, opts.tag);
        if (existing && !existing.complete) this.#removePartialFiles(hash);
      });
      return { hash, size };
    } finally {
      if (!committed) {
        fs.rmSync(tempData, { force: true });
        fs.rmSync(tempOutboard, { force: true });
      }
    }
  }

  /**
   * Adds every file under `dir` (recursively; names are POSIX paths relative to it) and a collection
   * listing them, tagged `tag` (default: the folder's name). Returns the collection's hash.
   */
  async addDirectory(
    dir: string, opts: { tag?: string; onFile?: (name: string, result: AddResult) => void; onProgress?: (bytes: number) => void } = {},
  ): Promise<AddResult & { entries: CollectionEntry[] }> {
    const tag = checkTag(opts.tag ?? (path.basename(path.resolve(dir)) || 'root'));
    const entries: CollectionEntry[] = [];
    let before = 0;
    const walk = async (rel: string): Promise<void> => {
      const names = (await fsp.readdir(path.join(dir, rel), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
      for (const dirent of names) {
        const name = rel ? `${rel}/${dirent.name}` : dirent.name;
        if (dirent.isDirectory()) await walk(name);
        else if (dirent.isFile()) {
          // Children are tagged by the collection only once it exists; a gc() in between is spared
          // by a temporary tag per child, removed at the end.
          const result = await this.add(path.join(dir, name), {
            tag: `${tag}/.adding/${name}`.slice(0, 255),
            onProgress: opts.onProgress ? (n) => opts.onProgress!(before + n) : undefined,
          });
          before += result.size;
          entries.push({ name, hash: result.hash });
          opts.onFile?.(name, result);
        }
      }
    };
    try {
      await walk('');
      const result = await this.add(encodeCollection(entries), { tag });
      return { ...result, entries };
    } finally {
      for (const { name } of entries) await this.#index.removeTag(`${tag}/.adding/${name}`.slice(0, 255));
    }
  }

  // ----------------------------------------------------------------------------------------- read

  has(hash: string): boolean {
    const record = this.#index.get(checkHash(hash));
    return record?.complete === true;
  }

  stat(hash: string): BlobStat {
    const record = this.#record(hash);
    const groups = treeShape(record.size, BAO).groupCount;
    const bits = record.complete ? undefined : this.#index.bitfield(hash);
    const tags = [...this.#index.tags()].filter((t) => t.hash === hash).map((t) => t.name);
    return { hash, size: record.size, complete: record.complete, groups, verifiedGroups: record.complete ? groups : bits ? countBits(bits, groups) : 0, tags };
  }

  /** Blobs in hash order, starting after `after`, at most `limit`. */
  list(opts: { after?: string; limit?: number } = {}): BlobStat[] {
    const limit = Math.max(0, Math.min(opts.limit ?? Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER));
    const tagsByHash = new Map<string, string[]>();
    for (const { name, hash } of this.#index.tags()) tagsByHash.set(hash, [...(tagsByHash.get(hash) ?? []), name]);
    const out: BlobStat[] = [];
    for (const { hash, record } of this.#index.entries()) {
      if (opts.after !== undefined && hash <= opts.after) continue;
      if (out.length >= limit) break;
      const groups = treeShape(record.size, BAO).groupCount;
      const bits = record.complete ? undefined : this.#index.bitfield(hash);
      out.push({
        hash, size: record.size, complete: record.complete, groups,
        verifiedGroups: record.complete ? groups : bits ? countBits(bits, groups) : 0, tags: tagsByHash.get(hash) ?? [],
      });
    }
    return out;
  }

  tags(): Array<{ name: string; hash: string }> {
    return [...this.#index.tags()];
  }

  /**
   * The content (or the given byte ranges of it, concatenated, clamped to the size) as a stream of
   * pieces. A partial blob can be read where its groups are verified.
   */
  async get(hash: string, opts: { ranges?: ByteRange[] } = {}): Promise<AsyncGenerator<Uint8Array>> {
    const record = this.#record(hash);
    const ranges = clampRanges(record.size, opts.ranges);
    let file = this.#dataFile(hash);
    if (!record.complete) {
      const bits = this.#index.bitfield(hash) ?? new Uint8Array(0);
      const shape = treeShape(record.size, BAO);
      for (const r of ranges) {
        if (r.len === 0) continue;
        for (let g = Math.floor(r.start / GROUP_LEN); g < Math.ceil((r.start + r.len) / GROUP_LEN) && g < shape.groupCount; g++) {
          if (!hasBit(bits, g)) throw new BlobStoreError('NOT_FOUND', `blob ${hash}: bytes ${r.start}..${r.start + r.len} are not stored yet`);
        }
      }
      file = this.#partialFile(hash);
    }
    const fh = await fsp.open(file, 'r').catch(() => {
      throw notFound(hash);
    });
    return (async function* () {
      try {
        for (const r of ranges) yield* readRange(fh, r.start, r.len);
      } finally {
        await fh.close();
      }
    })();
  }

  /** The whole content (or ranges) in memory, refusing more than `maxBytes` (default 64 MiB). */
  async getBytes(hash: string, opts: { ranges?: ByteRange[]; maxBytes?: number } = {}): Promise<Uint8Array> {
    const record = this.#record(hash);
    const total = clampRanges(record.size, opts.ranges).reduce((n, r) => n + r.len, 0);
    const max = opts.maxBytes ?? 64 * 1024 * 1024;
    if (total > max) throw new BlobStoreError('INVALID_INPUT', `blob ${hash}: ${total} bytes is over the ${max}-byte limit; stream it instead`);
    const out = new Uint8Array(total);
    let at = 0;
    for await (const piece of await this.get(hash, opts)) {
      out.set(piece, at);
      at += piece.length;
    }
    return out;
  }

  /** The Readable form of `get`, for piping into a file or a socket. */
  async createReadStream(hash: string, opts: { ranges?: ByteRange[] } = {}): Promise<Readable> {
    return Readable.from(await this.get(hash, opts), { objectMode: false });
  }

  /**
   * The verified-stream encoding a provider sends: bao slice (16 KiB groups) of a complete blob for
   * the byte ranges (all of it when none), read piece by piece from the data and outboard files.
   */
  async encoded(hash: string, ranges?: ByteRange[]): Promise<AsyncGenerator<Uint8Array>> {
    const record = this.#record(hash);
    if (!record.complete) throw new BlobStoreError('NOT_FOUND', `blob ${hash} is not complete here`);
    const shape = treeShape(record.size, BAO);
    const wanted = ranges && ranges.length > 0 ? groupsForRanges(shape, ranges) : undefined;
    const data = await fsp.open(this.#dataFile(hash), 'r').catch(() => {
      throw notFound(hash);
    });
    const outboard = await fsp.open(this.#outboardFile(hash), 'r').catch(async () => {
      await data.close();
      throw notFound(hash);
    });
    return (async function* () {
      try {
        // The outboard is 0.4 % of the content: read it at once (up to a bound) instead of 64 bytes
        // per parent; the data is read through a window of large sequential reads, because the walk
        // visits groups in increasing order.
        const obLen = HEADER_LEN + PARENT_LEN * (shape.groupCount - 1);
        const ob = obLen <= MAX_OUTBOARD_IN_MEMORY ? await readExact(outboard, 0, obLen) : undefined;
        yield ob ? ob.subarray(0, HEADER_LEN) : await readExact(outboard, 0, HEADER_LEN);
        const window = new ReadWindow(data, shape.size);
        try {
          for (const node of walkTree(shape, wanted)) {
            if (node.kind === 'parent') {
              yield ob ? ob.subarray(node.outboardOffset, node.outboardOffset + PARENT_LEN) : await readExact(outboard, node.outboardOffset, PARENT_LEN);
            } else {
              yield await window.read(node.dataStart, node.dataEnd);
            }
          }
        } finally {
          await window.settle();
        }
      } finally {
        await Promise.allSettled([data.close(), outboard.close()]);
      }
    })();
  }

  /** Whether a blob is a collection (reads only its marker). */
  async isCollection(hash: string): Promise<boolean> {
    const record = this.#index.get(checkHash(hash));
    if (!record?.complete || record.size < COLLECTION_MAGIC.length || record.size > MAX_COLLECTION_BYTES) return false;
    const fh = await fsp.open(this.#dataFile(hash), 'r').catch(() => undefined);
    if (!fh) return false;
    try {
      return isCollectionBytes(await readExact(fh, 0, COLLECTION_MAGIC.length));
    } finally {
      await fh.close();
    }
  }

  async readCollection(hash: string): Promise<CollectionEntry[]> {
    if (!(await this.isCollection(hash))) throw new BlobStoreError('INVALID_INPUT', `blob ${hash} is not a collection`);
    try {
      return decodeCollection(await this.getBytes(hash, { maxBytes: MAX_COLLECTION_BYTES }));
    } catch (err) {
      if (err instanceof BusError) throw err;
      throw new BlobStoreError('INVALID_INPUT', (err as Error).message);
    }
  }

  // ---------------------------------------------------------------------------------------- tags

  async tag(name: string, hash: string): Promise<void> {
    checkTag(name);
    checkHash(hash);
    if (!(await this.#index.putTag(name, hash))) throw notFound(hash);
  }

  async untag(name: string): Promise<boolean> {
    return this.#index.removeTag(checkTag(name));
  }

  // ------------------------------------------------------------------------------------- partial

  /**
   * Starts (or resumes) a blob being fetched. With `outboard` (checked against the hash), single
   * groups can be verified by `writeVerifiedGroup`; without it, feed bao slices to `writeEncoded`.
   */
  async beginPartial(hash: string, size: number, opts: { outboard?: Uint8Array } = {}): Promise<BlobStat> {
    checkHash(hash);
    if (!Number.isSafeInteger(size) || size < 0) throw new BlobStoreError('INVALID_INPUT', `bad blob size ${size}`);
    if (opts.outboard) {
      try {
        groupChainingValues(Buffer.from(hash, 'hex'), opts.outboard, BAO);
      } catch (err) {
        throw new BlobStoreError('INVALID_INPUT', err instanceof OutboardVerifyError ? err.message : 'bad outboard');
      }
      if (treeShape(size, BAO).size !== size || opts.outboard.length < HEADER_LEN) throw new BlobStoreError('INVALID_INPUT', 'bad outboard');
    }
    return this.#withLock(hash, async () => {
      const record = this.#index.get(hash);
      if (record && record.size !== size) throw new BlobStoreError('INVALID_INPUT', `blob ${hash} is ${record.size} bytes, not ${size}`);
      if (!record) {
        // Index first, then the file: reconcile recreates a missing partial file, and deletes
        // partial files without an entry.
        const groups = treeShape(size, BAO).groupCount;
        await this.#index.putPartial(hash, size, new Uint8Array(Math.ceil(groups / 8)));
        this.#createPartialFile(hash, size);
      }
      if (opts.outboard && !(record?.complete) && !exists(this.#partialOutboard(hash))) {
        const temp = this.#tempFile('obao');
        await writeDurable(temp, opts.outboard);
        fs.renameSync(temp, this.#partialOutboard(hash));
        fsyncDir(this.#partialDir);
      }
      return this.stat(hash);
    });
  }

  /** Byte ranges of a partial blob not yet verified (empty for a complete one). */
  missingRanges(hash: string): ByteRange[] {
    const record = this.#record(hash);
    if (record.complete) return [];
    const shape = treeShape(record.size, BAO);
    const bits = this.#index.bitfield(hash) ?? new Uint8Array(0);
    const out: ByteRange[] = [];
    for (let g = 0; g < shape.groupCount; g++) {
      if (hasBit(bits, g)) continue;
      const start = g * GROUP_LEN;
      const end = Math.min((g + 1) * GROUP_LEN, shape.size);
      const last = out[out.length - 1];
      if (last && last.start + last.len === start) last.len += end - start;
      else out.push({ start, len: end - start });
    }
    return out;
  }

  /**
   * Stores one 16 KiB group of a partial blob after checking it against the blob's tree (needs the
   * outboard given to beginPartial, or a one-group blob). A wrong group is refused (INVALID_INPUT).
   */
  async writeVerifiedGroup(hash: string, group: number, bytes: Uint8Array): Promise<BlobStat> {
    return this.#withLock(checkHash(hash), async () => {
      const { shape } = this.#partialShape(hash);
      if (!Number.isSafeInteger(group) || group < 0 || group >= shape.groupCount) {
        throw new BlobStoreError('INVALID_INPUT', `blob ${hash} has no group ${group}`);
      }
      const expectedLen = Math.min((group + 1) * GROUP_LEN, shape.size) - Math.min(group * GROUP_LEN, shape.size);
      if (bytes.length !== expectedLen) throw new BlobStoreError('INVALID_INPUT', `group ${group} is ${expectedLen} bytes, got ${bytes.length}`);
      let cvs: Uint8Array;
      if (shape.groupCount === 1) cvs = Buffer.from(hash, 'hex');
      else {
        const outboard = await fsp.readFile(this.#partialOutboard(hash)).catch(() => undefined);
        if (!outboard) throw new BlobStoreError('INVALID_INPUT', `blob ${hash}: no outboard to verify a single group; use a bao slice`);
        cvs = groupChainingValues(Buffer.from(hash, 'hex'), outboard, BAO);
      }
      if (!groupMatches(cvs, group, bytes, BAO)) throw new BlobStoreError('INVALID_INPUT', `blob ${hash}: group ${group} does not match the hash`);
      const cv = shape.groupCount === 1 ? undefined : cvs.subarray(group * CV_LEN, (group + 1) * CV_LEN);
      await this.#storeGroups(hash, shape, [{ group, offset: group * GROUP_LEN, data: bytes, cv }]);
      return this.#maybeComplete(hash);
    });
  }

  /**
   * Verifies a bao slice (16 KiB groups) for `ranges` of a partial blob and stores every group it
   * proves. Groups verified before a bad one are kept (so a retry resumes after them); the bad one
   * is refused with INVALID_INPUT. Completes the blob when every group is stored.
   */
  async writeEncoded(hash: string, ranges: ByteRange[] | undefined, source: Uint8Array | AsyncIterable<Uint8Array>): Promise<BlobStat> {
    return this.#withLock(checkHash(hash), async () => {
      const { shape, bits } = this.#partialShape(hash);
      const decoder = new BaoDecoder(Buffer.from(hash, 'hex'), shape.size, { ...BAO, ranges: ranges && ranges.length > 0 ? ranges : undefined });
      const fh = await fsp.open(this.#partialFile(hash), 'r+');
      const cvFile = await this.#openCvs(hash, shape);
      const written: number[] = [];
      // Verified groups that follow each other are written together (one writev per ~1 MiB instead
      // of one write per 16 KiB group, no copy), with their proven chaining values. Up to
      // WRITES_IN_FLIGHT runs are written while the next is verified; the bits are set only after
      // both files are fsynced. Every 32 MiB a datasync starts in the background, so the final
      // fsync has little left to flush.
      let run: Uint8Array[] = [];
      let runStart = 0;
      let runBytes = 0;
      let runCvs = new Uint8Array((WRITE_RUN_BYTES / GROUP_LEN + 1) * CV_LEN);
      let runCvCount = 0;
      // Writes still in flight, oldest first: several runs may be written at once (pwritev at
      // distinct offsets), so a slow write does not stop the slice being read and verified.
      const inFlight: Promise<unknown>[] = [];
      let syncing: Promise<unknown> = Promise.resolve();
      let unsynced = 0;
      const flush = async (): Promise<void> => {
        if (runBytes === 0) return;
        const buffers = run;
        const start = runStart;
        const cvs = runCvs.subarray(0, runCvCount * CV_LEN);
        unsynced += runBytes;
        run = [];
        runBytes = 0;
        runCvs = new Uint8Array(runCvs.length);
        runCvCount = 0;
        while (inFlight.length >= WRITES_IN_FLIGHT) await inFlight.shift();
        const writing = Promise.all([
          writeBuffers(fh, buffers, start),
          cvFile && cvs.length > 0 ? writeAll(cvFile, cvs, (start / GROUP_LEN) * CV_LEN) : undefined,
        ]);
        // Handled here so a failed write never counts as unhandled; the next await still throws.
        writing.catch(() => undefined);
        inFlight.push(writing);
        if (unsynced >= EARLY_SYNC_BYTES) {
          unsynced = 0;
          const previousWrite = Promise.all(inFlight);
          syncing = syncing.then(() => previousWrite).then(() => fh.datasync());
          syncing.catch(() => undefined);
        }
      };
      // Groups are hashed on the worker pool (large blobs) while this loop reads on; each comes
      // out of the verifier only after its value matched the one its parents prove.
      const take = async (groups: Iterable<VerifiedGroup>): Promise<void> => {
        for (const group of groups) {
          if (hasBit(bits, group.group)) continue;
          if (runBytes > 0 && (group.offset !== runStart + runBytes || runBytes >= WRITE_RUN_BYTES)) await flush();
          if (runBytes === 0) runStart = group.offset;
          // A group that arrived split across pieces is written from those pieces (no join copy).
          if (group.parts) run.push(...group.parts);
          else run.push(group.data);
          runBytes += group.length;
          if (group.cv) runCvs.set(group.cv, CV_LEN * runCvCount++);
          written.push(group.group);
        }
      };
      const verifier = new PipelinedVerifier(decoder, this.#pool());
      let failure: unknown;
      try {
        // One loop over the pieces, the decoder fed synchronously (no async generator per layer):
        // the slice arrives in ~16 KiB pieces, and each async layer cost promises per piece.
        // On this thread (no pool) a piece is verified synchronously: no promise or iterator per piece.
        const pieces = source instanceof Uint8Array ? [source] : source;
        const verified: VerifiedGroup[] = [];
        for await (const piece of pieces as AsyncIterable<Uint8Array>) {
          const outcome = verifier.writeInto(piece, verified);
          const bad = outcome instanceof Promise ? await outcome : outcome;
          if (verified.length > 0) {
            await take(verified);
            verified.length = 0;
          }
          if (bad) throw bad;
        }
        await take(await verifier.finish());
      } catch (err) {
        failure = err;
        // Cut off (not bad data): what arrived and verifies is kept, so a resume skips it.
        if (!(err instanceof BaoVerifyError)) await verifier.settle().then(take).catch(() => undefined);
      } finally {
        try {
          await flush();
          await Promise.all(inFlight);
          await syncing;
          await Promise.all([fh.sync(), cvFile?.sync()]);
        } finally {
          await Promise.all([fh.close(), cvFile?.close()]);
        }
      }
      if (written.length > 0) await this.#index.setGroups(hash, written);
      if (failure instanceof BaoVerifyError) throw new BlobStoreError('INVALID_INPUT', failure.message);
      if (failure) throw failure;
      return this.#maybeComplete(hash);
    });
  }

  #partialShape(hash: string): { shape: TreeShape; bits: Uint8Array } {
    const record = this.#record(hash);
    if (record.complete) throw new BlobStoreError('INVALID_INPUT', `blob ${hash} is already complete`);
    return { shape: treeShape(record.size, BAO), bits: this.#index.bitfield(hash) ?? new Uint8Array(0) };
  }

  async #storeGroups(hash: string, shape: TreeShape, groups: Array<{ group: number; offset: number; data: Uint8Array; cv: Uint8Array | undefined }>): Promise<void> {
    const fh = await fsp.open(this.#partialFile(hash), 'r+');
    const cvFile = await this.#openCvs(hash, shape);
    try {
      for (const g of groups) {
        await writeAll(fh, g.data, g.offset);
        if (cvFile && g.cv) await writeAll(cvFile, g.cv, g.group * CV_LEN);
      }
      // Durable before the index claims the group.
      await Promise.all([fh.sync(), cvFile?.sync()]);
    } finally {
      await Promise.all([fh.close(), cvFile?.close()]);
    }
    await this.#index.setGroups(hash, groups.map((g) => g.group));
  }

  /** The chaining-value file of a partial blob, created if absent; none for a one-group blob. */
  async #openCvs(hash: string, shape: TreeShape): Promise<fsp.FileHandle | undefined> {
    if (shape.groupCount === 1) return undefined;
    return fsp.open(this.#partialCvs(hash), fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  }

  /**
   * The outboard of a partial blob whose groups are all stored, built from the chaining values
   * stored beside them (no content is hashed); undefined when that file is missing or does not
   * rebuild the root hash (e.g. written by an older version), and the caller then rehashes.
   */
  async #outboardFromStoredCvs(hash: string, shape: TreeShape): Promise<Uint8Array | undefined> {
    if (shape.groupCount === 1 || shape.groupCount * CV_LEN > MAX_CVS_IN_MEMORY) return undefined;
    const cvs = await fsp.readFile(this.#partialCvs(hash)).catch(() => undefined);
    if (!cvs || cvs.length < shape.groupCount * CV_LEN) return undefined;
    const rebuilt = outboardFromGroupCvs(shape.size, cvs.subarray(0, shape.groupCount * CV_LEN), BAO);
    return rebuilt && hexOf(rebuilt.hash) === hash ? rebuilt.outboard : undefined;
  }

  /**
   * When every group is stored, make the blob complete. Every stored group was verified against
   * the hash before it was written, and its proven chaining value was fsynced beside it before its
   * bit was set; so the outboard is rebuilt from those values (one compression per group), and
   * only if they rebuild the root hash. Without them (a one-group blob, or a file from an older
   * version) the content is rehashed as before. docs/blobs-protocol.md ("Completion") has the argument.
   */
  async #maybeComplete(hash: string): Promise<BlobStat> {
    const record = this.#record(hash);
    if (record.complete) return this.stat(hash);
    const shape = treeShape(record.size, BAO);
    const bits = this.#index.bitfield(hash) ?? new Uint8Array(0);
    if (!allBits(bits, shape.groupCount)) return this.stat(hash);
    const partial = this.#partialFile(hash);
    let outboard = await this.#outboardFromStoredCvs(hash, shape);
    if (!outboard) {
      const check = await hashFile(partial);
      if (check.hash !== hash || check.size !== record.size) {
        // Cannot happen with verified groups unless the file was changed behind our back: start over.
        await this.#index.putPartial(hash, record.size, new Uint8Array(bits.length));
        this.#createPartialFile(hash, record.size);
        throw new BlobStoreError('INTERNAL', `blob ${hash}: stored groups do not hash to the blob; fetch restarts`);
      }
      outboard = check.outboard;
    }
    const temp = this.#tempFile('obao');
    await writeDurable(temp, outboard);
    fs.renameSync(temp, this.#outboardFile(hash));
    fs.renameSync(partial, this.#dataFile(hash));
    fsyncDir(this.#dataDir);
    await this.#index.putComplete(hash, record.size);
    fs.rmSync(this.#partialOutboard(hash), { force: true });
    fs.rmSync(this.#partialCvs(hash), { force: true });
    return this.stat(hash);
  }

  #createPartialFile(hash: string, size: number): void {
    const fd = fs.openSync(this.#partialFile(hash), 'w', 0o600);
    try {
      fs.ftruncateSync(fd, size);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fsyncDir(this.#partialDir);
  }

  #removePartialFiles(hash: string): void {
    fs.rmSync(this.#partialFile(hash), { force: true });
    fs.rmSync(this.#partialOutboard(hash), { force: true });
    fs.rmSync(this.#partialCvs(hash), { force: true });
  }

  // ------------------------------------------------------------------------------ delete and gc

  /** Removes a blob (complete or partial) and the tags naming it. False if it was not there. */
  async delete(hash: string): Promise<boolean> {
    return this.#withLock(checkHash(hash), async () => {
      if (!this.#index.get(hash)) return false;
      // Index first: a crash after it leaves files without an entry, which reconcile re-indexes
      // or removes; never an entry claiming files that are gone.
      await this.#index.remove(hash);
      this.#removeFiles(hash);
      return true;
    });
  }

  #removeFiles(hash: string): void {
    fs.rmSync(this.#dataFile(hash), { force: true });
    fs.rmSync(this.#outboardFile(hash), { force: true });
    this.#removePartialFiles(hash);
  }

  /** The hashes tags pin: tagged blobs and, for tagged collections, their children (recursively). */
  async pinned(): Promise<Set<string>> {
    const live = new Set<string>();
    const queue = [...this.#index.tags()].map((t) => t.hash);
    while (queue.length > 0) {
      const hash = queue.pop()!;
      if (live.has(hash)) continue;
      live.add(hash);
      if (await this.isCollection(hash)) {
        try {
          for (const entry of await this.readCollection(hash)) queue.push(entry.hash);
        } catch {
          // A blob with the marker that does not decode pins nothing more.
        }
      }
    }
    return live;
  }

  /**
   * Removes every blob no tag pins, keeping every child of a pinned collection. Untagged partial
   * blobs touched within PARTIAL_GRACE_MS (a fetch in progress) are kept.
   */
  async gc(opts: { partialGraceMs?: number } = {}): Promise<GcResult> {
    const live = await this.pinned();
    const grace = opts.partialGraceMs ?? PARTIAL_GRACE_MS;
    const now = Date.now();
    const removed: string[] = [];
    let kept = 0;
    for (const { hash, record } of [...this.#index.entries()]) {
      if (live.has(hash) || (!record.complete && now - record.updatedAt < grace)) {
        kept++;
        continue;
      }
      // Re-check under the lock: a tag may have arrived meanwhile.
      const gone = await this.#withLock(hash, async () => {
        if ([...this.#index.tags()].some((t) => t.hash === hash)) return false;
        await this.#index.remove(hash);
        this.#removeFiles(hash);
        return true;
      });
      if (gone) removed.push(hash);
      else kept++;
    }
    return { removed, kept };
  }

  // ----------------------------------------------------------------------------------- reconcile

  /**
   * Makes the index and the files agree after a crash: temp files of dead processes are removed;
   * entries whose files are missing or the wrong size are dropped (complete) or reset (partial);
   * complete files without an entry are re-hashed and indexed if they match their name.
   */
  async reconcile(): Promise<{ removedTemp: number; dropped: string[]; reindexed: string[] }> {
    let removedTemp = 0;
    for (const name of fs.readdirSync(this.#tmpDir)) {
      const pid = Number(name.split('-')[0]);
      // Our own process and live ones may be adding right now (several stores may share a home).
      if (Number.isInteger(pid) && pid > 0 && (pid === process.pid || pidAlive(pid))) continue;
      fs.rmSync(path.join(this.#tmpDir, name), { force: true });
      removedTemp++;
    }
    const dropped: string[] = [];
    const reindexed: string[] = [];
    for (const { hash, record } of [...this.#index.entries()]) {
      if (!HASH_HEX.test(hash)) {
        await this.#index.remove(hash);
        continue;
      }
      if (record.complete) {
        const st = fs.statSync(this.#dataFile(hash), { throwIfNoEntry: false });
        if (!st || st.size !== record.size) {
          await this.#index.remove(hash);
          this.#removeFiles(hash);
          dropped.push(hash);
          continue;
        }
        const ob = fs.statSync(this.#outboardFile(hash), { throwIfNoEntry: false });
        if (!ob || ob.size !== HEADER_LEN + PARENT_LEN * (treeShape(record.size, BAO).groupCount - 1)) {
          const check = await hashFile(this.#dataFile(hash));
          if (check.hash !== hash) {
            await this.#index.remove(hash);
            this.#removeFiles(hash);
            dropped.push(hash);
            continue;
          }
          const temp = this.#tempFile('obao');
          await writeDurable(temp, check.outboard);
          fs.renameSync(temp, this.#outboardFile(hash));
          reindexed.push(hash);
        }
        this.#removePartialFiles(hash);
      } else {
        const st = fs.statSync(this.#partialFile(hash), { throwIfNoEntry: false });
        if (!st || st.size !== record.size) {
          const groups = treeShape(record.size, BAO).groupCount;
          await this.#index.putPartial(hash, record.size, new Uint8Array(Math.ceil(groups / 8)));
          this.#createPartialFile(hash, record.size);
        }
      }
    }
    for (const name of fs.readdirSync(this.#dataDir)) {
      const hash = name.endsWith('.obao') ? name.slice(0, -5) : name;
      const record = HASH_HEX.test(hash) ? this.#index.get(hash) : undefined;
      if (record?.complete) continue;
      if (!HASH_HEX.test(hash) || name.endsWith('.obao')) {
        if (!HASH_HEX.test(hash) || !exists(this.#dataFile(hash))) fs.rmSync(path.join(this.#dataDir, name), { force: true });
        continue;
      }
      // A complete file renamed into place whose index write did not happen: keep it if it is what
      // its name says.
      const check = await hashFile(this.#dataFile(hash));
      if (check.hash !== hash) {
        this.#removeFiles(hash);
        continue;
      }
      const temp = this.#tempFile('obao');
      await writeDurable(temp, check.outboard);
      fs.renameSync(temp, this.#outboardFile(hash));
      await this.#index.putComplete(hash, check.size);
      this.#removePartialFiles(hash);
      reindexed.push(hash);
    }
    for (const name of fs.readdirSync(this.#partialDir)) {
      const hash = name.replace(/\.(obao|cvs)$/, '');
      const record = HASH_HEX.test(hash) ? this.#index.get(hash) : undefined;
      if (!record || record.complete) fs.rmSync(path.join(this.#partialDir, name), { force: true });
    }
    return { removedTemp, dropped, reindexed };
  }
}
