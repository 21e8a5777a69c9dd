// A node's TLS identity: a self-signed X.509 certificate that carries its Ed25519 node key, and
// the reverse (a peer's certificate → its node id). There is no CA anywhere: a certificate is
// trusted for exactly the key it carries, and that key is the node's identity.
//
// The certificate is built with @peculiar/asn1-x509 (the ASN.1 schema under @peculiar/x509, which
// itself needs a Reflect polyfill we do not ship) and signed with node:crypto; verification uses
// node:crypto's X509Certificate.
import { Certificate, TBSCertificate, AlgorithmIdentifier, SubjectPublicKeyInfo, Name, Validity, Version,
  RelativeDistinguishedName, AttributeTypeAndValue, AttributeValue } from '@peculiar/asn1-x509';
import { AsnConvert } from '@peculiar/asn1-schema';
import { createECDH, createPrivateKey, createPublicKey, generateKeyPairSync, hkdfSync, randomBytes, sign, X509Certificate } from 'node:crypto';
// The Ed25519 KeyObject helpers are the vault's: one place knows the PKCS#8/SPKI layout.
import { ed25519PrivateKeyObject, rawEd25519PublicKey } from '../vault/signer.ts';
import { nodeIdFromPublicKey } from '../vault/nodeId.ts';
import type { NodeId } from '../vault/nodeId.ts';

export interface NodeKeyPair {
  publicKey: Uint8Array;
  /** The 32-byte Ed25519 seed. */
  privateKey: Uint8Array;
}

export interface TlsIdentity {
  certPem: string;
  /** PKCS#8 PEM of the private key: a secret, never log it. */
  keyPem: string;
  certDer: Uint8Array;
}

export interface VerifiedPeer {
  nodeId: NodeId;
  publicKey: Uint8Array;
}

/** Certificates larger than this are refused before parsing (ours are ~230 bytes). */
export const MAX_CERTIFICATE_BYTES = 16 * 1024;

const ED25519_OID = '1.3.101.112';
const COMMON_NAME_OID = '2.5.4.3';

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return new Uint8Array(bytes).buffer as ArrayBuffer; // a copy: Buffer#slice would be a view of a shared pool
}

/**
 * A fresh self-signed certificate for the key pair (random serial, valid from a day ago — to
 * tolerate clock skew — until 2099; peers do not check dates, the key is what counts).
 */
export function makeCertificate(keys: NodeKeyPair): TlsIdentity {
  const privateKey = ed25519PrivateKeyObject(keys.privateKey);
  const derived = rawEd25519PublicKey(privateKey);
  if (!Buffer.from(derived).equals(Buffer.from(keys.publicKey))) {
    throw new Error('the public key does not belong to the private key');
  }
  const algorithm = new AlgorithmIdentifier({ algorithm: ED25519_OID });
  const name = new Name([new RelativeDistinguishedName([new AttributeTypeAndValue({
    type: COMMON_NAME_OID, value: new AttributeValue({ utf8String: nodeIdFromPublicKey(keys.publicKey) }),
  })])]);
  // Positive serial: a leading 0x01 byte keeps the DER INTEGER's sign bit clear.
  const serial = new Uint8Array([1, ...randomBytes(15)]);
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: toArrayBuffer(serial),
    signature: algorithm,
    issuer: name,
    subject: name,
    validity: new Validity({ notBefore: new Date(Date.now() - 86_400_000), notAfter: new Date('2099-12-31T23:59:59Z') }),
    subjectPublicKeyInfo: new SubjectPublicKeyInfo({ algorithm, subjectPublicKey: toArrayBuffer(keys.publicKey) }),
  });
  const signature = sign(null, Buffer.from(AsnConvert.serialize(tbs)), privateKey);
  const cert = new Certificate({ tbsCertificate: tbs, signatureAlgorithm: algorithm, signatureValue: toArrayBuffer(signature) });
  const certDer = new Uint8Array(AsnConvert.serialize(cert));
  const certPem = new X509Certificate(certDer).toString();
  const keyPem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  return { certPem, keyPem, certDer };
}

/**
 * The verified identity in a peer's certificate. Throws a one-line reason unless the DER is one
 * X.509 certificate whose key is Ed25519 and whose signature verifies under that same key.
 */
