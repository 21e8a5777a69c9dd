// Collections: a blob that lists `name → hash`, so one hash names a whole directory (as iroh-blobs'
// HashSeq/collections do). Encoding: an 8-byte magic marker, then one msgpack value (bus/codec.ts)
// `{ entries: [[name, hash32], …] }` sorted by name, so the same directory always gives the same hash.
// Pure: no I/O. Names are relative POSIX paths and are checked on decode, because `blob get` turns
// them into file names: a hostile collection must not write outside the target folder.
import { decode, encode } from '../../bus/codec.ts';

/** "alkcol" + format version 1 + a NUL, so a collection is recognised from its first 8 bytes. */
export const COLLECTION_MAGIC = new Uint8Array([0x61, 0x6c, 0x6b, 0x63, 0x6f, 0x6c, 0x01, 0x00]);
/** Largest collection blob this module decodes. */
export const MAX_COLLECTION_BYTES = 16 * 1024 * 1024;
/** Most entries in one collection. */
export const MAX_COLLECTION_ENTRIES = 1_000_000;
const MAX_NAME_BYTES = 4096;

export interface CollectionEntry {
  /** Relative POSIX path, e.g. "docs/readme.md". */
  name: string;
  /** 64 lower-case hex characters. */
  hash: string;
}

export class CollectionError extends Error {
  override name = 'CollectionError';
}

/** Why `name` is not a safe relative path, or undefined when it is. */
export function badEntryName(name: string): string | undefined {
  if (name.length === 0) return 'empty name';
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) return 'name too long';
  if (name.includes('\0')) return 'name holds a NUL';
  if (name.includes('\\')) return 'name holds a backslash';
  if (name.startsWith('/')) return 'absolute name';
  for (const part of name.split('/')) {
    if (part === '' || part === '.' || part === '..') return `bad path segment "${part}"`;
  }
  return undefined;
}

export function isCollectionBytes(prefix: Uint8Array): boolean {
  if (prefix.length < COLLECTION_MAGIC.length) return false;
  for (let i = 0; i < COLLECTION_MAGIC.length; i++) if (prefix[i] !== COLLECTION_MAGIC[i]) return false;
  return true;
}

function hexOf(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function encodeCollection(entries: readonly CollectionEntry[]): Uint8Array {
  const sorted = [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (let i = 0; i < sorted.length; i++) {
    const { name, hash } = sorted[i]!;
    const bad = badEntryName(name);
    if (bad) throw new CollectionError(`collection: ${bad}: ${JSON.stringify(name.slice(0, 100))}`);
    if (!/^[0-9a-f]{64}$/.test(hash)) throw new CollectionError(`collection: bad hash for ${JSON.stringify(name.slice(0, 100))}`);
    if (i > 0 && sorted[i - 1]!.name === name) throw new CollectionError(`collection: duplicate name ${JSON.stringify(name.slice(0, 100))}`);
  }
  const body = encode({ entries: sorted.map((e) => [e.name, Uint8Array.from(Buffer.from(e.hash, 'hex'))]) });
  const out = new Uint8Array(COLLECTION_MAGIC.length + body.length);
  out.set(COLLECTION_MAGIC);
  out.set(body, COLLECTION_MAGIC.length);
  return out;
}

/** Decodes and checks a collection blob; throws CollectionError with one clear line. */
export function decodeCollection(bytes: Uint8Array): CollectionEntry[] {
  if (bytes.length > MAX_COLLECTION_BYTES) throw new CollectionError(`collection: ${bytes.length} bytes is over the ${MAX_COLLECTION_BYTES} limit`);
  if (!isCollectionBytes(bytes)) throw new CollectionError('collection: not a collection (no marker)');
  let value: unknown;
  try {
    value = decode(bytes.subarray(COLLECTION_MAGIC.length));
  } catch {
    throw new CollectionError('collection: body is not one msgpack value');
  }
  const list = (value as { entries?: unknown } | null)?.entries;
  if (typeof value !== 'object' || value === null || !Array.isArray(list)) throw new CollectionError('collection: no entries list');
  if (list.length > MAX_COLLECTION_ENTRIES) throw new CollectionError(`collection: more than ${MAX_COLLECTION_ENTRIES} entries`);
  const entries: CollectionEntry[] = [];
  const seen = new Set<string>();
  for (const item of list as unknown[]) {
    if (!Array.isArray(item) || item.length !== 2) throw new CollectionError('collection: an entry is not [name, hash]');
    const [name, hash] = item as [unknown, unknown];
    if (typeof name !== 'string') throw new CollectionError('collection: an entry name is not a string');
    const bad = badEntryName(name);
    if (bad) throw new CollectionError(`collection: ${bad}: ${JSON.stringify(name.slice(0, 100))}`);
    if (!(hash instanceof Uint8Array) || hash.length !== 32) throw new CollectionError(`collection: bad hash for ${JSON.stringify(name.slice(0, 100))}`);
    if (seen.has(name)) throw new CollectionError(`collection: duplicate name ${JSON.stringify(name.slice(0, 100))}`);
    seen.add(name);
    entries.push({ name, hash: hexOf(hash) });
  }
  return entries;
}
