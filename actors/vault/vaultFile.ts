// vault.json: the mnemonic's entropy (and the BIP39 passphrase, if any) sealed with AES-256-GCM under
// a key stretched from the user's passphrase with scrypt. The KDF name and parameters are recorded in
// the file, so they can be raised later without breaking old vaults.
//
// Distinct failures: a wrong passphrase is told apart from a tampered file by a passphrase check value
// (HMAC of the second half of the scrypt output); the header is the GCM associated data, so a change
// to any recorded parameter or the ciphertext fails authentication (TAMPERED) rather than decrypting.
import fs from 'node:fs';
import path from 'node:path';
import { inspect, promisify } from 'node:util';
import { createCipheriv, createDecipheriv, createHmac, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { VaultError } from './errors.ts';
import { checkMnemonic, generateMnemonic, mnemonicEntropy, mnemonicFromEntropy, mnemonicToSeed, type MnemonicWords } from './keys.ts';
import { sweepTempFiles, writeFileAtomic, type AtomicWriteOptions } from '../../lib/atomicFile.ts';

const scrypt = promisify(scryptCb) as (password: string | Uint8Array, salt: Uint8Array, keylen: number, options: ScryptOptions) => Promise<Buffer>;

export const VAULT_FILE = 'vault.json';
export const VAULT_VERSION = 1;
/** A vault file is a few hundred bytes; anything far larger is not one. */
const MAX_VAULT_BYTES = 64 * 1024;

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/**
 * ~0.31 s on the reference machine (AMD EPYC, 2 cores, Node 20), measured: N=2^16 r=8 p=1 took 0.175 s
 * (below the 0.2–0.5 s target), N=2^17 0.64 s (above). p=2 doubles the work at the same 64 MiB of memory.
 */
export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 16, r: 8, p: 2 };

interface VaultFileJson {
  version: number;
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: string };
  cipher: { name: 'aes-256-gcm'; iv: string };
  /** base64, 16 bytes: tells a wrong passphrase from a tampered file. */
  check: string;
  /** base64 of ciphertext ‖ GCM tag. */
  data: string;
}

export function vaultPath(home: string): string {
  return path.join(home, VAULT_FILE);
}

export function vaultExists(home: string): boolean {
  return fs.existsSync(vaultPath(home));
}

/**
 * The unlocked secret: the BIP39 seed, nothing else. Redacts itself in JSON and util.inspect so it
 * cannot leak through a log line or an inspector snapshot; wipe() zeroes it.
 */
export class VaultSecret {
  #seed: Uint8Array | null;

  constructor(seed: Uint8Array) {
    this.#seed = seed;
  }