export function peerFromCertificate(der: Uint8Array): VerifiedPeer {
  if (der.length === 0) throw new Error('peer certificate is empty');
  if (der.length > MAX_CERTIFICATE_BYTES) {
    throw new Error(`peer certificate is too large (${der.length} bytes, limit ${MAX_CERTIFICATE_BYTES})`);
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch {
    throw new Error('peer certificate is not a valid X.509 certificate');
  }
  const key = cert.publicKey;
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new Error(`peer certificate key is ${key.asymmetricKeyType ?? 'unknown'}, not Ed25519`);
  }
  if (!cert.verify(key)) throw new Error('peer certificate is not signed by its own key');
  const publicKey = rawEd25519PublicKey(key);
  return { nodeId: nodeIdFromPublicKey(publicKey), publicKey };
}

/**
 * A throwaway key pair, for a client that has no identity of its own but must show a certificate
 * (js-quic servers require one): to the server it is just an unknown peer.
 */
export function ephemeralKeyPair(): NodeKeyPair {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  if (typeof jwk.d !== 'string' || typeof jwk.x !== 'string') throw new Error('Ed25519 key export failed');
  return { privateKey: new Uint8Array(Buffer.from(jwk.d, 'base64url')), publicKey: new Uint8Array(Buffer.from(jwk.x, 'base64url')) };
}

/**
 * The certificate shown to TLS clients that cannot verify Ed25519 (web browsers: Chromium and
 * Firefox accept no Ed25519 certificate): an ECDSA P-256 key derived from the node key (HKDF, so
 * it is the same at every start and a browser can pin its SPKI), in a certificate whose issuer is
 * the node and which the node key signs, so anyone can check that it speaks for that node id. The
 * listener offers both and prefers Ed25519, so alknet clients, curl and OpenSSL get the node
 * certificate itself (the server's signature-algorithm order decides).
 */
export function browserCertificate(keys: NodeKeyPair): TlsIdentity {
  const nodeKey = ed25519PrivateKeyObject(keys.privateKey);
  // A P-256 scalar from the node seed: HKDF-SHA256, 48 bytes reduced mod n (bias below 2^-128).
  const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
  const okm = Buffer.from(hkdfSync('sha256', keys.privateKey, Buffer.alloc(0), 'alknet browser certificate P-256', 48));
  const d = (BigInt(`0x${okm.toString('hex')}`) % (N - 1n)) + 1n;
  const dBytes = Buffer.from(d.toString(16).padStart(64, '0'), 'hex');
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(dBytes);
  const point = ecdh.getPublicKey();
  const ecKey = createPrivateKey({
    key: { kty: 'EC', crv: 'P-256', d: dBytes.toString('base64url'), x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33, 65).toString('base64url') },
    format: 'jwk',
  });
  const spki = AsnConvert.parse(createPublicKey(ecKey).export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo);
  const ed25519 = new AlgorithmIdentifier({ algorithm: ED25519_OID });
  const nameOf = (text: string) => new Name([new RelativeDistinguishedName([new AttributeTypeAndValue({ type: COMMON_NAME_OID, value: new AttributeValue({ utf8String: text }) })])]);
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: toArrayBuffer(new Uint8Array([1, ...randomBytes(15)])),
    signature: ed25519,
    issuer: nameOf(nodeIdFromPublicKey(keys.publicKey)),
    subject: nameOf(nodeIdFromPublicKey(keys.publicKey)),
    validity: new Validity({ notBefore: new Date(Date.now() - 86_400_000), notAfter: new Date('2099-12-31T23:59:59Z') }),
    subjectPublicKeyInfo: spki,
  });
  const signature = sign(null, Buffer.from(AsnConvert.serialize(tbs)), nodeKey);
  const cert = new Certificate({ tbsCertificate: tbs, signatureAlgorithm: ed25519, signatureValue: toArrayBuffer(signature) });
  const certDer = new Uint8Array(AsnConvert.serialize(cert));
  return { certPem: new X509Certificate(certDer).toString(), keyPem: ecKey.export({ format: 'pem', type: 'pkcs8' }).toString(), certDer };
}
