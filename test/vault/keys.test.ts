import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, diffieHellman, createPrivateKey, createPublicKey } from 'node:crypto';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import {
  checkMnemonic,
  deriveEd25519,
  formatPath,
  generateMnemonic,
  HARDENED,
  KEY_PATHS,
  mnemonicEntropy,
  mnemonicFromEntropy,
  mnemonicToSeed,
  nodeKeys,
  parsePath,
  x25519FromEd25519,
} from '../../actors/vault/keys.ts';
import { isVaultError } from '../../actors/vault/errors.ts';
import { ed25519PrivateKeyObject, rawEd25519PublicKey, signEd25519, verifyEd25519 } from '../../actors/vault/signer.ts';
import { fingerprint, publicKeyFromNodeId } from '../../actors/vault/nodeId.ts';
import { requireVectors } from '../support/vectors.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

type Bip39Vectors = { english: [string, string, string, string][] };
const bip39 = requireVectors<Bip39Vectors>('bip39-english.json');

test('BIP39 English vectors: entropy → mnemonic → seed ("TREZOR"), every vector', { skip: bip39.skip }, () => {
  const { english } = bip39.value;
  assert.ok(english.length >= 24);
  for (const [entropy, mnemonic, seed] of english) {
    assert.equal(mnemonicFromEntropy(unhex(entropy)), mnemonic);
    assert.equal(hex(mnemonicEntropy(mnemonic)), entropy);
    assert.equal(checkMnemonic(mnemonic), mnemonic);
    assert.equal(hex(mnemonicToSeed(mnemonic, 'TREZOR')), seed);
  }
});

type Slip10Vectors = { vectors: { seed: string; chains: { path: string; chainCode: string; private: string; public: string }[] }[] };
const slip10 = requireVectors<Slip10Vectors>('slip10-ed25519.json');

test('SLIP-0010 Ed25519 vectors 1 and 2, every level', { skip: slip10.skip }, () => {
  const { vectors } = slip10.value;
  assert.equal(vectors.length, 2);
  let levels = 0;
  for (const { seed, chains } of vectors) {
    for (const chain of chains) {
      const key = deriveEd25519(unhex(seed), chain.path);
      assert.equal(hex(key.chainCode), chain.chainCode, chain.path);
      assert.equal(hex(key.privateKey), chain.private, chain.path);
      assert.equal('00' + hex(key.publicKey), chain.public, chain.path);
      levels++;
    }
  }
  assert.equal(levels, 12);
});

test('mnemonic errors name the bad word, the count or the checksum', () => {
  const good = 'legal winner thank year wave sausage worth useful legal winner thank yellow';
  assert.throws(() => checkMnemonic(good.replace('wave', 'wavy')), (e: unknown) => isVaultError(e, 'INVALID_INPUT') && /word 5 \("wavy"\)/.test((e as Error).message));
  assert.throws(() => checkMnemonic(good.replace('yellow', 'year')), /checksum/);
  assert.throws(() => checkMnemonic('legal winner thank'), /this one has 3/);
  assert.throws(() => checkMnemonic(''), /this one has 0/);
  // Spacing and case are normalized, not errors.
  assert.equal(checkMnemonic(`  ${good.toUpperCase().replaceAll(' ', '\n  ')} `), good);
});

test('generateMnemonic gives valid 12/24-word mnemonics and refuses other sizes', () => {
  assert.equal(checkMnemonic(generateMnemonic(12)).split(' ').length, 12);
  assert.equal(checkMnemonic(generateMnemonic(24)).split(' ').length, 24);
  assert.notEqual(generateMnemonic(12), generateMnemonic(12));
  assert.throws(() => generateMnemonic(18 as 12), /12 or 24/);
});

