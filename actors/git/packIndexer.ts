// Indexes a received pack before anything of it is trusted (what `git index-pack --fix-thin` does):
// the SHA-1 trailer, every entry's header and zlib body (exact sizes), every delta resolved to an
// object whose id is computed here, no object twice, and no delta left over. A delta whose base is
// neither in the pack nor in the repository (or that is part of a delta cycle) is never resolved,
// so the pack is refused. A thin pack (deltas against objects the repository has) is completed by
// appending those bases, so that the stored pack stands alone as git requires.
// `visit` sees every object with its content once (the receive side checks what it refers to).
import { createHash } from 'node:crypto';
import zlib from 'node:zlib';
import { applyDelta } from './delta.ts';
import { GitFormatError, hashObject, TYPE_NUMBER, TYPE_OF_NUMBER, type ObjectType } from './objects.ts';
import { DEFAULT_MAX_OBJECT_BYTES, encodeEntryHeader, inflateBody, OFS_DELTA, PACK_HEADER_BYTES, PACK_TRAILER_BYTES, readEntryHeader, readPackHeader, REF_DELTA, writePackHeader } from './packFormat.ts';
import type { IndexEntry } from './packIndex.ts';

export interface StoredObject {
  type: ObjectType;
  data: Buffer;
}

export interface IndexPackOptions {
  /** An object of the repository (for thin packs), or null. */
  external?: (oid: string) => StoredObject | null;
  visit?: (oid: string, type: ObjectType, data: Buffer) => void;
  maxObjectBytes?: number;
  /** Most objects one pack may hold (default 10 million). */
  maxObjects?: number;
}

export interface IndexedPack {
  /** The pack as it will be stored (the received one, or completed with appended bases). */
  pack: Buffer;
  checksum: Buffer;
  entries: IndexEntry[];
  /** Bases appended from the repository (thin pack). */
  appended: number;
}

const crc32: (data: Uint8Array) => number =
  typeof (zlib as { crc32?: unknown }).crc32 === 'function'
    ? (data) => (zlib as unknown as { crc32(d: Uint8Array): number }).crc32(data)
    : (() => {
        const table = new Uint32Array(256);
        for (let n = 0; n < 256; n++) {
          let c = n;
          for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
          table[n] = c >>> 0;
        }
        return (data: Uint8Array) => {
          let c = 0xffffffff;
          for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
          return (c ^ 0xffffffff) >>> 0;
        };
      })();
export { crc32 };

interface Entry {
  offset: number;
  end: number;
  type: number;
  size: number;
  dataAt: number;
  baseOffset?: number;
  baseOid?: string;
  crc: number;
  oid?: string;
  /** The resolved type (deltas take their base's). */
  objectType?: ObjectType;
}

interface Frame {
  content: Buffer;
  type: ObjectType;
  children: number[];
  next: number;
}

