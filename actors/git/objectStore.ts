// The object database of one bare repository: loose objects (objects/xx/…, zlib of "TYPE SIZE\0"
// + content) and packs (objects/pack/pack-*.pack with their version 2 .idx). Reads are positional
// (the pack is never loaded whole); deltas are resolved iteratively with a bounded cache of
// resolved objects, so a long chain costs no stack and repeated bases are inflated once. The raw
// bytes of a pack entry are exposed (checked against the index's CRC-32) so the pack writer can
// send stored objects and deltas as they are, without inflating and deflating them again.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { applyDelta } from './delta.ts';
import { GitFormatError, TYPE_OF_NUMBER, type ObjectType } from './objects.ts';
import { DEFAULT_MAX_OBJECT_BYTES, inflateBody, OFS_DELTA, readEntryHeader, REF_DELTA, type EntryHeader } from './packFormat.ts';
import { PackIndex } from './packIndex.ts';
import { crc32, type StoredObject } from './packIndexer.ts';

export type { StoredObject };

/** Pack reads go through windows of this size, a few kept per pack. */
const WINDOW_BYTES = 256 * 1024;
const MAX_WINDOWS = 32;

export class PackFile {
  constructor(
    readonly name: string,
    readonly fd: number,
    readonly size: number,
    readonly idx: PackIndex,
    /** Position in the store's list (cache keys). */
    readonly id: number,
  ) {}

  /** Recently read windows of the pack: most entries are small and read one after another. */
  private readonly windows = new Map<number, Buffer>();

  read(position: number, length: number): Buffer {
    const w = Math.floor(position / WINDOW_BYTES);
    if (length <= WINDOW_BYTES / 4 && position + length <= (w + 1) * WINDOW_BYTES) {
      let win = this.windows.get(w);
      if (win) {
        this.windows.delete(w);
        this.windows.set(w, win);
      } else {
        win = this.readDirect(w * WINDOW_BYTES, Math.min(WINDOW_BYTES, this.size - w * WINDOW_BYTES));
        this.windows.set(w, win);
        if (this.windows.size > MAX_WINDOWS) this.windows.delete(this.windows.keys().next().value!);
      }
      const at = position - w * WINDOW_BYTES;
      if (at + length > win.length) throw new GitFormatError(`pack ${this.name} is shorter than its index says`);
      return win.subarray(at, at + length);
    }
    return this.readDirect(position, length);
  }

  private readDirect(position: number, length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.fd, out, done, length - done, position + done);
      if (n === 0) throw new GitFormatError(`pack ${this.name} is shorter than its index says`);
      done += n;
    }
    return out;
  }
}

export interface Location {
  pack: PackFile;
  /** Entry number in the pack's index. */
  entry: number;
  offset: number;
}

export interface RawEntry {
  header: EntryHeader;
  /** The whole entry as stored: header and zlib body. */
  raw: Buffer;
}

/** Resolved objects kept for delta bases, by bytes, least recently used dropped first. */
class ObjectCache {
  private readonly map = new Map<string, StoredObject>();
  private bytes = 0;
  constructor(private readonly maxBytes: number) {}
  get(key: string): StoredObject | undefined {
    const v = this.map.get(key);
    if (v) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  set(key: string, value: StoredObject): void {
    if (value.data.length > this.maxBytes / 8 || this.map.has(key)) return;
    this.map.set(key, value);
    this.bytes += value.data.length;
    for (const [k, v] of this.map) {
      if (this.bytes <= this.maxBytes) break;
      this.map.delete(k);
      this.bytes -= v.data.length;
    }
  }
  clear(): void {
    this.map.clear();
    this.bytes = 0;
  }
}

/** Longest delta chain followed (git's own packs stay under 50 by default; deeper is suspicious). */
const MAX_CHAIN = 10_000;

export class ObjectStore {
  readonly objectsDir: string;
  private packs: PackFile[] = [];
  private packNames = new Set<string>();
  private nextPackId = 0;
  private readonly cache: ObjectCache;
  private lastScan = 0;

