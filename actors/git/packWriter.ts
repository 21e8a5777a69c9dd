// Writes the pack upload-pack sends, in windows, from objects already chosen (walk.ts enumerate).
// Stored objects are sent as stored wherever that is sound: a whole object's zlib body is copied,
// and a stored delta is kept when its base goes in the same pack from the same stored pack (as
// OFS_DELTA if the client speaks ofs-delta, else REF_DELTA) or, for a thin pack, when the client is
// known to have the base. Anything else is inflated and sent whole. Keeping only deltas whose base
// comes from the same stored pack cannot create a delta cycle (one stored pack resolves, so its
// deltas form no cycle). No new deltas are computed: clients push deltified packs, and those are
// what later fetches reuse.
import { createHash, type Hash } from 'node:crypto';
import zlib from 'node:zlib';
import { GitFormatError, TYPE_NUMBER } from './objects.ts';
import type { ObjectStore, PackFile } from './objectStore.ts';
import { encodeEntryHeader, encodeOfsDistance, OFS_DELTA, REF_DELTA, writePackHeader } from './packFormat.ts';

export interface PackPlanOptions {
  ofsDelta: boolean;
  thin: boolean;
  /** Objects the client has (thin-pack bases). */
  known: ReadonlySet<string>;
}

export interface PackStats {
  objects: number;
  /** Sent as stored (whole or delta) without inflating. */
  reused: number;
  deltas: number;
  bytes: number;
}

interface Item {
  oid: string;
  pack: PackFile | null;
  entry: number;
  offset: number;
}

/** Generates the pack in windows of about `windowBytes`; the last window ends with the trailer. */
export class PackWriter {
  private readonly items: Item[];
  private readonly byOid = new Map<string, Item>();
  private readonly writtenAt = new Map<string, number>();
  private readonly hash: Hash = createHash('sha1');
  private next = 0;
  private position = 0;
  private finished = false;
  readonly stats: PackStats;

  constructor(private readonly store: ObjectStore, oids: string[], private readonly opts: PackPlanOptions) {
    this.items = oids.map((oid) => {
      const loc = store.locate(oid);
      return loc ? { oid, pack: loc.pack, entry: loc.entry, offset: loc.offset } : { oid, pack: null, entry: -1, offset: 0 };
    });
    // Stored order: a delta's OFS base precedes it; objects not in a pack go last.
    this.items.sort((a, b) => {
      if (a.pack === null || b.pack === null) return a.pack === null ? (b.pack === null ? 0 : 1) : -1;
      return a.pack.id - b.pack.id || a.offset - b.offset;
    });
    for (const item of this.items) this.byOid.set(item.oid, item);
    this.stats = { objects: this.items.length, reused: 0, deltas: 0, bytes: 0 };
  }

  get done(): boolean {
    return this.finished;
  }

  get written(): number {
    return this.next;
  }

  /** The next window of pack bytes (pieces), at least one entry unless finished. */
  window(windowBytes: number): Buffer[] {
    const out: Buffer[] = [];
    let size = 0;
    const emit = (b: Buffer) => {
      this.hash.update(b);
      out.push(b);
      size += b.length;
      this.position += b.length;
    };
    if (this.position === 0) emit(writePackHeader(this.items.length));
    while (this.next < this.items.length && size < windowBytes) {
      const item = this.items[this.next++]!;
      const at = this.position;
      for (const piece of this.entry(item, at)) emit(piece);
      if (item.pack) this.writtenAt.set(`${item.pack.id}:${item.offset}`, at);
    }
    if (this.next >= this.items.length && !this.finished) {
      const trailer = this.hash.digest();
      out.push(trailer);
      size += trailer.length;
      this.position += trailer.length;
      this.finished = true;
    }
    this.stats.bytes = this.position;
    return out;
  }

  private entry(item: Item, at: number): Buffer[] {
    if (item.pack) {
      const stored = this.store.rawEntry(item.pack, item.entry);
      if (stored) {
        const { header, raw } = stored;
        const body = raw.subarray(header.headerLength);
        if (header.type !== OFS_DELTA && header.type !== REF_DELTA) {
          this.stats.reused++;
          return [raw];
        }
        const baseOid = header.type === OFS_DELTA ? this.oidAtOffset(item.pack, header.baseOffset!) : header.baseOid!;
        if (baseOid !== null) {
          const base = this.byOid.get(baseOid);
          if (base && base.pack === item.pack) {
            const baseAt = this.writtenAt.get(`${base.pack.id}:${base.offset}`);
            if (this.opts.ofsDelta && baseAt !== undefined) {
              this.stats.reused++;
              this.stats.deltas++;
              return [encodeEntryHeader(OFS_DELTA, header.size), encodeOfsDistance(at - baseAt), body];
            }
            this.stats.reused++;
            this.stats.deltas++;
            return [encodeEntryHeader(REF_DELTA, header.size), Buffer.from(baseOid, 'hex'), body];
          }
          if (!base && this.opts.thin && this.opts.known.has(baseOid)) {
            this.stats.reused++;
            this.stats.deltas++;
            return [encodeEntryHeader(REF_DELTA, header.size), Buffer.from(baseOid, 'hex'), body];
          }
        }
      }
    }
    const obj = this.store.read(item.oid);
    if (!obj) throw new GitFormatError(`object ${item.oid} is missing`);
    return [encodeEntryHeader(TYPE_NUMBER[obj.type], obj.data.length), zlib.deflateSync(obj.data, { level: 1 })];
  }

  private oidAtOffset(pack: PackFile, offset: number): string | null {
    const entry = pack.idx.entryAtOffset(offset);
    return entry < 0 ? null : pack.idx.oidAt(entry);
  }
}
