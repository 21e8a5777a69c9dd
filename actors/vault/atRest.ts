// At-rest encryption: AES-256-GCM (node:crypto, the fast path) with a fresh random 96-bit IV per
// message, under the 32-byte SLIP-0010 key at m/74'/2'/0'/N'. The envelope names N (`key_version`),
// so rotating to N+1 leaves every older envelope decryptable. Optional associated data binds an
// envelope to its context (e.g. a record's id) without being stored in it.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { VaultError } from './errors.ts';
import { deriveEd25519, KEY_PATHS, wipeKey } from './keys.ts';

export interface AtRestEnvelope {
  key_version: number;
  /** base64 of the 12-byte IV. */
  iv: string;
  /** base64 of ciphertext ‖ 16-byte GCM tag. */
  data: string;
}

/** Something that yields the at-rest AES key of a version (a cache in the vault actor). */
export interface AtRestKeyring {
  atRestKey(keyVersion: number): Uint8Array;
}

/** A BIP39 seed (keys are derived per call) or a keyring that caches them. */
export type AtRestKeys = Uint8Array | AtRestKeyring;

/** Largest plaintext one envelope may hold; bigger data belongs in the blob store, chunked. */
export const MAX_AT_REST_BYTES = 64 * 1024 * 1024;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface AtRestOptions {
  keyVersion: number;
  aad?: Uint8Array;
}

/** The AES-256 key of version n: the SLIP-0010 private key at m/74'/2'/0'/n'. */
export function atRestKeyFromSeed(seed: Uint8Array, keyVersion: number): Uint8Array {
  const key = deriveEd25519(seed, KEY_PATHS.atRest(keyVersion));
  key.chainCode.fill(0);
  return key.privateKey;
}

function withKey<T>(keys: AtRestKeys, keyVersion: number, use: (key: Uint8Array) => T): T {
  if (keys instanceof Uint8Array) {
    const key = atRestKeyFromSeed(keys, keyVersion);
    try {
      return use(key);
    } finally {
      wipeKey({ privateKey: key });
    }
  }
  return use(keys.atRestKey(keyVersion));
}

export function encryptAtRest(keys: AtRestKeys, plaintext: Uint8Array, options: AtRestOptions): AtRestEnvelope {
  if (plaintext.length > MAX_AT_REST_BYTES) {
    throw new VaultError('INVALID_INPUT', `at-rest plaintext is ${plaintext.length} bytes; the limit is ${MAX_AT_REST_BYTES}`);
  }
  KEY_PATHS.atRest(options.keyVersion); // validates the version before any key work
  const iv = randomBytes(IV_BYTES);
  return withKey(keys, options.keyVersion, (key) => {
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    if (options.aad) cipher.setAAD(options.aad);
    const data = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return { key_version: options.keyVersion, iv: iv.toString('base64'), data: data.toString('base64') };
  });
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/u;

function base64Field(envelope: Record<string, unknown>, name: 'iv' | 'data', maxChars: number): Buffer {
  const value = envelope[name];
  if (typeof value !== 'string' || value.length > maxChars || value.length % 4 !== 0 || !BASE64.test(value)) {
    throw new VaultError('INVALID_INPUT', `at-rest envelope: "${name}" must be base64 of at most ${maxChars} characters`);
  }
  return Buffer.from(value, 'base64');
}

/** Checks an envelope's shape (it may come from disk or the network) and returns its parts. */
export function parseEnvelope(envelope: unknown): { keyVersion: number; iv: Buffer; data: Buffer } {
  if (typeof envelope !== 'object' || envelope === null) throw new VaultError('INVALID_INPUT', 'at-rest envelope must be an object {key_version, iv, data}');
  const e = envelope as Record<string, unknown>;
  const keyVersion = e.key_version;
  if (typeof keyVersion !== 'number' || !Number.isInteger(keyVersion) || keyVersion < 0 || keyVersion > 0x7fffffff) {
    throw new VaultError('INVALID_INPUT', 'at-rest envelope: "key_version" must be an integer in 0..2^31-1');
  }
  const iv = base64Field(e, 'iv', 16);
  const data = base64Field(e, 'data', Math.ceil((MAX_AT_REST_BYTES + TAG_BYTES) / 3) * 4);
  if (iv.length !== IV_BYTES) throw new VaultError('INVALID_INPUT', `at-rest envelope: "iv" must be ${IV_BYTES} bytes`);
  if (data.length < TAG_BYTES) throw new VaultError('INVALID_INPUT', 'at-rest envelope: "data" is shorter than the GCM tag');
  return { keyVersion, iv, data };
}

/** Throws DECRYPT_FAILED when the envelope, the key version or the associated data do not match. */
export function decryptAtRest(keys: AtRestKeys, envelope: AtRestEnvelope, options: { aad?: Uint8Array } = {}): Uint8Array {
  const { keyVersion, iv, data } = parseEnvelope(envelope);
  return withKey(keys, keyVersion, (key) => {
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    if (options.aad) decipher.setAAD(options.aad);
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    try {
      return new Uint8Array(Buffer.concat([decipher.update(data.subarray(0, data.length - TAG_BYTES)), decipher.final()]));
    } catch {
      throw new VaultError('DECRYPT_FAILED', `at-rest data (key version ${keyVersion}) does not authenticate: wrong key, wrong associated data, or altered data`);
    }
  });
}
