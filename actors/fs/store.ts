// The blob store: content-addressed blobs (BLAKE3) as files under `<home>/blobs/`, each with its
// bao outboard (16 KiB groups), indexed in LMDB under `<home>/db/`. A plain class, no actors: only
// the fs actor owns one (machine.ts); everything else asks the actor by message. This file is the
// facade and the complete-blob side (add, read, tags, delete); partial.ts has the blobs being
// fetched, slice.ts the provider's slice windows, gc.ts gc and crash recovery, layout.ts the files.
// Decisions and the crash-safety argument: docs/blob-store.md.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { BusError } from '../../bus/errors.ts';
import { Blake3Pool, defaultHashWorkers } from './hash/blake3-pool.ts';
import { treeShape } from './hash/bao.ts';
import type { ByteRange } from './hash/bao.ts';
import { OutboardEncoder } from './hash/bao-stream.ts';
import { COLLECTION_MAGIC, MAX_COLLECTION_BYTES, decodeCollection, encodeCollection, isCollectionBytes } from './collection.ts';
import type { Collection, CollectionEntry } from './collection.ts';
import { BlobStoreError, checkHash, checkTag, notFound, openFailure } from './errors.ts';
import { BAO, GROUP_LEN, READ_PIECE, countBits, hasBit, hexOf, readExact, writeDurable } from './file-io.ts';
import { walkFolder, type SkippedItem } from './folder-walk.ts';
import { collectGarbage, pinnedHashes, reconcile, type GcParts, type GcResult } from './gc.ts';
import { BlobIndex } from './index-db.ts';
import type { BlobRecord } from './index-db.ts';
import { StoreLayout } from './layout.ts';
import { PartialBlobs, type PartialStat } from './partial.ts';
import { DEFAULT_SLICE_WINDOW } from './limits.ts';
import { readSliceWindow, type SliceWindow } from './slice.ts';
import { fsyncDir } from '../../lib/atomicFile.ts';

export { BlobStoreError, checkHash } from './errors.ts';
export { CHUNK_GROUP_LOG, GROUP_LEN } from './file-io.ts';
export { PARTIAL_GRACE_MS } from './gc.ts';
export type { GcResult } from './gc.ts';
export type { PartialStat } from './partial.ts';
export type { SliceWindow } from './slice.ts';
export type { SkippedItem } from './folder-walk.ts';

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

export interface AddDirectoryResult extends AddResult, Collection {
  /** What could not be stored, and why (at most 1000 listed; `skippedCount` counts them all). */
  skipped: SkippedItem[];
  skippedCount: number;
}

export interface BlobStoreOptions {
  /**
   * Worker threads that hash the groups of slices given to writeEncoded (0: on the main thread).
   * Default: `ALKNET_HASH_WORKERS`, else 1 on a machine with four or more cores (blake3-pool.ts).
   */
  hashWorkers?: number;
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

export class BlobStore implements GcParts {
  readonly root: string;
  readonly layout: StoreLayout;
  readonly index: BlobIndex;
  readonly partials: PartialBlobs;
  /** Per-hash queue: partial writes, completion and deletion of one blob never interleave here. */
  readonly #locks = new Map<string, Promise<unknown>>();
  #closed = false;
  #closing: Promise<void> | undefined;
  /** Worker threads that hash received groups (writeEncoded); started on first use. */
  readonly #hashWorkers: number;
  #hashPool: Blake3Pool | undefined;

  private constructor(home: string, opts: BlobStoreOptions) {
    this.#hashWorkers = opts.hashWorkers ?? defaultHashWorkers();
    this.layout = new StoreLayout(home);
    this.layout.ensureFolders();
    this.root = this.layout.root;
    this.index = new BlobIndex(this.layout.dbDir);
    this.partials = new PartialBlobs(this);
  }

  /**
   * Opens the store of an existing node home (creating the store's own folders in it, never the
   * home) and reconciles the index with the files.
   */
  static async open(home: string, opts: BlobStoreOptions = {}): Promise<BlobStore> {
    const store = new BlobStore(home, opts);
    try {
      await store.reconcile();
    } catch (err) {
      await store.close();
      throw err;
    }
    return store;
  }

