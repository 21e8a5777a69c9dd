// Small file helpers the store's parts share: exact reads, complete writes, durable small files,
// and hashing a file into its bao outboard. No store state here.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { BlobStoreError } from './errors.ts';
import { OutboardEncoder } from './hash/bao-stream.ts';

/** The wire's chunk groups: 2^4 chunks = 16 KiB. */
export const CHUNK_GROUP_LOG = 4;
export const GROUP_LEN = 1024 << CHUNK_GROUP_LOG;
export const BAO = { chunkGroupLog: CHUNK_GROUP_LOG } as const;
/** Bytes of one chaining value in a partial blob's .cvs file. */
export const CV_LEN = 32;
/** Pieces read from a file or a source at a time. */
export const READ_PIECE = 256 * 1024;

export function hexOf(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** [position, position + len) of an open file, into a fresh buffer; a short file is INTERNAL. */
export async function readExact(fh: fsp.FileHandle, position: number, len: number): Promise<Uint8Array> {
  // Unzeroed: every byte is read into before it is returned (a short file throws).
  const buf = Buffer.allocUnsafeSlow(len);
  await readInto(fh, buf, position);
  return buf;
}

/** Fills `buf` from `position` of an open file; a short file is INTERNAL. */
export async function readInto(fh: fsp.FileHandle, buf: Uint8Array, position: number): Promise<void> {
  let got = 0;
  while (got < buf.length) {
    const { bytesRead } = await fh.read(buf, got, buf.length - got, position + got);
    if (bytesRead === 0) throw new BlobStoreError('INTERNAL', 'blob file is shorter than its index entry');
    got += bytesRead;
  }
}

/**
 * Fills the views in `into` (back to back in the file from `position`) with one readv, finishing
 * a short read with plain reads.
 */
export async function readvAll(fh: fsp.FileHandle, into: Uint8Array[], position: number): Promise<void> {
  let total = 0;
  for (const b of into) total += b.length;
  let { bytesRead } = await fh.readv(into, position);
  if (bytesRead >= total) return;
  // Rare (signals, huge reads): carry on view by view from where the readv stopped.
  let skip = bytesRead;
  for (const view of into) {
    if (skip >= view.length) {
      skip -= view.length;
      continue;
    }
    await readInto(fh, view.subarray(skip), position + bytesRead);
    bytesRead += view.length - skip;
    skip = 0;
  }
}

export async function writeAll(fh: fsp.FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) done += (await fh.write(bytes, done, bytes.length - done, position + done)).bytesWritten;
}

/** Writes `buffers` back to back at `position` (one writev; a short one is finished by writes). */
export async function writeBuffers(fh: fsp.FileHandle, buffers: readonly Uint8Array[], position: number): Promise<void> {
  let total = 0;
  for (const b of buffers) total += b.length;
  const { bytesWritten } = await fh.writev(buffers as Uint8Array[], position);
  if (bytesWritten < total) await writeAll(fh, Buffer.concat(buffers as Uint8Array[], total).subarray(bytesWritten), position + bytesWritten);
}

/** A new file holding `data`, fsynced (the caller renames it into place). */
export async function writeDurable(file: string, data: Uint8Array): Promise<void> {
  const fh = await fsp.open(file, 'wx', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Hash and outboard of a file, streamed. */
export async function hashFile(file: string): Promise<{ hash: string; outboard: Uint8Array; size: number }> {
  const encoder = new OutboardEncoder(BAO);
  for await (const piece of fs.createReadStream(file, { highWaterMark: READ_PIECE })) encoder.update(piece as Buffer);
  const size = encoder.size;
  const { hash, outboard } = encoder.finish();
  return { hash: hexOf(hash), outboard, size };
}

/** Creates (or truncates) a sparse file of `size` bytes, fsynced. */
export function createSparseFile(file: string, size: number): void {
  const fd = fs.openSync(file, 'w', 0o600);
  try {
    fs.ftruncateSync(fd, size);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

// ------------------------------------------------------------------------------ group bitfields

export function hasBit(bits: Uint8Array, g: number): boolean {
  return ((bits[g >> 3] ?? 0) & (1 << (g & 7))) !== 0;
}

export function allBits(bits: Uint8Array, groups: number): boolean {
  for (let g = 0; g < groups; g++) if (!hasBit(bits, g)) return false;
  return true;
}

export function countBits(bits: Uint8Array, groups: number): number {
  let n = 0;
  for (let g = 0; g < groups; g++) if (hasBit(bits, g)) n++;
  return n;
}
