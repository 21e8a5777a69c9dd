// The vault's pure key logic: BIP39 mnemonics and seeds, SLIP-0010 Ed25519 derivation, the node's key
// purposes and their paths, the X25519 messaging key. No I/O, no actors: tested against published vectors.
//
// @noble/@scure are used where Node has no equivalent (BIP39, SLIP-0010 HMAC chain, Ed25519 public key
// from a derived scalar seed, Edwards→Montgomery conversion). Hot paths (signing, bulk AES-GCM) use
// node:crypto instead: see signer.ts and atRest.ts.
import {
  entropyToMnemonic,
  generateMnemonic as bip39Generate,
  mnemonicToEntropy,
  mnemonicToSeedSync,
} from '@scure/bip39';
import { wordlist } from '@scure/bip39/wordlists/english.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { VaultError } from './errors.ts';
import { fingerprint, nodeIdFromPublicKey, type NodeId } from './nodeId.ts';

export { encryptAtRest, decryptAtRest, type AtRestEnvelope, type AtRestKeys } from './atRest.ts';

/** Index offset of a hardened child (BIP32/SLIP-0010). */
export const HARDENED = 0x80000000;
/** Longest derivation path text we parse (a path with ~20 levels); anything longer is refused. */
const MAX_PATH_TEXT = 256;
const WORDS = new Set(wordlist);

// ---------------------------------------------------------------------------------------------- BIP39

export type MnemonicWords = 12 | 24;

/** A fresh English mnemonic from the OS CSPRNG: 12 words (128 bits) or 24 words (256 bits). */
export function generateMnemonic(words: MnemonicWords = 24): string {
  if (words !== 12 && words !== 24) throw new VaultError('INVALID_INPUT', `a mnemonic has 12 or 24 words, not ${String(words)}`);
  return bip39Generate(wordlist, words === 12 ? 128 : 256);
}

/** The canonical spelling: NFKD, lower case, single spaces (what BIP39 hashes). */
export function normalizeMnemonic(mnemonic: string): string {
  return mnemonic.normalize('NFKD').trim().toLowerCase().split(/\s+/u).join(' ');
}

/**
 * Validates an English mnemonic and returns its normalized form. Throws INVALID_INPUT naming the
 * problem: the word count, the position and spelling of a word not in the list, or the checksum.
 */
export function checkMnemonic(mnemonic: string): string {
  const normalized = normalizeMnemonic(mnemonic);
  const words = normalized === '' ? [] : normalized.split(' ');
  if (![12, 15, 18, 21, 24].includes(words.length)) {
    throw new VaultError('INVALID_INPUT', `a mnemonic has 12, 15, 18, 21 or 24 words; this one has ${words.length}`);
  }
  words.forEach((word, i) => {
    if (!WORDS.has(word)) {
      throw new VaultError('INVALID_INPUT', `word ${i + 1} ("${word.slice(0, 12)}") is not in the BIP39 English word list`);
    }
  });
  try {
    mnemonicToEntropy(normalized, wordlist);
  } catch {
    throw new VaultError('INVALID_INPUT', 'the mnemonic checksum does not match: a word is wrong or the words are out of order');
  }
  return normalized;
}

/** Mnemonic → entropy (16..32 bytes). Validates first. */
export function mnemonicEntropy(mnemonic: string): Uint8Array {
  return mnemonicToEntropy(checkMnemonic(mnemonic), wordlist);
}

export function mnemonicFromEntropy(entropy: Uint8Array): string {
  return entropyToMnemonic(entropy, wordlist);
}

/** BIP39 seed: PBKDF2-HMAC-SHA512(mnemonic, "mnemonic" + passphrase, 2048) → 64 bytes. Validates first. */
export function mnemonicToSeed(mnemonic: string, bip39Passphrase = ''): Uint8Array {
  return mnemonicToSeedSync(checkMnemonic(mnemonic), bip39Passphrase);
}

// ------------------------------------------------------------------------------------------- SLIP-0010

/**
 * Parses `m/74'/0'/0'/0'` (also `h`/`H` for hardened) into child indices, hardened ones offset by
 * HARDENED. Non-hardened indices parse (the path syntax allows them); deriveEd25519 refuses them.
 */
