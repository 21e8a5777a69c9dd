// Pack index files (.idx, version 2): a fan-out table over the first byte, the sorted object ids,
// a CRC-32 and an offset per object (64-bit offsets for packs past 2 GiB), the pack's checksum and
// the index's own. Pure: parse from bytes, look up an id, write a new index.
import { createHash } from 'node:crypto';
import { GitFormatError } from './objects.ts';

const MAGIC = 0xff744f63;

export class PackIndex {
  /** Offsets in ascending order, and which index entry each belongs to (to find an entry's end). */
  private sorted: Float64Array | null = null;
  private sortedEntry: Uint32Array | null = null;

  private constructor(
    readonly count: number,
    private readonly fanout: Uint32Array,
    /** count × 20 bytes, ascending. */
    readonly oids: Buffer,
    readonly crcs: Uint32Array,
    readonly offsets: Float64Array,
    readonly packChecksum: Buffer,
  ) {}

  static parse(idx: Buffer): PackIndex {
    if (idx.length < 8 + 1024 + 40 || idx.readUInt32BE(0) !== MAGIC || idx.readUInt32BE(4) !== 2) throw new GitFormatError('not a version 2 pack index');
    const fanout = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      fanout[i] = idx.readUInt32BE(8 + i * 4);
      if (i > 0 && fanout[i]! < fanout[i - 1]!) throw new GitFormatError('pack index fan-out is not monotonic');
    }
    const n = fanout[255]!;
    const namesAt = 8 + 1024;
    const crcAt = namesAt + n * 20;
    const offAt = crcAt + n * 4;
    const bigAt = offAt + n * 4;
    if (idx.length < bigAt + 40) throw new GitFormatError('pack index is truncated');
    const sum = createHash('sha1').update(idx.subarray(0, idx.length - 20)).digest();
    if (!sum.equals(idx.subarray(idx.length - 20))) throw new GitFormatError('pack index checksum mismatch');
    const bigCount = (idx.length - 40 - bigAt) / 8;
    const crcs = new Uint32Array(n);
    const offsets = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      crcs[i] = idx.readUInt32BE(crcAt + i * 4);
      const o = idx.readUInt32BE(offAt + i * 4);
      if (o & 0x80000000) {
        const k = o & 0x7fffffff;
        if (k >= bigCount) throw new GitFormatError('pack index has a bad large offset');
        offsets[i] = Number(idx.readBigUInt64BE(bigAt + k * 8));
      } else offsets[i] = o;
    }
    const oids = Buffer.from(idx.subarray(namesAt, crcAt));
    return new PackIndex(n, fanout, oids, crcs, offsets, Buffer.from(idx.subarray(idx.length - 40, idx.length - 20)));
  }

  /** The entry number of `oid` (20 bytes), or -1. */
  find(oid: Buffer): number {
    const first = oid[0]!;
    let lo = first === 0 ? 0 : this.fanout[first - 1]!;
    let hi = this.fanout[first]!;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = this.oids.compare(oid, 0, 20, mid * 20, mid * 20 + 20);
      if (c === 0) return mid;
      if (c < 0) lo = mid + 1;
      else hi = mid;
    }
    return -1;
  }

  oidAt(i: number): string {
    return this.oids.toString('hex', i * 20, i * 20 + 20);
  }

  private ensureSorted(): void {
    if (this.sorted) return;
    const order = Array.from({ length: this.count }, (_, i) => i).sort((a, b) => this.offsets[a]! - this.offsets[b]!);
    this.sorted = Float64Array.from(order, (i) => this.offsets[i]!);
    this.sortedEntry = Uint32Array.from(order);
  }

  /** Where the entry at `offset` ends: the next entry's offset, or the trailer's. */
  endOf(offset: number, packSize: number): number {
    this.ensureSorted();
    const s = this.sorted!;
    let lo = 0;
    let hi = s.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid]! <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo < s.length ? s[lo]! : packSize - 20;
  }

  /** The entry number of the object stored at `offset`, or -1. */
  entryAtOffset(offset: number): number {
    this.ensureSorted();
    const s = this.sorted!;
    let lo = 0;
    let hi = s.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid] === offset) return this.sortedEntry![mid]!;
      if (s[mid]! < offset) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }
}

export interface IndexEntry {
  /** 20 bytes. */
  oid: Buffer;
  offset: number;
  crc: number;
}

/** A version 2 index for a pack whose trailer is `packChecksum`. Entries need not be sorted. */
export function writePackIndex(entries: IndexEntry[], packChecksum: Buffer): Buffer {
  const sorted = [...entries].sort((a, b) => Buffer.compare(a.oid, b.oid));
  const n = sorted.length;
  const big = sorted.filter((e) => e.offset >= 0x80000000);
  const out = Buffer.alloc(8 + 1024 + n * 28 + big.length * 8 + 40);
  out.writeUInt32BE(MAGIC, 0);
  out.writeUInt32BE(2, 4);
  const counts = new Uint32Array(256);
  for (const e of sorted) counts[e.oid[0]!]!++;
  let total = 0;
  for (let i = 0; i < 256; i++) {
    total += counts[i]!;
    out.writeUInt32BE(total, 8 + i * 4);
  }
  const namesAt = 8 + 1024;
  const crcAt = namesAt + n * 20;
  const offAt = crcAt + n * 4;
  const bigAt = offAt + n * 4;
  let k = 0;
  sorted.forEach((e, i) => {
    e.oid.copy(out, namesAt + i * 20);
    out.writeUInt32BE(e.crc >>> 0, crcAt + i * 4);
    if (e.offset >= 0x80000000) {
      out.writeUInt32BE((0x80000000 | k) >>> 0, offAt + i * 4);
      out.writeBigUInt64BE(BigInt(e.offset), bigAt + k * 8);
      k++;
    } else out.writeUInt32BE(e.offset, offAt + i * 4);
  });
  const sumAt = bigAt + big.length * 8;
  packChecksum.copy(out, sumAt);
  createHash('sha1').update(out.subarray(0, sumAt + 20)).digest().copy(out, sumAt + 20);
  return out;
}
