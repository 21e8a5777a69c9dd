// Ed25519 on node:crypto (OpenSSL): ~15x faster than @noble/curves for signing, and the KeyObject
// form is what node:tls / X.509 code wants. Same bytes as @noble (RFC 8032 is deterministic); the
// tests check both agree.
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { VaultError } from './errors.ts';

// DER prefixes of PKCS#8 / SPKI for id-Ed25519 (RFC 8410); the 32 key bytes follow.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** A private KeyObject from a 32-byte Ed25519 seed. The temporary DER copy is zeroed. */
export function ed25519PrivateKeyObject(privateKey: Uint8Array): KeyObject {
  if (privateKey.length !== 32) throw new VaultError('INVALID_INPUT', `an Ed25519 private key has 32 bytes, got ${privateKey.length}`);
  const der = Buffer.concat([PKCS8_ED25519_PREFIX, privateKey]);
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    der.fill(0);
  }
}

export function ed25519PublicKeyObject(publicKey: Uint8Array): KeyObject {
  if (publicKey.length !== 32) throw new VaultError('INVALID_INPUT', `an Ed25519 public key has 32 bytes, got ${publicKey.length}`);
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, publicKey]), format: 'der', type: 'spki' });
}

/** The raw 32-byte public key of an Ed25519 KeyObject (private or public). */
export function rawEd25519PublicKey(key: KeyObject): Uint8Array {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const spki = pub.export({ format: 'der', type: 'spki' });
  return new Uint8Array(spki.subarray(SPKI_ED25519_PREFIX.length));
}

export function signEd25519(key: KeyObject, data: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, data, key));
}

export function verifyEd25519(publicKey: Uint8Array | KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  const key = publicKey instanceof Uint8Array ? ed25519PublicKeyObject(publicKey) : publicKey;
  if (signature.length !== 64) return false;
  return verify(null, data, key, signature);
}

/** PKCS#8 PEM of a private key, as node:tls and @peculiar/x509 accept it. */
export function ed25519PrivateKeyPem(privateKey: Uint8Array): string {
  return ed25519PrivateKeyObject(privateKey).export({ format: 'pem', type: 'pkcs8' }).toString();
}

export function ed25519PublicKeyPem(publicKey: Uint8Array): string {
  return ed25519PublicKeyObject(publicKey).export({ format: 'pem', type: 'spki' }).toString();
}