export function parsePath(text: string): number[] {
  if (typeof text !== 'string' || text.length > MAX_PATH_TEXT) {
    throw new VaultError('INVALID_INPUT', `a derivation path is text of at most ${MAX_PATH_TEXT} characters`);
  }
  const parts = text.trim().split('/');
  if (parts[0] !== 'm') throw new VaultError('INVALID_INPUT', `derivation path "${text}" must start with "m", e.g. m/74'/0'/0'/0'`);
  return parts.slice(1).map((part) => {
    const match = /^(0|[1-9][0-9]{0,9})(['hH]?)$/u.exec(part);
    if (!match) throw new VaultError('INVALID_INPUT', `derivation path "${text}": "${part}" is not an index like 0' or 0h`);
    const index = Number(match[1]);
    if (index >= HARDENED) throw new VaultError('INVALID_INPUT', `derivation path "${text}": index ${index} is above 2^31-1`);
    return match[2] ? index + HARDENED : index;
  });
}

/** The canonical text of a path: `m/74'/0'/0'/0'`. */
export function formatPath(indices: readonly number[]): string {
  return ['m', ...indices.map((i) => (i >= HARDENED ? `${i - HARDENED}'` : String(i)))].join('/');
}

/** Parses (if text) and checks a path for Ed25519: every index a hardened 32-bit index. */
export function hardenedPath(path: string | readonly number[]): readonly number[] {
  const indices = typeof path === 'string' ? parsePath(path) : path;
  for (const index of indices) {
    if (!Number.isInteger(index) || index < 0 || index > 0xffffffff) {
      throw new VaultError('INVALID_INPUT', `derivation index ${index} is not a 32-bit unsigned integer`);
    }
    if (index < HARDENED) {
      throw new VaultError(
        'INVALID_INPUT',
        `SLIP-0010 Ed25519 allows only hardened indices: write ${index}' (or ${index}h) in ${formatPath(indices)}`,
      );
    }
  }
  return indices;
}

export interface Ed25519Key {
  /** The 32-byte Ed25519 secret seed (RFC 8032 private key). */
  privateKey: Uint8Array;
  /** The 32-byte Ed25519 public key (no SLIP-0010 `00` prefix). */
  publicKey: Uint8Array;
  chainCode: Uint8Array;
}

const MASTER_KEY = new TextEncoder().encode('ed25519 seed');

/**
 * SLIP-0010 Ed25519 derivation: master = HMAC-SHA512("ed25519 seed", seed), then per hardened index
 * I = HMAC-SHA512(chainCode, 0x00 ‖ key ‖ ser32(index)). Ed25519 has no public (non-hardened)
 * derivation, so a non-hardened index is an error rather than a silently different key.
 */
export function deriveEd25519(seed: Uint8Array, path: string | readonly number[]): Ed25519Key {
  if (!(seed instanceof Uint8Array) || seed.length < 16 || seed.length > 64) {
    throw new VaultError('INVALID_INPUT', 'a SLIP-0010 seed has 16 to 64 bytes');
  }
  const indices = hardenedPath(path);
  let I = hmac(sha512, MASTER_KEY, seed);
  let key = I.slice(0, 32);
  let chainCode = I.slice(32);
  I.fill(0);
  const data = new Uint8Array(37);
  const view = new DataView(data.buffer);
  for (const index of indices) {
    data[0] = 0;
    data.set(key, 1);
    view.setUint32(33, index, false);
    I = hmac(sha512, chainCode, data);
    key.fill(0);
    key = I.slice(0, 32);
    chainCode = I.slice(32);
    I.fill(0);
  }
  data.fill(0);
  return { privateKey: key, publicKey: ed25519.getPublicKey(key), chainCode };
}

// ------------------------------------------------------------------------------------- node key purposes

/** Where each of a node's keys lives (coin type 74'). See DESIGN.md, Identity and trust. */
export const KEY_PATHS = {
  identity: "m/74'/0'/0'/0'",
  sshHost: "m/74'/0'/1'/0'",
  /** At-rest encryption key version n; rotating = bumping n, old versions still decrypt. */
  atRest: (n: number): string => {
    if (!Number.isInteger(n) || n < 0 || n >= HARDENED) throw new VaultError('INVALID_INPUT', `key version ${n} is not an integer in 0..2^31-1`);
    return `m/74'/2'/0'/${n}'`;
  },
  messaging: "m/74'/3'/0'/0'",
} as const;

export interface X25519Key {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

/** The X25519 key pair of an Ed25519 key (Edwards→Montgomery, as libsodium's crypto_sign_ed25519_*_to_curve25519). */
export function x25519FromEd25519(key: Pick<Ed25519Key, 'privateKey' | 'publicKey'>): X25519Key {
  return {
    privateKey: ed25519.utils.toMontgomerySecret(key.privateKey),
    publicKey: ed25519.utils.toMontgomery(key.publicKey),
  };
}

export interface NodeKeys {
  nodeId: NodeId;
  /** `ed25519:<hex>` of the identity public key. */
  fingerprint: string;
  identity: Ed25519Key;
  sshHost: Ed25519Key;
  messaging: X25519Key;
}

export function nodeKeys(seed: Uint8Array): NodeKeys {
  const identity = deriveEd25519(seed, KEY_PATHS.identity);
  const messagingEd = deriveEd25519(seed, KEY_PATHS.messaging);
  const messaging = x25519FromEd25519(messagingEd);
  wipeKey(messagingEd);
  return {
    nodeId: nodeIdFromPublicKey(identity.publicKey),
    fingerprint: fingerprint(identity.publicKey),
    identity,
    sshHost: deriveEd25519(seed, KEY_PATHS.sshHost),
    messaging,
  };
}

/** Zeroes the secret parts of a derived key (the public key stays usable). */
export function wipeKey(key: { privateKey: Uint8Array; chainCode?: Uint8Array }): void {
  key.privateKey.fill(0);
  key.chainCode?.fill(0);
}