  /** The 64-byte BIP39 seed. Throws once wiped. */
  get seed(): Uint8Array {
    if (!this.#seed) throw new VaultError('INVALID_INPUT', 'the vault secret was wiped: unlock the vault again');
    return this.#seed;
  }

  get wiped(): boolean {
    return this.#seed === null;
  }

  wipe(): void {
    this.#seed?.fill(0);
    this.#seed = null;
  }

  toJSON(): string {
    return '[vault secret: redacted]';
  }

  [inspect.custom](): string {
    return 'VaultSecret [redacted]';
  }
}

// ----------------------------------------------------------------------------------------- parameters

function checkScrypt(params: ScryptParams, fail: (why: string) => VaultError): ScryptParams {
  const { N, r, p } = params;
  const ok =
    Number.isInteger(N) && N >= 2 && N <= 2 ** 20 && (N & (N - 1)) === 0 &&
    Number.isInteger(r) && r >= 1 && r <= 32 &&
    Number.isInteger(p) && p >= 1 && p <= 16;
  if (!ok) throw fail(`scrypt parameters N=${N} r=${r} p=${p} are out of range (N a power of 2 up to 2^20, r ≤ 32, p ≤ 16)`);
  return { N, r, p };
}

function normalizePassphrase(passphrase: string): string {
  if (typeof passphrase !== 'string' || passphrase.length === 0) {
    throw new VaultError('INVALID_INPUT', 'the vault passphrase must not be empty');
  }
  return passphrase.normalize('NFKC');
}

/** 64 bytes: the AES key, then the key of the passphrase check value. */
async function stretch(passphrase: string, salt: Uint8Array, params: ScryptParams): Promise<{ key: Buffer; check: Buffer }> {
  const out = await scrypt(passphrase, salt, 64, { ...params, maxmem: 256 * params.N * params.r + 1024 * 1024 });
  const key = Buffer.from(out.subarray(0, 32));
  const check = createHmac('sha256', out.subarray(32)).update('alknet vault passphrase check v1').digest().subarray(0, 16);
  out.fill(0);
  return { key, check };
}

function headerAad(file: Omit<VaultFileJson, 'check' | 'data'>): Buffer {
  const { kdf, cipher } = file;
  return Buffer.from(['alknet-vault', file.version, kdf.name, kdf.N, kdf.r, kdf.p, kdf.salt, cipher.name, cipher.iv].join('|'));
}

// -------------------------------------------------------------------------------------------- payload

/** Sealed bytes: entropy length (1 byte), entropy, then the BIP39 passphrase as UTF-8. */
function encodePayload(entropy: Uint8Array, bip39Passphrase: string): Buffer {
  const pass = Buffer.from(bip39Passphrase.normalize('NFKD'), 'utf8');
  const out = Buffer.concat([Buffer.from([entropy.length]), entropy, pass]);
  pass.fill(0);
  return out;
}

function decodePayload(bytes: Uint8Array): { entropy: Uint8Array; bip39Passphrase: string } {
  const n = bytes[0] ?? 0;
  if (![16, 20, 24, 28, 32].includes(n) || bytes.length < 1 + n) {
    throw new VaultError('TAMPERED', 'vault.json decrypts to an unexpected payload: restore it from a backup or recover from the mnemonic');
  }
  // Copies (a Buffer's slice() is a view): the caller zeroes `bytes`.
  return { entropy: Uint8Array.from(bytes.subarray(1, 1 + n)), bip39Passphrase: Buffer.from(bytes.subarray(1 + n)).toString('utf8') };
}

// ---------------------------------------------------------------------------------------- seal / open

async function seal(entropy: Uint8Array, bip39Passphrase: string, passphrase: string, params: ScryptParams): Promise<string> {
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const header = {
    version: VAULT_VERSION,
    kdf: { name: 'scrypt' as const, ...params, salt: salt.toString('base64') },
    cipher: { name: 'aes-256-gcm' as const, iv: iv.toString('base64') },
  };
  const { key, check } = await stretch(passphrase, salt, params);
  const payload = encodePayload(entropy, bip39Passphrase);
  try {
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(headerAad(header));
    const data = Buffer.concat([cipher.update(payload), cipher.final(), cipher.getAuthTag()]);
    const file: VaultFileJson = { ...header, check: check.toString('base64'), data: data.toString('base64') };
    return JSON.stringify(file, null, 2) + '\n';
  } finally {
    key.fill(0);
    payload.fill(0);
  }
}

function tampered(file: string, why: string): VaultError {
  return new VaultError('TAMPERED', `${file} is damaged (${why}): restore it from a backup or run "alknet init --recover" with your mnemonic`);
}

function base64(file: string, value: unknown, name: string, bytes?: number): Buffer {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/u.test(value) || value.length % 4 !== 0) throw tampered(file, `"${name}" is not base64`);
  const out = Buffer.from(value, 'base64');
  if (bytes !== undefined && out.length !== bytes) throw tampered(file, `"${name}" is not ${bytes} bytes`);
  return out;
}