export function indexPack(buf: Buffer, options: IndexPackOptions = {}): IndexedPack {
  const maxObjectBytes = options.maxObjectBytes ?? DEFAULT_MAX_OBJECT_BYTES;
  const header = readPackHeader(buf);
  if (!header) throw new GitFormatError('pack is shorter than its header');
  if (buf.length < PACK_HEADER_BYTES + PACK_TRAILER_BYTES) throw new GitFormatError('pack is shorter than its header and trailer');
  if (header.count > (options.maxObjects ?? 10_000_000)) throw new GitFormatError(`pack announces ${header.count} objects, above the limit`);
  const bodyEnd = buf.length - PACK_TRAILER_BYTES;
  const sum = createHash('sha1').update(buf.subarray(0, bodyEnd)).digest();
  if (!sum.equals(buf.subarray(bodyEnd))) throw new GitFormatError('pack checksum mismatch (corrupt or truncated pack)');

  const entries: Entry[] = [];
  const byOffset = new Map<number, number>();
  const byOid = new Map<string, number>();
  const ofsChildren = new Map<number, number[]>();
  const refChildren = new Map<string, number[]>();
  const push = (map: Map<number | string, number[]>, key: number | string, i: number) => {
    const list = map.get(key);
    if (list) list.push(i);
    else map.set(key, [i]);
  };
  /** The base each resolved entry's delta chain starts from: a whole object of the pack, or a repository object. */
  const rootOf = new Map<number, string>();
  const named = (i: number, oid: string, type: ObjectType, data: Buffer) => {
    if (byOid.has(oid)) throw new GitFormatError(`pack holds object ${oid} twice`);
    const e = entries[i]!;
    e.oid = oid;
    e.objectType = type;
    byOid.set(oid, i);
    options.visit?.(oid, type, data);
  };

  let at = PACK_HEADER_BYTES;
  for (let n = 0; n < header.count; n++) {
    if (at >= bodyEnd) throw new GitFormatError(`pack ends after ${n} of ${header.count} objects`);
    const h = readEntryHeader(buf.subarray(0, bodyEnd), at, at, maxObjectBytes);
    if (!h) throw new GitFormatError(`pack entry at ${at} is truncated`);
    const dataAt = at + h.headerLength;
    const body = inflateBody(buf.subarray(0, bodyEnd), dataAt, h.size, at);
    if (body === 'more') throw new GitFormatError(`pack entry at ${at} is truncated`);
    const end = dataAt + body.consumed;
    const i = entries.length;
    const entry: Entry = { offset: at, end, type: h.type, size: h.size, dataAt, crc: crc32(buf.subarray(at, end)) };
    entries.push(entry);
    byOffset.set(at, i);
    if (h.type === OFS_DELTA) {
      if (!byOffset.has(h.baseOffset!)) throw new GitFormatError(`pack entry at ${at} names a delta base offset that is not an entry`);
      entry.baseOffset = h.baseOffset!;
      push(ofsChildren as Map<number | string, number[]>, h.baseOffset!, i);
    } else if (h.type === REF_DELTA) {
      entry.baseOid = h.baseOid!;
      push(refChildren as Map<number | string, number[]>, h.baseOid!, i);
    } else {
      const type = TYPE_OF_NUMBER[h.type]!;
      named(i, hashObject(type, body.data), type, body.data);
    }
    at = end;
  }
  if (at !== bodyEnd) throw new GitFormatError(`pack has ${bodyEnd - at} bytes of garbage after its last object`);

  const inflateAt = (e: Entry): Buffer => {
    const body = inflateBody(buf.subarray(0, bodyEnd), e.dataAt, e.size, e.offset);
    if (body === 'more') throw new GitFormatError(`pack entry at ${e.offset} is truncated`);
    return body.data;
  };
  const childrenOf = (offset: number | undefined, oid: string): number[] => [
    ...(offset !== undefined ? ofsChildren.get(offset) ?? [] : []),
    ...(refChildren.get(oid) ?? []),
  ];

  // Resolve every delta below a known base, depth first (one chain of contents held at a time).
  const resolveFrom = (content: Buffer, type: ObjectType, offset: number | undefined, oid: string, root: string): void => {
    const stack: Frame[] = [{ content, type, children: childrenOf(offset, oid), next: 0 }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.next >= top.children.length) {
        stack.pop();
        continue;
      }
      const ci = top.children[top.next++]!;
      const child = entries[ci]!;
      if (child.oid !== undefined) continue;
      const result = applyDelta(top.content, inflateAt(child), maxObjectBytes);
      const childOid = hashObject(top.type, result);
      named(ci, childOid, top.type, result);
      rootOf.set(ci, root);
      stack.push({ content: result, type: top.type, children: childrenOf(child.offset, childOid), next: 0 });
    }
  };

  const bases = entries.map((e, i) => [e, i] as const).filter(([e]) => e.type !== OFS_DELTA && e.type !== REF_DELTA);
  for (const [e] of bases) {
    if (ofsChildren.has(e.offset) || refChildren.has(e.oid!)) resolveFrom(inflateAt(e), e.objectType!, e.offset, e.oid!, 'pack');
  }

  // Thin pack: deltas against objects of the repository. Those bases are appended to the pack.
  let appended: Array<{ oid: string; type: ObjectType; data: Buffer }> = [];
  for (;;) {
    const missing = new Set<string>();
    for (const e of entries) if (e.oid === undefined && e.type === REF_DELTA && !byOid.has(e.baseOid!)) missing.add(e.baseOid!);
    let progress = false;
    for (const oid of missing) {
      const base = options.external?.(oid) ?? null;
      if (!base) continue;
      appended.push({ oid, type: base.type, data: base.data });
      resolveFrom(base.data, base.type, undefined, oid, oid);
      progress = true;
    }
    if (!progress) break;
  }
  const unresolved = entries.filter((e) => e.oid === undefined);
  if (unresolved.length > 0) {
    throw new GitFormatError(`pack has ${unresolved.length} delta${unresolved.length === 1 ? '' : 's'} that cannot be resolved (a missing base or a delta cycle)`);
  }

  // A base taken from the repository may turn out to be in the pack too (as a delta resolved
  // later). git refuses an object twice, so the pack's own copy must serve, which it can unless it
  // is itself built (through other such bases) on the copy taken: then the deltas form a cycle.
  const inPack = (oid: string) => byOid.has(oid);
  appended = appended.filter((a) => {
    if (!inPack(a.oid)) return true;
    const seen = new Set<string>();
    let at = a.oid;
    for (;;) {
      if (seen.has(at)) throw new GitFormatError(`pack has a delta cycle through object ${a.oid} (its deltas need each other as bases)`);
      seen.add(at);
      const root = rootOf.get(byOid.get(at)!) ?? 'pack';
      if (root === 'pack' || !inPack(root)) return false;
      at = root;
    }
  });
  const indexEntries: IndexEntry[] = entries.map((e) => ({ oid: Buffer.from(e.oid!, 'hex'), offset: e.offset, crc: e.crc }));
  if (appended.length === 0) return { pack: buf, checksum: Buffer.from(buf.subarray(bodyEnd)), entries: indexEntries, appended: 0 };

  // Complete the thin pack: same entries (offsets unchanged), the bases after them, a new count and trailer.
  const parts: Buffer[] = [writePackHeader(header.count + appended.length), buf.subarray(PACK_HEADER_BYTES, bodyEnd)];
  let offset = bodyEnd;
  for (const a of appended) {
    const entry = Buffer.concat([encodeEntryHeader(TYPE_NUMBER[a.type], a.data.length), zlib.deflateSync(a.data)]);
    indexEntries.push({ oid: Buffer.from(a.oid, 'hex'), offset, crc: crc32(entry) });
    parts.push(entry);
    offset += entry.length;
  }
  const body = Buffer.concat(parts);
  const checksum = createHash('sha1').update(body).digest();
  return { pack: Buffer.concat([body, checksum]), checksum, entries: indexEntries, appended: appended.length };
}
