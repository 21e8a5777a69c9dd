// Partial blobs: a blob being fetched lives in blobs/partial/<hex> (a sparse file of its full size)
// with the proven chaining value of each stored group in <hex>.cvs, and its verified groups as a
// bitfield in the index. A group's bit is set only after its bytes and its value are fsynced, and
// the blob becomes complete only when the stored values rebuild the root hash (or, without them,
// the content rehashes to it). Crash-safety argument: docs/blob-store.md, docs/blobs-protocol.md.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { BaoDecoder, BaoVerifyError, HEADER_LEN, treeShape } from './hash/bao.ts';
import type { ByteRange, TreeShape } from './hash/bao.ts';
import { dataLen } from './hash/bao-tree.ts';
import { OutboardVerifyError, groupChainingValues, groupMatches, outboardFromGroupCvs } from './hash/bao-stream.ts';
import { PipelinedVerifier } from './hash/bao-verify.ts';
import type { Blake3Pool } from './hash/blake3-pool.ts';
import { verifySlice, type GroupRun } from './hash/slice-runs.ts';
import { BlobStoreError, checkHash, notFound } from './errors.ts';
import {
  BAO, CV_LEN, GROUP_LEN, allBits, countBits, createSparseFile, hasBit, hashFile, hexOf, writeAll, writeBuffers, writeDurable,
} from './file-io.ts';
import type { BlobIndex, BlobRecord } from './index-db.ts';
import type { StoreLayout } from './layout.ts';
import { MAX_WRITE_BYTES, MAX_WRITE_VIEWS } from './limits.ts';
import { fsyncDir } from '../../lib/atomicFile.ts';

/** Contiguous verified groups gathered into one write by writeEncoded. */
const WRITE_RUN_BYTES = 1024 * 1024;
/** Runs being written at once by writeEncoded. */
const WRITES_IN_FLIGHT = 4;
/** Unsynced bytes after which a datasync starts (writeEncoded: in the background; writeGroups: before the reply). */
const EARLY_SYNC_BYTES = 32 * 1024 * 1024;
/** Completion reads a blob's stored chaining values whole up to this (blobs up to 32 GiB); larger ones are rehashed. */
const MAX_CVS_IN_MEMORY = 64 * 1024 * 1024;

/** Size and progress of a blob, without its tags (cheap: no tag scan). */
export interface PartialStat {
  size: number;
  complete: boolean;
  groups: number;
  verifiedGroups: number;
}

/** What the partial-blob code needs of the store it belongs to. */
export interface StoreParts {
  readonly layout: StoreLayout;
  readonly index: BlobIndex;
  withLock<T>(hash: string, fn: () => Promise<T>): Promise<T>;
  /** The hashing pool for writeEncoded; undefined when off or closed. */
  pool(): Blake3Pool | undefined;
}

/** Open data and value files of one partial blob while runs are written into it. */
class PartialWriter {
  readonly #fh: fsp.FileHandle;
  readonly #cvFile: fsp.FileHandle | undefined;
  readonly #shape: TreeShape;
  /** Writes still in flight, oldest first: several runs may be written at once (distinct offsets). */
  readonly #inFlight: Promise<unknown>[] = [];
  #syncing: Promise<unknown> = Promise.resolve();
  #unsynced = 0;
  /** Groups written by this writer (their bits are set by the caller once synced). */
  readonly written: number[] = [];
  bytes = 0;

  private constructor(fh: fsp.FileHandle, cvFile: fsp.FileHandle | undefined, shape: TreeShape) {
    this.#fh = fh;
    this.#cvFile = cvFile;
    this.#shape = shape;
  }