/** Reads and checks vault.json: existence, permissions, size, JSON shape, version. No crypto yet. */
function readVaultJson(home: string): { file: string; json: VaultFileJson } {
  const file = vaultPath(home);
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new VaultError('NOT_FOUND', `no vault at ${file}: create one with "alknet init" (or "alknet init --recover")`);
    if (code === 'EACCES') throw new VaultError('PERMISSIONS', `cannot read ${file}: permission denied; run alknet as the vault's owner`);
    throw new VaultError('NOT_FOUND', `cannot open ${file} (${code ?? 'error'})`);
  }
  let text: string;
  try {
    const stat = fs.fstatSync(fd);
    if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
      throw new VaultError(
        'PERMISSIONS',
        `${file} is accessible to other users (mode ${(stat.mode & 0o777).toString(8).padStart(4, '0')}): run "chmod 600 ${file}" and try again`,
      );
    }
    if (stat.size > MAX_VAULT_BYTES) throw tampered(file, `${stat.size} bytes is too large for a vault`);
    const buf = Buffer.alloc(stat.size);
    const n = stat.size === 0 ? 0 : fs.readSync(fd, buf, 0, stat.size, 0);
    text = buf.subarray(0, n).toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
  const trimmed = text.trimEnd();
  // A prefix of the JSON object (a torn or cut-off copy) never ends with its closing brace.
  if (!trimmed.endsWith('}')) {
    throw new VaultError('TRUNCATED', `${file} is truncated (${text.length} bytes): restore it from a backup or run "alknet init --recover" with your mnemonic`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(trimmed);
  } catch {
    throw tampered(file, 'not valid JSON');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw tampered(file, 'not a JSON object');
  const obj = raw as Record<string, unknown>;
  if (typeof obj.version !== 'number') throw tampered(file, 'no "version"');
  if (obj.version !== VAULT_VERSION) {
    throw new VaultError('UNKNOWN_VERSION', `${file} has format version ${obj.version}; this alknet reads version ${VAULT_VERSION}: use a matching alknet release`);
  }
  const kdf = obj.kdf as Record<string, unknown> | undefined;
  const cipher = obj.cipher as Record<string, unknown> | undefined;
  if (typeof kdf !== 'object' || kdf === null || typeof cipher !== 'object' || cipher === null) throw tampered(file, 'no "kdf" or "cipher"');
  if (kdf.name !== 'scrypt') throw new VaultError('UNKNOWN_VERSION', `${file} uses KDF "${String(kdf.name)}"; this alknet knows scrypt: use a matching alknet release`);
  if (cipher.name !== 'aes-256-gcm') throw new VaultError('UNKNOWN_VERSION', `${file} uses cipher "${String(cipher.name)}"; this alknet knows aes-256-gcm: use a matching alknet release`);
  const params = checkScrypt({ N: kdf.N as number, r: kdf.r as number, p: kdf.p as number }, (why) => tampered(file, why));
  base64(file, kdf.salt, 'kdf.salt', 16);
  base64(file, cipher.iv, 'cipher.iv', 12);
  base64(file, obj.check, 'check', 16);
  const data = base64(file, obj.data, 'data');
  if (data.length < 16 + 17) throw tampered(file, '"data" is too short');
  return {
    file,
    json: {
      version: VAULT_VERSION,
      kdf: { name: 'scrypt', ...params, salt: kdf.salt as string },
      cipher: { name: 'aes-256-gcm', iv: cipher.iv as string },
      check: obj.check as string,
      data: obj.data as string,
    },
  };
}

async function unseal(home: string, passphrase: string): Promise<{ entropy: Uint8Array; bip39Passphrase: string }> {
  const { file, json } = readVaultJson(home);
  const { key, check } = await stretch(normalizePassphrase(passphrase), Buffer.from(json.kdf.salt, 'base64'), json.kdf);
  try {
    if (!timingSafeEqual(check, Buffer.from(json.check, 'base64'))) {
      throw new VaultError('WRONG_PASSPHRASE', 'wrong passphrase for the vault: try again (ALKNET_PASSPHRASE, --passphrase-file or the prompt)');
    }
    const data = Buffer.from(json.data, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(json.cipher.iv, 'base64'));
    decipher.setAAD(headerAad(json));
    decipher.setAuthTag(data.subarray(data.length - 16));
    let payload: Buffer;
    try {
      payload = Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]);
    } catch {
      throw tampered(file, 'it does not authenticate');
    }
    try {
      return decodePayload(payload);
    } finally {
      payload.fill(0);
    }
  } finally {
    key.fill(0);
  }
}