  constructor(readonly gitdir: string, private readonly opts: { cacheBytes?: number; maxObjectBytes?: number } = {}) {
    this.objectsDir = path.join(gitdir, 'objects');
    this.cache = new ObjectCache(opts.cacheBytes ?? 64 * 1024 * 1024);
    this.scanPacks();
  }

  get maxObjectBytes(): number {
    return this.opts.maxObjectBytes ?? DEFAULT_MAX_OBJECT_BYTES;
  }

  /** Opens the packs not open yet (new ones from another git process, or ours). */
  scanPacks(): void {
    this.lastScan = Date.now();
    const dir = path.join(this.objectsDir, 'pack');
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names.sort()) {
      if (!name.endsWith('.idx') || !/^pack-[0-9a-f]{40}\.idx$/.test(name)) continue;
      const base = name.slice(0, -4);
      if (this.packNames.has(base)) continue;
      try {
        this.openPack(base);
      } catch {
        // A pack being written by another process (idx before pack) or a broken one: skipped.
      }
    }
  }

  /** Registers objects/pack/BASE.pack (with BASE.idx); newest first in lookups. */
  openPack(base: string): PackFile {
    const dir = path.join(this.objectsDir, 'pack');
    const idx = PackIndex.parse(fs.readFileSync(path.join(dir, `${base}.idx`)));
    const fd = fs.openSync(path.join(dir, `${base}.pack`), 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const pack = new PackFile(base, fd, size, idx, this.nextPackId++);
      if (size < 32 || !pack.read(size - 20, 20).equals(idx.packChecksum)) throw new GitFormatError(`pack ${base} does not match its index`);
      this.packs.unshift(pack);
      this.packNames.add(base);
      return pack;
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  close(): void {
    for (const p of this.packs) {
      try {
        fs.closeSync(p.fd);
      } catch {
        // already closed
      }
    }
    this.packs = [];
    this.packNames.clear();
    this.cache.clear();
  }

  private loosePath(oid: string): string {
    return path.join(this.objectsDir, oid.slice(0, 2), oid.slice(2));
  }

  /** Where `oid` is packed, or null (it may still be loose). */
  locate(oid: string): Location | null {
    const key = Buffer.from(oid, 'hex');
    for (const pack of this.packs) {
      const entry = pack.idx.find(key);
      if (entry >= 0) return { pack, entry, offset: pack.idx.offsets[entry]! };
    }
    return null;
  }

  has(oid: string): boolean {
    if (this.locate(oid) || fs.existsSync(this.loosePath(oid))) return true;
    // Another process may have repacked since: look for new packs, at most once a second.
    if (Date.now() - this.lastScan > 1000) {
      this.scanPacks();
      return this.locate(oid) !== null;
    }
    return false;
  }

  /** The object, or null when the repository does not have it. Throws GitFormatError when it is corrupt. */
  read(oid: string, depth = 0): StoredObject | null {
    const loc = this.locate(oid);
    if (loc) return this.readAt(loc.pack, loc.offset, depth);
    const loose = this.readLoose(oid);
    if (loose) return loose;
    if (Date.now() - this.lastScan > 1000) {
      this.scanPacks();
      const again = this.locate(oid);
      if (again) return this.readAt(again.pack, again.offset, depth);
    }
    return null;
  }

  /** The type of an object without resolving more than needed, or null. */
  typeOf(oid: string): ObjectType | null {
    const loc = this.locate(oid);
    if (loc) {
      let pack = loc.pack;
      let offset = loc.offset;
      for (let i = 0; i < MAX_CHAIN; i++) {
        const h = this.headerAt(pack, offset);
        if (h.type === OFS_DELTA) offset = h.baseOffset!;
        else if (h.type === REF_DELTA) {
          const base = this.locate(h.baseOid!);
          if (!base) return this.read(h.baseOid!)?.type ?? null;
          pack = base.pack;
          offset = base.offset;
        } else return TYPE_OF_NUMBER[h.type]!;
      }
      throw new GitFormatError(`delta chain of ${oid} is too long`);
    }
    return this.readLoose(oid)?.type ?? null;
  }

  private readLoose(oid: string): StoredObject | null {
    let file: Buffer;
    try {
      file = fs.readFileSync(this.loosePath(oid));
    } catch {
      return null;
    }
    let raw: Buffer;
    try {
      raw = zlib.inflateSync(file, { maxOutputLength: this.maxObjectBytes + 64 });
    } catch {
      throw new GitFormatError(`loose object ${oid} is corrupt`);
    }
    const nul = raw.indexOf(0);
    const m = nul > 0 ? /^(commit|tree|blob|tag) (\d+)$/.exec(raw.toString('latin1', 0, nul)) : null;
    if (!m || Number(m[2]) !== raw.length - nul - 1) throw new GitFormatError(`loose object ${oid} has a bad header`);
    return { type: m[1] as ObjectType, data: raw.subarray(nul + 1) };
  }

  headerAt(pack: PackFile, offset: number): EntryHeader {
    const want = Math.min(32, pack.size - 20 - offset);
    if (want <= 0) throw new GitFormatError(`pack ${pack.name}: offset ${offset} is past its end`);
    const head = pack.read(offset, want);
    const h = readEntryHeader(head, 0, offset, this.maxObjectBytes);
    if (!h) throw new GitFormatError(`pack ${pack.name}: entry at ${offset} is truncated`);
    return h;
  }

  /** The stored bytes of the entry at `offset`, checked against the index's CRC-32 (null if they do not match). */
  rawEntry(pack: PackFile, entry: number): RawEntry | null {
    const offset = pack.idx.offsets[entry]!;
    const end = pack.idx.endOf(offset, pack.size);
    const raw = pack.read(offset, end - offset);
    if (crc32(raw) >>> 0 !== pack.idx.crcs[entry]) return null;
    const header = readEntryHeader(raw, 0, offset, this.maxObjectBytes);
    if (!header) return null;
    return { header, raw };
  }

  private inflateAt(pack: PackFile, offset: number, h: EntryHeader): Buffer {
    const dataAt = offset + h.headerLength;
    const end = pack.idx.endOf(offset, pack.size);
    if (end <= dataAt) throw new GitFormatError(`pack ${pack.name}: entry at ${offset} has no body`);
    const body = inflateBody(pack.read(dataAt, end - dataAt), 0, h.size, offset);
    if (body === 'more') throw new GitFormatError(`pack ${pack.name}: entry at ${offset} is truncated`);
    return body.data;
  }

  /** The resolved object stored at `offset` of `pack`. */
  readAt(pack: PackFile, offset: number, depth = 0): StoredObject {
    if (depth > 64) throw new GitFormatError('delta bases refer across packs too deeply');
    const chain: Array<{ key: string; delta: Buffer }> = [];
    let base: StoredObject | undefined;
    let at = offset;
    for (;;) {
      const key = `${pack.id}:${at}`;
      const cached = this.cache.get(key);
      if (cached) {
        base = cached;
        break;
      }
      if (chain.length >= MAX_CHAIN) throw new GitFormatError(`pack ${pack.name}: delta chain at ${offset} is too long`);
      const h = this.headerAt(pack, at);
      const data = this.inflateAt(pack, at, h);
      if (h.type === OFS_DELTA) {
        chain.push({ key, delta: data });
        at = h.baseOffset!;
      } else if (h.type === REF_DELTA) {
        chain.push({ key, delta: data });
        const b = this.read(h.baseOid!, depth + 1);
        if (!b) throw new GitFormatError(`pack ${pack.name}: delta base ${h.baseOid} is missing`);
        base = b;
        break;
      } else {
        base = { type: TYPE_OF_NUMBER[h.type]!, data };
        this.cache.set(key, base);
        break;
      }
    }
    for (let i = chain.length - 1; i >= 0; i--) {
      base = { type: base.type, data: applyDelta(base.data, chain[i]!.delta, this.maxObjectBytes) };
      this.cache.set(chain[i]!.key, base);
    }
    return base;
  }

  /** The packs, newest first (the pack writer walks them). */
  listPacks(): readonly PackFile[] {
    return this.packs;
  }
}