test("path parser: ' and h are the same, bad text and non-hardened Ed25519 indices are clear errors", () => {
  assert.deepEqual(parsePath("m/74'/0'/0'/0'"), [74 + HARDENED, HARDENED, HARDENED, HARDENED]);
  assert.deepEqual(parsePath('m/74h/0h/0H/0h'), parsePath("m/74'/0'/0'/0'"));
  assert.deepEqual(parsePath('m'), []);
  assert.equal(formatPath(parsePath('m/74h/2h/0h/7h')), "m/74'/2'/0'/7'");
  assert.deepEqual(parsePath('m/1/2'), [1, 2]);
  for (const bad of ['', '74/0', 'm/', 'm//1', 'm/-1', 'm/01', "m/2147483648'", 'm/x', "m/1''", 'm/'.padEnd(300, '1')]) {
    assert.throws(() => parsePath(bad), (e: unknown) => isVaultError(e, 'INVALID_INPUT'), bad);
  }
  const seed = new Uint8Array(64).fill(7);
  assert.throws(() => deriveEd25519(seed, "m/74'/0"), /only hardened indices: write 0' \(or 0h\)/);
  assert.throws(() => deriveEd25519(new Uint8Array(8), 'm'), /16 to 64 bytes/);
});

// An independent SLIP-0010 written against node:crypto HMAC-SHA512 (not @noble), for the node paths.
function nodeSlip10(seed: Uint8Array, path: number[]): Buffer {
  let I = createHmac('sha512', 'ed25519 seed').update(seed).digest();
  for (const index of path) {
    const ser = Buffer.alloc(4);
    ser.writeUInt32BE(index);
    I = createHmac('sha512', I.subarray(32)).update(Buffer.concat([Buffer.alloc(1), I.subarray(0, 32), ser])).digest();
  }
  return I.subarray(0, 32);
}

test('node key purposes sit at the DESIGN paths and agree with an independent derivation', () => {
  const seed = mnemonicToSeed('abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about');
  const keys = nodeKeys(seed);
  const identityPriv = nodeSlip10(seed, parsePath("m/74'/0'/0'/0'"));
  assert.equal(hex(keys.identity.privateKey), identityPriv.toString('hex'));
  assert.equal(hex(keys.identity.publicKey), hex(rawEd25519PublicKey(ed25519PrivateKeyObject(identityPriv))));
  assert.equal(hex(keys.sshHost.privateKey), nodeSlip10(seed, parsePath("m/74'/0'/1'/0'")).toString('hex'));
  assert.equal(KEY_PATHS.atRest(3), "m/74'/2'/0'/3'");
  assert.equal(keys.nodeId.length, 52);
  assert.deepEqual(publicKeyFromNodeId(keys.nodeId), keys.identity.publicKey);
  assert.equal(keys.fingerprint, fingerprint(keys.identity.publicKey));
  assert.notEqual(hex(keys.identity.publicKey), hex(keys.sshHost.publicKey));
});

test('X25519 messaging key: noble conversion agrees with node:crypto X25519 key agreement', () => {
  const seed = mnemonicToSeed(generateMnemonic(12));
  const mine = nodeKeys(seed).messaging;
  assert.equal(hex(x25519.getPublicKey(mine.privateKey)), hex(mine.publicKey));
  const theirs = x25519FromEd25519(deriveEd25519(mnemonicToSeed(generateMnemonic(12)), KEY_PATHS.messaging));
  const nodeKey = (priv: Uint8Array) =>
    createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), priv]), format: 'der', type: 'pkcs8' });
  const nodePub = (pub: Uint8Array) =>
    createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), pub]), format: 'der', type: 'spki' });
  const viaNode = diffieHellman({ privateKey: nodeKey(mine.privateKey), publicKey: nodePub(theirs.publicKey) });
  const viaNoble = x25519.getSharedSecret(theirs.privateKey, mine.publicKey);
  assert.equal(viaNode.toString('hex'), hex(viaNoble));
});

test('Ed25519: node:crypto and @noble/curves give the same public key and signature bytes', () => {
  const key = deriveEd25519(mnemonicToSeed(generateMnemonic(24)), KEY_PATHS.identity);
  const keyObject = ed25519PrivateKeyObject(key.privateKey);
  assert.equal(hex(rawEd25519PublicKey(keyObject)), hex(key.publicKey));
  for (const size of [0, 1, 64, 1000]) {
    const data = new Uint8Array(size).map((_, i) => i * 31);
    const sigNode = signEd25519(keyObject, data);
    const sigNoble = ed25519.sign(data, key.privateKey);
    assert.equal(hex(sigNode), hex(sigNoble));
    assert.ok(verifyEd25519(key.publicKey, data, sigNode));
    assert.ok(ed25519.verify(sigNode, data, key.publicKey));
    const bad = sigNode.slice();
    bad[0]! ^= 1;
    assert.equal(verifyEd25519(key.publicKey, data, bad), false);
  }
});