  static async open(layout: StoreLayout, hash: string, shape: TreeShape): Promise<PartialWriter> {
    const fh = await fsp.open(layout.partialFile(hash), 'r+');
    try {
      // No value file for a one-group blob: its value is the root hash itself.
      const cvFile = shape.groupCount === 1 ? undefined : await fsp.open(layout.partialCvs(hash), fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
      return new PartialWriter(fh, cvFile, shape);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /**
   * Starts writing a run (and its values); waits while WRITES_IN_FLIGHT runs are being written.
   * `wait`: resolve only once this run is written (its buffers may then be reused by the caller);
   * `earlySync`: start a datasync in the background every 32 MiB.
   */
  async write(run: GroupRun, mode: { wait: boolean; earlySync: boolean }): Promise<void> {
    checkRun(this.#shape, run);
    while (this.#inFlight.length >= WRITES_IN_FLIGHT) await this.#inFlight.shift();
    const cvs = run.cvs;
    const writing = Promise.all([
      writeBuffers(this.#fh, run.data, run.offset),
      this.#cvFile && cvs && cvs.length > 0 ? writeAll(this.#cvFile, cvs, run.firstGroup * CV_LEN) : undefined,
    ]);
    // Handled here so a failed write never counts as unhandled; the next await still throws.
    writing.catch(() => undefined);
    this.#inFlight.push(writing);
    for (let g = run.firstGroup; g < run.firstGroup + run.groupCount; g++) this.written.push(g);
    this.bytes += run.bytes;
    this.#unsynced += run.bytes;
    if (mode.earlySync && this.#unsynced >= EARLY_SYNC_BYTES) {
      // A datasync in the background every 32 MiB, so the final fsync has little left to flush.
      this.#unsynced = 0;
      const previousWrites = Promise.all(this.#inFlight);
      this.#syncing = this.#syncing.then(() => previousWrites).then(() => this.#fh.datasync());
      this.#syncing.catch(() => undefined);
    }
    if (mode.wait) await writing;
  }

  /** Waits for every write; with `sync`, makes both files durable. Always closes them. */
  async close(sync: boolean): Promise<void> {
    try {
      await Promise.all(this.#inFlight);
      await this.#syncing;
      if (sync) await Promise.all([this.#fh.sync(), this.#cvFile?.sync()]);
    } finally {
      await Promise.all([this.#fh.close(), this.#cvFile?.close()]);
    }
  }
}

/** A run must be whole groups of this blob (the last may be short), with a value per group. */
function checkRun(shape: TreeShape, run: GroupRun): void {
  const { firstGroup, groupCount } = run;
  if (!Number.isSafeInteger(firstGroup) || firstGroup < 0 || groupCount < 1 || firstGroup + groupCount > shape.groupCount) {
    throw new BlobStoreError('INVALID_INPUT', `groups ${firstGroup}..${firstGroup + groupCount} are outside the blob`);
  }
  const expected = dataLen(shape, firstGroup, firstGroup + groupCount);
  if (run.bytes !== expected || run.offset !== firstGroup * GROUP_LEN) {
    throw new BlobStoreError('INVALID_INPUT', `groups ${firstGroup}..${firstGroup + groupCount} are ${expected} bytes, got ${run.bytes}`);
  }
  if (shape.groupCount > 1 && run.cvs?.length !== groupCount * CV_LEN) {
    throw new BlobStoreError('INVALID_INPUT', `groups ${firstGroup}..${firstGroup + groupCount} need ${groupCount} chaining values`);
  }
}

export class PartialBlobs {
  readonly #parts: StoreParts;
  /**
   * Open writers of blobs being fetched through writeGroups; each remembers the groups it wrote,
   * whose bits wait for the caller's sync. Losing one (a crash, a restart) only loses bits, never
   * claims bytes: those groups are fetched again. One per blob being fetched (two descriptors).
   */
  readonly #writers = new Map<string, Promise<PartialWriter>>();

  constructor(parts: StoreParts) {
    this.#parts = parts;
  }

  #record(hash: string): BlobRecord {
    const record = this.#parts.index.get(checkHash(hash));
    if (!record) throw notFound(hash);
    return record;
  }

  partialStat(hash: string): PartialStat {
    const record = this.#record(hash);
    const groups = treeShape(record.size, BAO).groupCount;
    const bits = record.complete ? undefined : this.#parts.index.bitfield(hash);
    return { size: record.size, complete: record.complete, groups, verifiedGroups: record.complete ? groups : bits ? countBits(bits, groups) : 0 };
  }

  #partialShape(hash: string): { shape: TreeShape; bits: Uint8Array } {
    const record = this.#record(hash);
    if (record.complete) throw new BlobStoreError('INVALID_INPUT', `blob ${hash} is already complete`);
    return { shape: treeShape(record.size, BAO), bits: this.#parts.index.bitfield(hash) ?? new Uint8Array(0) };
  }

  /**
   * Starts (or resumes) a blob being fetched. With `outboard` (checked against the hash), single
   * groups can be verified by `writeVerifiedGroup`; without it, feed bao slices to `writeEncoded`
   * or verified runs to `writeGroups`.
   */
  async begin(hash: string, size: number, opts: { outboard?: Uint8Array } = {}): Promise<void> {
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
    const { layout, index } = this.#parts;
    await this.#parts.withLock(hash, async () => {
      const record = index.get(hash);
      if (record && record.size !== size) throw new BlobStoreError('INVALID_INPUT', `blob ${hash} is ${record.size} bytes, not ${size}`);
      if (!record) {
        // Index first, then the file: reconcile recreates a missing partial file, and deletes
        // partial files without an entry.
        const groups = treeShape(size, BAO).groupCount;
        await index.putPartial(hash, size, new Uint8Array(Math.ceil(groups / 8)));
        this.createFile(hash, size);
      }
      if (opts.outboard && !record?.complete && !fs.existsSync(layout.partialOutboard(hash))) {
        const temp = layout.tempFile('obao');
        await writeDurable(temp, opts.outboard);
        fs.renameSync(temp, layout.partialOutboard(hash));
        fsyncDir(layout.partialDir);
      }
    });
  }

  /** Byte ranges of a partial blob not yet verified (empty for a complete one). */
  missingRanges(hash: string): ByteRange[] {
    const record = this.#record(hash);
    if (record.complete) return [];
    const shape = treeShape(record.size, BAO);
    const bits = this.#parts.index.bitfield(hash) ?? new Uint8Array(0);
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
   * outboard given to begin, or a one-group blob). A wrong group is refused (INVALID_INPUT).
   */
  async writeVerifiedGroup(hash: string, group: number, bytes: Uint8Array): Promise<void> {
    const { layout } = this.#parts;
    await this.#parts.withLock(checkHash(hash), async () => {
      const { shape } = this.#partialShape(hash);
      if (!Number.isSafeInteger(group) || group < 0 || group >= shape.groupCount) {
        throw new BlobStoreError('INVALID_INPUT', `blob ${hash} has no group ${group}`);
      }
      const expectedLen = dataLen(shape, group, group + 1);
      if (bytes.length !== expectedLen) throw new BlobStoreError('INVALID_INPUT', `group ${group} is ${expectedLen} bytes, got ${bytes.length}`);
      let cvs: Uint8Array;
      if (shape.groupCount === 1) cvs = Buffer.from(hash, 'hex');
      else {
        const outboard = await fsp.readFile(layout.partialOutboard(hash)).catch(() => undefined);
        if (!outboard) throw new BlobStoreError('INVALID_INPUT', `blob ${hash}: no outboard to verify a single group; use a bao slice`);
        cvs = groupChainingValues(Buffer.from(hash, 'hex'), outboard, BAO);
      }
      if (!groupMatches(cvs, group, bytes, BAO)) throw new BlobStoreError('INVALID_INPUT', `blob ${hash}: group ${group} does not match the hash`);
      const cv = shape.groupCount === 1 ? undefined : cvs.slice(group * CV_LEN, (group + 1) * CV_LEN);
      const writer = await PartialWriter.open(layout, hash, shape);
      try {
        await writer.write({ firstGroup: group, groupCount: 1, offset: group * GROUP_LEN, bytes: bytes.length, data: [bytes], cvs: cv }, { wait: true, earlySync: false });
      } finally {
        await writer.close(true); // durable before the index claims the group
      }
      await this.#markSynced(hash, [group]);
      await this.#maybeComplete(hash);
    });
  }

  /**
   * Verifies a bao slice (16 KiB groups) for `ranges` of a partial blob and stores every group it
   * proves. Groups verified before a bad one are kept (so a retry resumes after them); the bad one
   * is refused with INVALID_INPUT. Completes the blob when every group is stored.
   */
  async writeEncoded(hash: string, ranges: ByteRange[] | undefined, source: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
    const { layout } = this.#parts;
    await this.#parts.withLock(checkHash(hash), async () => {
      const { shape, bits } = this.#partialShape(hash);
      const decoder = new BaoDecoder(Buffer.from(hash, 'hex'), shape.size, { ...BAO, ranges: ranges && ranges.length > 0 ? ranges : undefined });
      const writer = await PartialWriter.open(layout, hash, shape);
      // Verified groups that follow each other are written together (one writev per ~1 MiB, no
      // copy), with their proven chaining values; up to 4 runs are written while the next is
      // verified. The bits are set only after both files are fsynced.
      let failure: unknown;
      try {
        failure = await verifySlice(new PipelinedVerifier(decoder, this.#parts.pool()), source, (run) => writer.write(run, { wait: false, earlySync: true }), {
          runBytes: WRITE_RUN_BYTES, groupLen: GROUP_LEN, skip: (g) => hasBit(bits, g),
        });
      } finally {
        await writer.close(true);
      }
      await this.#markSynced(hash, writer.written);
      if (failure instanceof BaoVerifyError) throw new BlobStoreError('INVALID_INPUT', failure.message);
      if (failure) throw failure;
      await this.#maybeComplete(hash);
    });
  }

  /**
   * Stores a run of groups the caller has verified (the alknet/blobs fetcher, with the bao decoder,
   * against the hash): their bytes (as views, written with one writev) and their proven chaining
   * values. Runs of one blob are written concurrently through descriptors kept open until the
   * sync, and answered once written (the caller may reuse its buffers then). Their bits are set
   * when the caller asks for the sync (`sync`, at the end of each slice, as writeEncoded sets them
   * at the end of its slice); meanwhile a datasync runs in the background every 32 MiB, so that
   * sync has little left. A completion still needs the stored values to rebuild the root hash (or
   * the content to rehash to it), so wrong values never make a blob complete. `data` empty: only
   * the sync. A blob complete already is left as it is.
   */
  async writeGroups(hash: string, firstGroup: number, data: Uint8Array[], cvs: Uint8Array | undefined, opts: { sync?: boolean } = {}): Promise<PartialStat> {
    const record = this.#record(hash);
    if (record.complete) return this.partialStat(hash);
    const shape = treeShape(record.size, BAO);
    if (data.length > MAX_WRITE_VIEWS) throw new BlobStoreError('INVALID_INPUT', `at most ${MAX_WRITE_VIEWS} pieces per write`);
    let bytes = 0;
    for (const piece of data) bytes += piece.length;
    if (bytes > MAX_WRITE_BYTES) throw new BlobStoreError('INVALID_INPUT', `at most ${MAX_WRITE_BYTES} bytes per write`);
    if (data.length > 0) {
      const groupCount = Math.max(1, Math.ceil(bytes / GROUP_LEN));
      const run: GroupRun = { firstGroup, groupCount, offset: firstGroup * GROUP_LEN, bytes, data, cvs };
      checkRun(shape, run);
      // Not under the blob's lock: runs land at distinct offsets. A delete meanwhile forgets this
      // writer, so what it wrote is never marked.
      let open = this.#writers.get(hash);
      if (!open) {
        open = PartialWriter.open(this.#parts.layout, hash, shape);
        open.catch(() => undefined);
        this.#writers.set(hash, open);
      }
      const writer = await open.catch((err: unknown) => {
        if (this.#writers.get(hash) === open) this.#writers.delete(hash);
        throw err;
      });
      await writer.write(run, { wait: true, earlySync: true });
    }
    if (!opts.sync) return this.partialStat(hash);
    return this.#parts.withLock(hash, async () => {
      const open = this.#writers.get(hash);
      this.#writers.delete(hash);
      if (open) {
        const writer = await open;
        await writer.close(true); // every run written, both files durable
        await this.#markSynced(hash, writer.written);
      }
      await this.#maybeComplete(hash);
      return this.partialStat(hash);
    });
  }

  /** Syncs and marks whatever writeGroups left waiting (the store is closing). */
  async syncAll(): Promise<void> {
    for (const hash of [...this.#writers.keys()]) {
      await this.writeGroups(hash, 0, [], undefined, { sync: true }).catch(() => undefined);
    }
  }

  /** Forgets (closes, never marks) what writeGroups wrote of a blob being deleted; under its lock. */
  async forget(hash: string): Promise<void> {
    const open = this.#writers.get(hash);
    this.#writers.delete(hash);
    await open?.then((writer) => writer.close(false)).catch(() => undefined);
  }

  async #markSynced(hash: string, groups: number[]): Promise<void> {
    if (groups.length > 0) await this.#parts.index.setGroups(hash, groups);
  }

  /**
   * The outboard of a partial blob whose groups are all stored, built from the chaining values
   * stored beside them (no content is hashed); undefined when that file is missing or does not
   * rebuild the root hash (e.g. written by an older version), and the caller then rehashes.
   */
  async #outboardFromStoredCvs(hash: string, shape: TreeShape): Promise<Uint8Array | undefined> {
    if (shape.groupCount === 1 || shape.groupCount * CV_LEN > MAX_CVS_IN_MEMORY) return undefined;
    const cvs = await fsp.readFile(this.#parts.layout.partialCvs(hash)).catch(() => undefined);
    if (!cvs || cvs.length < shape.groupCount * CV_LEN) return undefined;
    const rebuilt = outboardFromGroupCvs(shape.size, cvs.subarray(0, shape.groupCount * CV_LEN), BAO);
    return rebuilt && hexOf(rebuilt.hash) === hash ? rebuilt.outboard : undefined;
  }

  /**
   * When every group is stored, make the blob complete. Every stored group was verified against
   * the hash before it was written, and its proven chaining value was fsynced beside it before its
   * bit was set; so the outboard is rebuilt from those values (one compression per group), and
   * only if they rebuild the root hash. Without them (a one-group blob, or a file from an older
   * version) the content is rehashed. docs/blobs-protocol.md ("Completion") has the argument.
   */
  async #maybeComplete(hash: string): Promise<void> {
    const { layout, index } = this.#parts;
    const record = this.#record(hash);
    if (record.complete) return;
    const shape = treeShape(record.size, BAO);
    const bits = index.bitfield(hash) ?? new Uint8Array(0);
    if (!allBits(bits, shape.groupCount)) return;
    const partial = layout.partialFile(hash);
    let outboard = await this.#outboardFromStoredCvs(hash, shape);
    if (!outboard) {
      const check = await hashFile(partial);
      if (check.hash !== hash || check.size !== record.size) {
        // Verified groups cannot do this unless the file was changed behind our back, or a caller
        // of writeGroups passed groups it had not verified: start over.
        await index.putPartial(hash, record.size, new Uint8Array(bits.length));
        this.createFile(hash, record.size);
        fs.rmSync(layout.partialCvs(hash), { force: true });
        throw new BlobStoreError('INTERNAL', `blob ${hash}: stored groups do not hash to the blob; fetch restarts`);
      }
      outboard = check.outboard;
    }
    const temp = layout.tempFile('obao');
    await writeDurable(temp, outboard);
    fs.renameSync(temp, layout.outboardFile(hash));
    fs.renameSync(partial, layout.dataFile(hash));
    fsyncDir(layout.dataDir);
    await index.putComplete(hash, record.size);
    fs.rmSync(layout.partialOutboard(hash), { force: true });
    fs.rmSync(layout.partialCvs(hash), { force: true });
  }

  /** A new (or reset) sparse partial file of `size` bytes, fsynced with its folder. */
  createFile(hash: string, size: number): void {
    createSparseFile(this.#parts.layout.partialFile(hash), size);
    fsyncDir(this.#parts.layout.partialDir);
  }

  removeFiles(hash: string): void {
    const { layout } = this.#parts;
    fs.rmSync(layout.partialFile(hash), { force: true });
    fs.rmSync(layout.partialOutboard(hash), { force: true });
    fs.rmSync(layout.partialCvs(hash), { force: true });
  }
}
