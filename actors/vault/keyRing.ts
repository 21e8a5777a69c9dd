// The unlocked vault's working set: the seed (in its VaultSecret) plus caches of what the actor uses on
// hot paths (node:crypto KeyObjects for signing, at-rest AES keys, public keys per path). It is the
// only object holding secrets; it redacts itself in JSON/inspect (so inspector snapshots of the
// machine's context show nothing) and wipe() zeroes every byte array it owns. KeyObjects live in
// OpenSSL memory that JavaScript cannot zero; dropping them is all Node allows.
import { inspect } from 'node:util';
import type { KeyObject } from 'node:crypto';
import { x25519 } from '@noble/curves/ed25519.js';
import { VaultError } from './errors.ts';
import { deriveEd25519, formatPath, hardenedPath, KEY_PATHS, nodeKeys, wipeKey, type NodeKeys } from './keys.ts';
import { atRestKeyFromSeed, decryptAtRest, encryptAtRest, type AtRestEnvelope, type AtRestKeyring } from './atRest.ts';
import { ed25519PrivateKeyObject, ed25519PrivateKeyPem, signEd25519 } from './signer.ts';
import { openSshPrivateKey, openSshPublicKey } from './openssh.ts';
import type { VaultSecret } from './vaultFile.ts';

const MAX_CACHED = 64;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function remember<K, V>(cache: Map<K, V>, key: K, make: () => V): V {
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value as K);
  const value = make();
  cache.set(key, value);
  return value;
}

export class KeyRing implements AtRestKeyring {
  #secret: VaultSecret;
  #keys: NodeKeys;
  #signers = new Map<string, { key: KeyObject; publicKey: Uint8Array }>();
  #publicKeys = new Map<string, Uint8Array>();
  #atRest = new Map<number, Uint8Array>();
  readonly nodeId: string;

  constructor(secret: VaultSecret) {
    this.#secret = secret;
    this.#keys = nodeKeys(secret.seed);
    this.nodeId = this.#keys.nodeId;
  }

  get wiped(): boolean {
    return this.#secret.wiped;
  }

  identity(): { nodeId: string; publicKey: string; fingerprint: string; sshHostPublicKey: string; messagingPublicKey: string } {
    const k = this.#keys;
    return {
      nodeId: k.nodeId,
      publicKey: hex(k.identity.publicKey),
      fingerprint: k.fingerprint,
      sshHostPublicKey: hex(k.sshHost.publicKey),
      messagingPublicKey: hex(k.messaging.publicKey),
    };
  }

  /** Canonical path text; throws INVALID_INPUT for bad or non-hardened paths before any derivation. */
  static canonicalPath(path: string): string {
    return formatPath(hardenedPath(path));
  }

  publicKey(path: string): Uint8Array {
    const canonical = KeyRing.canonicalPath(path);
    return remember(this.#publicKeys, canonical, () => {
      const key = deriveEd25519(this.#secret.seed, canonical);
      wipeKey(key);
      return key.publicKey;
    });
  }

  sign(path: string, data: Uint8Array): { signature: Uint8Array; publicKey: Uint8Array } {
    const canonical = KeyRing.canonicalPath(path);
    const signer = remember(this.#signers, canonical, () => {
      const key = deriveEd25519(this.#secret.seed, canonical);
      const keyObject = ed25519PrivateKeyObject(key.privateKey);
      wipeKey(key);
      return { key: keyObject, publicKey: key.publicKey };
    });
    return { signature: signEd25519(signer.key, data), publicKey: signer.publicKey };
  }

  atRestKey(keyVersion: number): Uint8Array {
    if (this.wiped) throw new VaultError('INVALID_INPUT', 'the vault is locked');
    return remember(this.#atRest, keyVersion, () => atRestKeyFromSeed(this.#secret.seed, keyVersion));
  }

  encrypt(plaintext: Uint8Array, keyVersion: number, aad?: Uint8Array): AtRestEnvelope {
    return encryptAtRest(this, plaintext, { keyVersion, aad });
  }

  decrypt(envelope: AtRestEnvelope, aad?: Uint8Array): Uint8Array {
    return decryptAtRest(this, envelope, { aad });
  }

  /** Private: for the local listener only (the machine enforces that). */
  tlsIdentity(): { nodeId: string; publicKey: string; privateKey: Uint8Array; privateKeyPem: string } {
    const { identity } = this.#keys;
    return {
      nodeId: this.nodeId,
      publicKey: hex(identity.publicKey),
      privateKey: new Uint8Array(identity.privateKey),
      privateKeyPem: ed25519PrivateKeyPem(identity.privateKey),
    };
  }

  /** Private: for the local SSH server only. */
  sshHostKey(): { publicKey: string; privateKey: Uint8Array; privateKeyOpenSsh: string; publicKeyOpenSsh: string } {
    const { sshHost } = this.#keys;
    const comment = `alknet-${this.nodeId.slice(0, 12)}`;
    return {
      publicKey: hex(sshHost.publicKey),
      privateKey: new Uint8Array(sshHost.privateKey),
      privateKeyOpenSsh: openSshPrivateKey(sshHost.privateKey, sshHost.publicKey, comment),
      publicKeyOpenSsh: openSshPublicKey(sshHost.publicKey, comment),
    };
  }

  /** X25519(messaging private key, peer public key); refuses low-order peer keys. */
  sharedSecret(peerPublicKey: Uint8Array): Uint8Array {
    try {
      return x25519.getSharedSecret(this.#keys.messaging.privateKey, peerPublicKey);
    } catch {
      throw new VaultError('INVALID_INPUT', 'the peer X25519 public key is invalid (low order or malformed)');
    }
  }

  wipe(): void {
    wipeKey(this.#keys.identity);
    wipeKey(this.#keys.sshHost);
    this.#keys.messaging.privateKey.fill(0);
    for (const key of this.#atRest.values()) key.fill(0);
    this.#atRest.clear();
    this.#signers.clear();
    this.#publicKeys.clear();
    this.#secret.wipe();
  }

  toJSON(): string {
    return '[vault keys: redacted]';
  }

  [inspect.custom](): string {
    return 'KeyRing [redacted]';
  }
}

export { KEY_PATHS };
