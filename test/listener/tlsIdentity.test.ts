import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, sign, X509Certificate } from 'node:crypto';
import { Certificate, TBSCertificate, AlgorithmIdentifier, SubjectPublicKeyInfo, Name, Validity, Version } from '@peculiar/asn1-x509';
import { AsnConvert } from '@peculiar/asn1-schema';
import { makeCertificate, peerFromCertificate, ephemeralKeyPair, MAX_CERTIFICATE_BYTES } from '../../actors/listener/tlsIdentity.ts';
import { nodeIdFromPublicKey } from '../../actors/vault/nodeId.ts';
import { newKeys } from './fixtures.ts';

test('certificate round trip gives the key pair\'s node id', () => {
  const keys = newKeys();
  const { certDer, certPem, keyPem } = makeCertificate(keys);
  const peer = peerFromCertificate(certDer);
  assert.equal(peer.nodeId, nodeIdFromPublicKey(keys.publicKey));
  assert.deepEqual(peer.publicKey, keys.publicKey);
  assert.match(certPem, /^-----BEGIN CERTIFICATE-----/);
  assert.match(keyPem, /^-----BEGIN PRIVATE KEY-----/);
  // The PEM and DER are the same certificate, and node:crypto accepts the key as Ed25519.
  assert.deepEqual(new Uint8Array(new X509Certificate(certPem).raw), certDer);
  assert.equal(createPrivateKey(keyPem).asymmetricKeyType, 'ed25519');
  assert.match(new X509Certificate(certDer).subject, new RegExp(peer.nodeId));
});

test('two certificates of one key differ (fresh serial) but name the same node', () => {
  const keys = newKeys();
  const a = makeCertificate(keys);
  const b = makeCertificate(keys);
  assert.notDeepEqual(a.certDer, b.certDer);
  assert.equal(peerFromCertificate(a.certDer).nodeId, peerFromCertificate(b.certDer).nodeId);
});

test('a tampered certificate is rejected', () => {
  const { certDer } = makeCertificate(newKeys());
  // Last byte: inside the signature.
  const badSig = certDer.slice();
  badSig[badSig.length - 1] ^= 0x01;
  assert.throws(() => peerFromCertificate(badSig), /not signed by its own key/);
  // The subject public key: 32 bytes after the SPKI prefix inside the TBS.
  const spkiPrefix = Buffer.from('032100', 'hex');
  const at = Buffer.from(certDer).indexOf(spkiPrefix) + spkiPrefix.length;
  assert.ok(at > spkiPrefix.length);
  const badKey = certDer.slice();
  badKey[at + 5] ^= 0x40;
  assert.throws(() => peerFromCertificate(badKey));
});

test('a certificate with another key type is rejected', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ecdsaSha256 = new AlgorithmIdentifier({ algorithm: '1.2.840.10045.4.3.2' });
  const spki = AsnConvert.parse(publicKey.export({ format: 'der', type: 'spki' }), SubjectPublicKeyInfo);
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: new Uint8Array([1, 2, 3]).buffer,
    signature: ecdsaSha256,
    issuer: new Name(),
    subject: new Name(),
    validity: new Validity({ notBefore: new Date(Date.now() - 1000), notAfter: new Date(Date.now() + 86_400_000) }),
    subjectPublicKeyInfo: spki,
  });
  const sig = sign('sha256', Buffer.from(AsnConvert.serialize(tbs)), privateKey);
  const der = new Uint8Array(AsnConvert.serialize(new Certificate({
    tbsCertificate: tbs, signatureAlgorithm: ecdsaSha256, signatureValue: new Uint8Array(sig).buffer,
  })));
  assert.ok(new X509Certificate(der).verify(publicKey), 'fixture is a valid self-signed P-256 certificate');
  assert.throws(() => peerFromCertificate(der), /not Ed25519/);
});

test('garbage, empty and oversized input get one-line errors', () => {
  assert.throws(() => peerFromCertificate(new Uint8Array(0)), /empty/);
  assert.throws(() => peerFromCertificate(new Uint8Array([0x30, 0x03, 1, 2, 3])), /not a valid X\.509/);
  assert.throws(() => peerFromCertificate(new Uint8Array(MAX_CERTIFICATE_BYTES + 1)), /too large/);
  for (let i = 0; i < 200; i++) {
    const junk = new Uint8Array(1 + Math.floor(Math.random() * 400)).map(() => Math.floor(Math.random() * 256));
    assert.throws(() => peerFromCertificate(junk), (err: Error) => !err.message.includes('\n'));
  }
});

test('a key pair whose halves do not match is refused', () => {
  const a = newKeys();
  const b = newKeys();
  assert.throws(() => makeCertificate({ publicKey: a.publicKey, privateKey: b.privateKey }), /does not belong/);
});

test('an ephemeral key pair makes a working certificate', () => {
  const keys = ephemeralKeyPair();
  assert.equal(keys.privateKey.length, 32);
  assert.equal(peerFromCertificate(makeCertificate(keys).certDer).nodeId, nodeIdFromPublicKey(keys.publicKey));
});
