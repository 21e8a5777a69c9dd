// Shared by the BLAKE3 / bao / store tests: the vectors' types, deterministic test bytes, hex.
// The published vector files themselves are read through test/support/vectors.ts (requireVectors).
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const projectRoot = path.resolve(fileURLToPath(import.meta.url), '../../..');

export interface Blake3Vectors {
  key: string;
  context_string: string;
  cases: Array<{ input_len: number; hash: string; keyed_hash: string; derive_key: string }>;
}

export const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');

/** The BLAKE3 vectors' input: byte i is i % 251. */
export function pattern251(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = i % 251;
  return bytes;
}

/** Deterministic pseudo-random bytes (xorshift32) for a seed. */
export function seededBytes(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let x = seed | 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}