// ------------------------------------------------------------------------------------------ public API

export interface CreateVaultOptions {
  passphrase: string;
  /** Restore from this mnemonic; otherwise a new one is generated. */
  mnemonic?: string;
  bip39Passphrase?: string;
  words?: MnemonicWords;
  /** scrypt cost; DEFAULT_SCRYPT unless given (tests pass a low cost explicitly). */
  kdf?: ScryptParams;
}

/** Creates vault.json (mode 0600) in `home`; refuses to replace an existing vault. Returns the mnemonic. */
export async function createVaultFile(home: string, options: CreateVaultOptions): Promise<{ mnemonic: string; file: string }> {
  const passphrase = normalizePassphrase(options.passphrase);
  const params = checkScrypt(options.kdf ?? DEFAULT_SCRYPT, (why) => new VaultError('INVALID_INPUT', why));
  const file = vaultPath(home);
  if (fs.existsSync(file)) throw new VaultError('EXISTS', `a vault already exists at ${file}: it was not changed (move it away first to create a new one)`);
  const mnemonic = options.mnemonic !== undefined ? checkMnemonic(options.mnemonic) : generateMnemonic(options.words ?? 24);
  const entropy = mnemonicEntropy(mnemonic);
  const text = await seal(entropy, options.bip39Passphrase ?? '', passphrase, params);
  entropy.fill(0);
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  sweepTempFiles(file);
  try {
    writeFileAtomic(file, text, { mode: 0o600, exclusive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new VaultError('EXISTS', `a vault already exists at ${file}: it was not changed`);
    throw err;
  }
  return { mnemonic, file };
}

/** Unlocks vault.json: checks it, stretches the passphrase, returns the seed in a redacting holder. */
export async function openVaultFile(home: string, passphrase: string): Promise<VaultSecret> {
  const { entropy, bip39Passphrase } = await unseal(home, passphrase);
  const mnemonic = mnemonicFromEntropy(entropy);
  entropy.fill(0);
  return new VaultSecret(mnemonicToSeed(mnemonic, bip39Passphrase));
}

export interface ChangePassphraseOptions {
  /** scrypt cost of the re-sealed file; DEFAULT_SCRYPT unless given. */
  kdf?: ScryptParams;
  /** Passed to the atomic write (tests simulate a crash before the rename). */
  atomic?: Pick<AtomicWriteOptions, 'beforeRename'>;
}

/** Re-seals the same entropy under a new passphrase (new salt and IV); no key changes. */
export async function changeVaultPassphrase(home: string, oldPassphrase: string, newPassphrase: string, options: ChangePassphraseOptions = {}): Promise<void> {
  const passphrase = normalizePassphrase(newPassphrase);
  const params = checkScrypt(options.kdf ?? DEFAULT_SCRYPT, (why) => new VaultError('INVALID_INPUT', why));
  const { entropy, bip39Passphrase } = await unseal(home, oldPassphrase);
  const text = await seal(entropy, bip39Passphrase, passphrase, params);
  entropy.fill(0);
  const file = vaultPath(home);
  sweepTempFiles(file);
  writeFileAtomic(file, text, { mode: 0o600, beforeRename: options.atomic?.beforeRename });
}

/** The recorded KDF of a vault (for `alknet vault` status output and tests). */
export function vaultKdf(home: string): { name: 'scrypt' } & ScryptParams {
  const { kdf } = readVaultJson(home).json;
  return { name: kdf.name, N: kdf.N, r: kdf.r, p: kdf.p };
}
