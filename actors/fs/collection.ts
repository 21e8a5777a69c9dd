// Collections: a blob that lists `name → hash`, so one hash names a whole directory (as iroh-blobs'
// HashSeq/collections do). Encoding: an 8-byte magic marker, then one msgpack map (bus/codec.ts):
//
//   { entries: [[name, hash32], …],   regular files, sorted by name
//     exec?:   [name, …],             those of them with the executable bit
//     links?:  [[name, target], …],   symbolic links, as their target text
//     dirs?:   [name, …] }            folders with nothing in them
//
// The optional lists are present only when not empty, so a folder of plain files encodes as before
// (same hash), and the same directory always gives the same hash. Pure: no I/O. Names are relative
// POSIX paths, checked on encode and decode, because `blob get` turns them into file names: a
// hostile collection must not write outside the target folder, nor through one of its own links.
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
  /** The file had an executable bit set. */
  executable?: boolean;
}

export interface CollectionLink {
  name: string;
  /** The link's target, as the link held it (not followed, not checked: it may point anywhere). */
  target: string;
}

export interface Collection {
  entries: CollectionEntry[];
  links: CollectionLink[];
  /** Empty folders (others are implied by the names below them). */
  dirs: string[];
}

export class CollectionError extends Error {
  override name = 'CollectionError';
}

/** Control characters (C0, DEL, C1): never in a name, so no name can carry a terminal escape. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Why `name` is not a safe relative path, or undefined when it is. */
export function badEntryName(name: string): string | undefined {
  if (name.length === 0) return 'empty name';
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) return 'name too long';
  if (name.includes('\0')) return 'name holds a NUL';
  if (CONTROL.test(name)) return 'name holds a control character';
  if (name.includes('\\')) return 'name holds a backslash';
  if (name.startsWith('/')) return 'absolute name';
  for (const part of name.split('/')) {
    if (part === '' || part === '.' || part === '..') return `bad path segment "${part}"`;
  }
  return undefined;
}

function badLinkTarget(target: string): string | undefined {
  if (target.length === 0) return 'empty link target';
  if (Buffer.byteLength(target) > MAX_NAME_BYTES) return 'link target too long';
  if (target.includes('\0')) return 'link target holds a NUL';
  return undefined;
}

/** A name as it may be shown in an error: quoted, escaped, cut. */
function shown(name: string): string {
  return JSON.stringify(name.slice(0, 100));
}

export function isCollectionBytes(prefix: Uint8Array): boolean {
  if (prefix.length < COLLECTION_MAGIC.length) return false;
  for (let i = 0; i < COLLECTION_MAGIC.length; i++) if (prefix[i] !== COLLECTION_MAGIC[i]) return false;
  return true;
}

function hexOf(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Checks the names of a whole collection: each one safe, none twice (across files, links and
 * folders), and none below a link or a file (a link's name as a folder in another name would make
 * `blob get` write through the link).
 */
function checkNames(collection: Collection): void {
  const kinds = new Map<string, 'file' | 'link' | 'dir'>();
  const add = (name: string, kind: 'file' | 'link' | 'dir'): void => {
    const bad = badEntryName(name);
    if (bad) throw new CollectionError(`collection: ${bad}: ${shown(name)}`);
    if (kinds.has(name)) throw new CollectionError(`collection: duplicate name ${shown(name)}`);
    kinds.set(name, kind);
  };
  for (const e of collection.entries) add(e.name, 'file');
  for (const l of collection.links) {
    add(l.name, 'link');
    const bad = badLinkTarget(l.target);
    if (bad) throw new CollectionError(`collection: ${bad}: ${shown(l.name)}`);
  }
  for (const d of collection.dirs) add(d, 'dir');
  for (const name of kinds.keys()) {
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) {
      const above = kinds.get(parts.slice(0, i).join('/'));
      if (above === 'file' || above === 'link') throw new CollectionError(`collection: ${shown(name)} is below a ${above} of the same name`);
    }
  }
}

