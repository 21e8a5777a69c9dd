// The pack file format (version 2/3), pure: the 12-byte header, each entry's header (type, inflated
// size, and for deltas the base: a backwards offset or a base id), the zlib body and the SHA-1
// trailer. Used by the receive side to find where a pack ends on a stream (protocols/git's framer)
// and to index it (packIndexer.ts), and by the pack writer. Every read is bounded: an entry that
// announces more than the object size limit, or a body that inflates to another size than announced,
// is an error; "need more bytes" is told apart from "malformed" so a stream reader can wait.
import zlib from 'node:zlib';
import { GitFormatError } from './objects.ts';

export const PACK_HEADER_BYTES = 12;
export const PACK_TRAILER_BYTES = 20;
export const OFS_DELTA = 6;
export const REF_DELTA = 7;
/** Objects larger than this are refused unless a caller passes another limit (config [git] maxObjectBytes). */
export const DEFAULT_MAX_OBJECT_BYTES = 256 * 1024 * 1024;

export interface PackHeader {
  version: number;
  count: number;
}

/** The pack header at the start of `buf`, or null if fewer than 12 bytes are there. */
export function readPackHeader(buf: Uint8Array): PackHeader | null {
  if (buf.length < PACK_HEADER_BYTES) return null;
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.toString('latin1', 0, 4) !== 'PACK') throw new GitFormatError('not a pack: it does not start with "PACK"');
  const version = b.readUInt32BE(4);
  if (version !== 2 && version !== 3) throw new GitFormatError(`pack version ${version} is not supported (2 or 3)`);
  return { version, count: b.readUInt32BE(8) };
}

export function writePackHeader(count: number): Buffer {
  const b = Buffer.alloc(PACK_HEADER_BYTES);
  b.write('PACK', 0, 'latin1');
  b.writeUInt32BE(2, 4);
  b.writeUInt32BE(count, 8);
  return b;
}

export interface EntryHeader {
  /** 1–4 whole object, 6 OFS_DELTA, 7 REF_DELTA. */
  type: number;
  /** Inflated size of the body (for a delta, of the delta itself). */
  size: number;
  /** Bytes from the entry's start to its zlib body. */
  headerLength: number;
  /** OFS_DELTA: the base entry's absolute offset. */
  baseOffset?: number;
  /** REF_DELTA: the base's id (hex). */
  baseOid?: string;
}

/**
 * The header of the entry at `at` (its absolute offset in the pack is `offset`, for OFS_DELTA), or
 * null when `buf` ends before the header does.
 */
export function readEntryHeader(buf: Uint8Array, at: number, offset: number, maxObjectBytes = DEFAULT_MAX_OBJECT_BYTES): EntryHeader | null {
  let p = at;
  if (p >= buf.length) return null;
  let byte = buf[p++]!;
  const type = (byte >> 4) & 7;
  if (type === 0 || type === 5) throw new GitFormatError(`pack entry at ${offset} has the invalid type ${type}`);
  let size = byte & 0x0f;
  let shift = 4;
  while (byte & 0x80) {
    if (p >= buf.length) return null;
    byte = buf[p++]!;
    size += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (shift > 53) throw new GitFormatError(`pack entry at ${offset} has an oversized length`);
  }
  if (size > maxObjectBytes) throw new GitFormatError(`pack entry at ${offset} is ${size} bytes, above the limit of ${maxObjectBytes}`);
  const header: EntryHeader = { type, size, headerLength: 0 };
  if (type === OFS_DELTA) {
    if (p >= buf.length) return null;
    byte = buf[p++]!;
    let rel = byte & 0x7f;
    let n = 0;
    while (byte & 0x80) {
      if (p >= buf.length) return null;
      if (++n > 8) throw new GitFormatError(`pack entry at ${offset} has an oversized base offset`);
      byte = buf[p++]!;
      rel = (rel + 1) * 128 + (byte & 0x7f);
    }
    const base = offset - rel;
    if (rel === 0 || base < PACK_HEADER_BYTES) throw new GitFormatError(`pack entry at ${offset} has a delta base outside the pack`);
    header.baseOffset = base;
  } else if (type === REF_DELTA) {
    if (p + 20 > buf.length) return null;
    header.baseOid = Buffer.from(buf.buffer, buf.byteOffset + p, 20).toString('hex');
    p += 20;
  }
  header.headerLength = p - at;
  return header;
}

export function encodeEntryHeader(type: number, size: number): Buffer {
  const bytes: number[] = [];
  let byte = (type << 4) | (size & 0x0f);
  let rest = Math.floor(size / 16);
  while (rest > 0) {
    bytes.push(byte | 0x80);
    byte = rest & 0x7f;
    rest = Math.floor(rest / 128);
  }
  bytes.push(byte);
  return Buffer.from(bytes);
}

/** The OFS_DELTA distance (entry offset − base offset) in git's encoding. */
export function encodeOfsDistance(distance: number): Buffer {
  const bytes = [distance & 0x7f];
  let rest = Math.floor(distance / 128);
  while (rest > 0) {
    rest -= 1;
    bytes.unshift(0x80 | (rest & 0x7f));
    rest = Math.floor(rest / 128);
  }
  return Buffer.from(bytes);
}

export type InflateResult = { data: Buffer; consumed: number } | 'more';

/**
 * Inflates the zlib body at `at`, which must give exactly `size` bytes. 'more' when `buf` ends
 * before the zlib stream does (a stream reader waits for more; a whole pack is then truncated).
 */
export function inflateBody(buf: Uint8Array, at: number, size: number, offset: number): InflateResult {
  const input = Buffer.from(buf.buffer, buf.byteOffset + at, buf.byteLength - at);
  if (input.length === 0) return 'more';
  let result: { buffer: Buffer; engine: zlib.Inflate };
  try {
    result = zlib.inflateSync(input, { info: true, maxOutputLength: Math.max(1, size) }) as unknown as { buffer: Buffer; engine: zlib.Inflate };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'Z_BUF_ERROR') return 'more';
    if (code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) throw new GitFormatError(`pack entry at ${offset} inflates to more than its announced ${size} bytes`);
    throw new GitFormatError(`pack entry at ${offset} has a corrupt zlib stream`);
  }
  if (result.buffer.length !== size) throw new GitFormatError(`pack entry at ${offset} inflates to ${result.buffer.length} bytes, announced ${size}`);
  return { data: result.buffer, consumed: result.engine.bytesWritten };
}