  /** Closes once; every caller waits for the same close (pending group bits synced, index closed). */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed = true;
      await Promise.allSettled([...this.#locks.values()]);
      await this.partials.syncAll();
      await Promise.all([this.index.close(), this.#hashPool?.close()]);
    })();
    return this.#closing;
  }

  /** The hashing pool, started on first need; undefined when configured off (0 workers) or closed. */
  pool(): Blake3Pool | undefined {
    if (this.#hashWorkers < 1 || this.#closed) return undefined;
    this.#hashPool ??= new Blake3Pool(this.#hashWorkers);
    return this.#hashPool;
  }

  withLock<T>(hash: string, fn: () => Promise<T>): Promise<T> {
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
    const record = this.index.get(checkHash(hash));
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
    const { layout } = this;
    const tempData = layout.tempFile('data');
    const tempOutboard = layout.tempFile('obao');
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
      await this.withLock(hash, async () => {
        const existing = this.index.get(hash);
        if (!(existing?.complete && fs.existsSync(layout.dataFile(hash)))) {
          // Outboard first: a data file never has its final name without its outboard beside it.
          fs.renameSync(tempOutboard, layout.outboardFile(hash));
          fs.renameSync(tempData, layout.dataFile(hash));
          fsyncDir(layout.dataDir);
          committed = true;
        }
        await this.index.putComplete(hash, size, opts.tag);
        if (existing && !existing.complete) {
          await this.partials.forget(hash);
          this.partials.removeFiles(hash);
        }
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
   * Adds a folder as a collection: every regular file (recursively; names are POSIX paths relative
   * to it, with their executable bit), symbolic links (their targets), empty folders; tagged `tag`
   * (default: the folder's name). What cannot be stored is listed in `skipped`.
   */
  async addDirectory(
    dir: string, opts: { tag?: string; onFile?: (name: string, result: AddResult) => void; onProgress?: (bytes: number) => void } = {},
  ): Promise<AddDirectoryResult> {
    const tag = checkTag(opts.tag ?? defaultTag(dir));
    const walked = await walkFolder(dir);
    // Children are pinned by the collection only once it exists; a gc() in between is spared by a
    // temporary tag per child (not built from its name: any name a file system allows is fine).
    const adding = `.adding/${process.pid}-${randomBytes(6).toString('hex')}`;
    const entries: CollectionEntry[] = [];
    let before = 0;
    try {
      for (const file of walked.files) {
        const result = await this.add(file.path, {
          tag: `${adding}/${entries.length}`,
          onProgress: opts.onProgress ? (n) => opts.onProgress!(before + n) : undefined,
        });
        before += result.size;
        entries.push({ name: file.name, hash: result.hash, ...(file.executable ? { executable: true } : {}) });
        opts.onFile?.(file.name, result);
      }
      const bytes = encodeCollection({ entries, links: walked.links, dirs: walked.dirs });
      const result = await this.add(bytes, { tag });
      return { ...result, ...decodeCollection(bytes), skipped: walked.skipped, skippedCount: walked.skippedCount };
    } finally {
      for (let i = 0; i < entries.length; i++) await this.index.removeTag(`${adding}/${i}`);
    }
  }

  // ----------------------------------------------------------------------------------------- read

  has(hash: string): boolean {
    const record = this.index.get(checkHash(hash));
    return record?.complete === true;
  }

  stat(hash: string): BlobStat {
    const record = this.#record(hash);
    const groups = treeShape(record.size, BAO).groupCount;
    const bits = record.complete ? undefined : this.index.bitfield(hash);
    const tags = [...this.index.tags()].filter((t) => t.hash === hash).map((t) => t.name);
    return { hash, size: record.size, complete: record.complete, groups, verifiedGroups: record.complete ? groups : bits ? countBits(bits, groups) : 0, tags };
  }

  /** Blobs in hash order, starting after `after`, at most `limit`. */
  list(opts: { after?: string; limit?: number } = {}): BlobStat[] {
    const limit = Math.max(0, Math.min(opts.limit ?? Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER));
    const tagsByHash = new Map<string, string[]>();
    for (const { name, hash } of this.index.tags()) tagsByHash.set(hash, [...(tagsByHash.get(hash) ?? []), name]);
    const out: BlobStat[] = [];
    for (const { hash, record } of this.index.entries()) {
      if (opts.after !== undefined && hash <= opts.after) continue;
      if (out.length >= limit) break;
      const groups = treeShape(record.size, BAO).groupCount;
      const bits = record.complete ? undefined : this.index.bitfield(hash);
      out.push({
        hash, size: record.size, complete: record.complete, groups,
        verifiedGroups: record.complete ? groups : bits ? countBits(bits, groups) : 0, tags: tagsByHash.get(hash) ?? [],
      });
    }
    return out;
  }

  tags(): Array<{ name: string; hash: string }> {
    return [...this.index.tags()];
  }

  /**
   * The content (or the given byte ranges of it, concatenated, clamped to the size) as a stream of
   * pieces. A partial blob can be read where its groups are verified. The file is opened on the
   * first read and closed when the stream ends or is returned early.
   */
  async get(hash: string, opts: { ranges?: ByteRange[] } = {}): Promise<AsyncGenerator<Uint8Array>> {
    const record = this.#record(hash);
    const ranges = clampRanges(record.size, opts.ranges);
    let file = this.layout.dataFile(hash);
    if (!record.complete) {
      const bits = this.index.bitfield(hash) ?? new Uint8Array(0);
      const shape = treeShape(record.size, BAO);
      for (const r of ranges) {
        if (r.len === 0) continue;
        for (let g = Math.floor(r.start / GROUP_LEN); g < Math.ceil((r.start + r.len) / GROUP_LEN) && g < shape.groupCount; g++) {
          if (!hasBit(bits, g)) throw new BlobStoreError('NOT_FOUND', `blob ${hash}: bytes ${r.start}..${r.start + r.len} are not stored yet`);
        }
      }
      file = this.layout.partialFile(hash);
    }
    const fh = await fsp.open(file, 'r').catch((err) => {
      throw openFailure(err, hash);
    });
    return (async function* () {
      try {
        for (const r of ranges) {
          for (let at = r.start; at < r.start + r.len; at += READ_PIECE) yield await readExact(fh, at, Math.min(READ_PIECE, r.start + r.len - at));
        }
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
   * One window of the verified-stream encoding a provider sends: the bao slice (16 KiB groups) of
   * a complete blob for the byte ranges (all of it when none), from group `fromGroup`, about
   * `maxBytes` long; `nextGroup` says where the next window starts (slice.ts).
   */
  async readSlice(hash: string, ranges: readonly ByteRange[] | undefined, fromGroup = 0, maxBytes = DEFAULT_SLICE_WINDOW): Promise<SliceWindow> {
    const record = this.#record(hash);
    if (!record.complete) throw new BlobStoreError('NOT_FOUND', `blob ${hash} is not complete here`);
    return readSliceWindow(hash, record.size, { data: this.layout.dataFile(hash), outboard: this.layout.outboardFile(hash) }, ranges, fromGroup, maxBytes);
  }

  /** The whole slice for `ranges`, window by window (no file stays open between windows). */
  async encoded(hash: string, ranges?: ByteRange[]): Promise<AsyncGenerator<Uint8Array>> {
    const first = await this.readSlice(hash, ranges, 0);
    const store = this;
    return (async function* () {
      let window: SliceWindow = first;
      for (;;) {
        yield window.bytes;
        if (window.nextGroup === null) return;
        window = await store.readSlice(hash, ranges, window.nextGroup);
      }
    })();
  }

  /** Whether a blob is a complete collection (reads only its marker). */
  async isCollection(hash: string): Promise<boolean> {
    const record = this.index.get(checkHash(hash));
    if (!record?.complete || record.size < COLLECTION_MAGIC.length || record.size > MAX_COLLECTION_BYTES) return false;
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(this.layout.dataFile(hash), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw openFailure(err, hash);
    }
    try {
      return isCollectionBytes(await readExact(fh, 0, COLLECTION_MAGIC.length));
    } finally {
      await fh.close();
    }
  }

  async readCollection(hash: string): Promise<Collection> {
    if (!(await this.isCollection(hash))) throw new BlobStoreError('INVALID_INPUT', `blob ${hash} is not a collection`);
    try {
      return decodeCollection(await this.getBytes(hash, { maxBytes: MAX_COLLECTION_BYTES }));
    } catch (err) {
      if (err instanceof BusError) throw err;
      throw new BlobStoreError('INVALID_INPUT', (err as Error).message);
    }
  }

  async collectionChildren(hash: string): Promise<string[]> {
    if (!(await this.isCollection(hash))) return [];
    try {
      return (await this.readCollection(hash)).entries.map((e) => e.hash);
    } catch {
      return []; // a blob with the marker that does not decode pins nothing more
    }
  }

  // ---------------------------------------------------------------------------------------- tags

  async tag(name: string, hash: string): Promise<void> {
    checkTag(name);
    checkHash(hash);
    if (!(await this.index.putTag(name, hash))) throw notFound(hash);
  }

  async untag(name: string): Promise<boolean> {
    return this.index.removeTag(checkTag(name));
  }

  // ------------------------------------------------------------------------------------- partial

  /** Starts (or resumes) a blob being fetched (partial.ts). */
  async beginPartial(hash: string, size: number, opts: { outboard?: Uint8Array } = {}): Promise<BlobStat> {
    await this.partials.begin(hash, size, opts);
    return this.stat(hash);
  }

  missingRanges(hash: string): ByteRange[] {
    return this.partials.missingRanges(hash);
  }

  async writeVerifiedGroup(hash: string, group: number, bytes: Uint8Array): Promise<BlobStat> {
    await this.partials.writeVerifiedGroup(hash, group, bytes);
    return this.stat(hash);
  }

  async writeEncoded(hash: string, ranges: ByteRange[] | undefined, source: Uint8Array | AsyncIterable<Uint8Array>): Promise<BlobStat> {
    await this.partials.writeEncoded(hash, ranges, source);
    return this.stat(hash);
  }

  writeGroups(hash: string, firstGroup: number, data: Uint8Array[], cvs: Uint8Array | undefined, opts: { sync?: boolean } = {}): Promise<PartialStat> {
    return this.partials.writeGroups(hash, firstGroup, data, cvs, opts);
  }

  // ------------------------------------------------------------------------------ delete and gc

  /** Removes a blob (complete or partial) and the tags naming it. False if it was not there. */
  async delete(hash: string): Promise<boolean> {
    return this.withLock(checkHash(hash), async () => {
      if (!this.index.get(hash)) return false;
      // Index first: a crash after it leaves files without an entry, which reconcile re-indexes
      // or removes; never an entry claiming files that are gone.
      await this.index.remove(hash);
      await this.partials.forget(hash);
      this.removeFiles(hash);
      return true;
    });
  }

  removeFiles(hash: string): void {
    fs.rmSync(this.layout.dataFile(hash), { force: true });
    fs.rmSync(this.layout.outboardFile(hash), { force: true });
    this.partials.removeFiles(hash);
  }

  pinned(): Promise<Set<string>> {
    return pinnedHashes(this);
  }

  gc(opts: { partialGraceMs?: number } = {}): Promise<GcResult> {
    return collectGarbage(this, opts);
  }

  reconcile(): Promise<{ removedTemp: number; dropped: string[]; reindexed: string[] }> {
    return reconcile(this);
  }
}

/** The tag a file or folder gets by default: its own name, made tag-safe (control characters become "?"). */
export function defaultTag(file: string): string {
  const base = path.basename(path.resolve(file));
  const safe = base.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?').slice(0, 255);
  return /\S/.test(safe) ? safe : 'root';
}