/** Encodes a collection; a plain list of entries is a collection of regular files. */
export function encodeCollection(input: readonly CollectionEntry[] | Collection): Uint8Array {
  const collection: Collection = Array.isArray(input)
    ? { entries: [...(input as readonly CollectionEntry[])], links: [], dirs: [] }
    : { entries: [...(input as Collection).entries], links: [...(input as Collection).links], dirs: [...(input as Collection).dirs] };
  const entries = collection.entries.sort((a, b) => byName(a.name, b.name));
  const links = collection.links.sort((a, b) => byName(a.name, b.name));
  const dirs = collection.dirs.sort(byName);
  checkNames(collection);
  for (const { name, hash } of entries) if (!/^[0-9a-f]{64}$/.test(hash)) throw new CollectionError(`collection: bad hash for ${shown(name)}`);
  if (entries.length + links.length + dirs.length > MAX_COLLECTION_ENTRIES) throw new CollectionError(`collection: more than ${MAX_COLLECTION_ENTRIES} entries`);
  const value: Record<string, unknown> = { entries: entries.map((e) => [e.name, Uint8Array.from(Buffer.from(e.hash, 'hex'))]) };
  const exec = entries.filter((e) => e.executable).map((e) => e.name);
  if (exec.length > 0) value.exec = exec;
  if (links.length > 0) value.links = links.map((l) => [l.name, l.target]);
  if (dirs.length > 0) value.dirs = dirs;
  const body = encode(value);
  if (COLLECTION_MAGIC.length + body.length > MAX_COLLECTION_BYTES) throw new CollectionError(`collection: over the ${MAX_COLLECTION_BYTES}-byte limit`);
  const out = new Uint8Array(COLLECTION_MAGIC.length + body.length);
  out.set(COLLECTION_MAGIC);
  out.set(body, COLLECTION_MAGIC.length);
  return out;
}

function stringList(value: unknown, what: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > MAX_COLLECTION_ENTRIES) throw new CollectionError(`collection: ${what} is not a list`);
  for (const item of value) if (typeof item !== 'string') throw new CollectionError(`collection: ${what} holds a non-string`);
  return value as string[];
}

/** Decodes and checks a collection blob; throws CollectionError with one clear line. */
export function decodeCollection(bytes: Uint8Array): Collection {
  if (bytes.length > MAX_COLLECTION_BYTES) throw new CollectionError(`collection: ${bytes.length} bytes is over the ${MAX_COLLECTION_BYTES} limit`);
  if (!isCollectionBytes(bytes)) throw new CollectionError('collection: not a collection (no marker)');
  let value: unknown;
  try {
    value = decode(bytes.subarray(COLLECTION_MAGIC.length));
  } catch {
    throw new CollectionError('collection: body is not one msgpack value');
  }
  const map = value as { entries?: unknown; exec?: unknown; links?: unknown; dirs?: unknown } | null;
  const list = map?.entries;
  if (typeof value !== 'object' || value === null || !Array.isArray(list)) throw new CollectionError('collection: no entries list');
  if (list.length > MAX_COLLECTION_ENTRIES) throw new CollectionError(`collection: more than ${MAX_COLLECTION_ENTRIES} entries`);
  const entries: CollectionEntry[] = [];
  for (const item of list as unknown[]) {
    if (!Array.isArray(item) || item.length !== 2) throw new CollectionError('collection: an entry is not [name, hash]');
    const [name, hash] = item as [unknown, unknown];
    if (typeof name !== 'string') throw new CollectionError('collection: an entry name is not a string');
    if (!(hash instanceof Uint8Array) || hash.length !== 32) throw new CollectionError(`collection: bad hash for ${shown(name)}`);
    entries.push({ name, hash: hexOf(hash) });
  }
  const exec = new Set(stringList(map!.exec, 'exec'));
  for (const e of entries) if (exec.has(e.name)) e.executable = true;
  const links: CollectionLink[] = [];
  if (map!.links !== undefined) {
    if (!Array.isArray(map!.links) || map!.links.length > MAX_COLLECTION_ENTRIES) throw new CollectionError('collection: links is not a list');
    for (const item of map!.links as unknown[]) {
      if (!Array.isArray(item) || item.length !== 2 || typeof item[0] !== 'string' || typeof item[1] !== 'string') {
        throw new CollectionError('collection: a link is not [name, target]');
      }
      links.push({ name: item[0], target: item[1] });
    }
  }
  const collection: Collection = { entries, links, dirs: stringList(map!.dirs, 'dirs') };
  if (entries.length + links.length + collection.dirs.length > MAX_COLLECTION_ENTRIES) throw new CollectionError(`collection: more than ${MAX_COLLECTION_ENTRIES} entries`);
  checkNames(collection);
  const files = new Set(entries.map((e) => e.name));
  for (const name of exec) if (!files.has(name)) throw new CollectionError(`collection: exec names no file: ${shown(name)}`);
  return collection;
}
