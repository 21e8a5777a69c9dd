import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { gcm } from '@noble/ciphers/aes.js';
import { atRestKeyFromSeed, decryptAtRest, encryptAtRest, parseEnvelope } from '../../actors/vault/atRest.ts';
import { deriveEd25519, KEY_PATHS, mnemonicToSeed } from '../../actors/vault/keys.ts';
import { isVaultError } from '../../actors/vault/errors.ts';
import { openSshFingerprint, openSshPrivateKey, openSshPublicKey } from '../../actors/vault/openssh.ts';
import { requireTool } from '../support/tools.ts';

const seed = mnemonicToSeed('legal winner thank year wave sausage worth useful legal winner thank yellow');

test('at-rest round trip, AAD binding, key rotation keeps old envelopes readable', () => {
  const data = new TextEncoder().encode('the blob index');
  const aad = new TextEncoder().encode('db/blobs');
  const v0 = encryptAtRest(seed, data, { keyVersion: 0, aad });
  assert.deepEqual(Object.keys(v0).sort(), ['data', 'iv', 'key_version']);
  assert.equal(Buffer.from(v0.iv, 'base64').length, 12);
  assert.deepEqual(decryptAtRest(seed, v0, { aad }), data);
  const v1 = encryptAtRest(seed, data, { keyVersion: 1 });
  assert.equal(v1.key_version, 1);
  assert.deepEqual(decryptAtRest(seed, v1), data);
  assert.deepEqual(decryptAtRest(seed, v0, { aad }), data, 'version 0 still decrypts after rotating to 1');
  // Fresh IV each time.
  assert.notEqual(encryptAtRest(seed, data, { keyVersion: 0 }).iv, encryptAtRest(seed, data, { keyVersion: 0 }).iv);
  // Wrong AAD, wrong version, flipped byte, other seed: DECRYPT_FAILED.
  const decryptFails = (f: () => unknown) => assert.throws(f, (e: unknown) => isVaultError(e, 'DECRYPT_FAILED'));
  decryptFails(() => decryptAtRest(seed, v0));
  decryptFails(() => decryptAtRest(seed, { ...v0, key_version: 1 }, { aad }));
  const flipped = Buffer.from(v0.data, 'base64');
  flipped[0]! ^= 1;
  decryptFails(() => decryptAtRest(seed, { ...v0, data: flipped.toString('base64') }, { aad }));
  decryptFails(() => decryptAtRest(mnemonicToSeed('abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about'), v0, { aad }));
  assert.deepEqual(decryptAtRest(seed, encryptAtRest(seed, new Uint8Array(0), { keyVersion: 5 })), new Uint8Array(0));
});

test('malformed envelopes are INVALID_INPUT with the field named', () => {
  const good = encryptAtRest(seed, new Uint8Array([1, 2, 3]), { keyVersion: 0 });
  const cases: [unknown, RegExp][] = [
    [null, /must be an object/],
    [{ ...good, key_version: -1 }, /key_version/],
    [{ ...good, key_version: 1.5 }, /key_version/],
    [{ ...good, iv: 'AAAA' }, /"iv" must be 12 bytes/],
    [{ ...good, iv: '!!!!' }, /"iv" must be base64/],
    [{ ...good, data: 'AAAA' }, /shorter than the GCM tag/],
    [{ ...good, data: 12 }, /"data" must be base64/],
  ];
  for (const [envelope, pattern] of cases) {
    assert.throws(() => parseEnvelope(envelope), (e: unknown) => isVaultError(e, 'INVALID_INPUT') && pattern.test((e as Error).message));
  }
  assert.throws(() => encryptAtRest(seed, new Uint8Array(1), { keyVersion: 2 ** 31 }), /key version/);
});

test('node:crypto and @noble/ciphers AES-256-GCM produce the same bytes', () => {
  const key = atRestKeyFromSeed(seed, 2);
  assert.deepEqual(key, deriveEd25519(seed, KEY_PATHS.atRest(2)).privateKey);
  for (const size of [0, 1, 15, 16, 17, 4096, 100_000]) {
    const data = new Uint8Array(size).map((_, i) => (i * 7) & 255);
    const aad = size % 2 ? new Uint8Array([9, 9]) : undefined;
    const env = encryptAtRest(seed, data, { keyVersion: 2, aad });
    const iv = Buffer.from(env.iv, 'base64');
    const viaNoble = gcm(key, iv, aad).encrypt(data);
    assert.equal(Buffer.from(viaNoble).toString('base64'), env.data, `size ${size}`);
    assert.deepEqual(gcm(key, iv, aad).decrypt(Buffer.from(env.data, 'base64')), data);
  }
});

test('OpenSSH encodings of the SSH host key are what ssh-keygen reads', (t) => {
  const key = deriveEd25519(seed, KEY_PATHS.sshHost);
  const pub = openSshPublicKey(key.publicKey, 'alknet-test');
  assert.match(pub, /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]+=* alknet-test$/);
  const pem = openSshPrivateKey(key.privateKey, key.publicKey, 'alknet-test');
  assert.equal(pem, openSshPrivateKey(key.privateKey, key.publicKey, 'alknet-test'), 'deterministic');
  // Missing: skipped here, failed under CI=true (reading `value` throws).
  const sshKeygen = requireTool('ssh-keygen', 'openssh-client');
  if (sshKeygen.skip !== false) {
    t.skip(sshKeygen.skip);
    return;
  }
  const keygen = sshKeygen.value;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-openssh-'));
  try {
    const file = path.join(dir, 'host_key');
    fs.writeFileSync(file, pem, { mode: 0o600 });
    const derived = spawnSync(keygen, ['-y', '-f', file], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(derived.status, 0, derived.stderr);
    assert.equal(derived.stdout.trim().split(' ').slice(0, 2).join(' '), pub.split(' ').slice(0, 2).join(' '));
    const fp = spawnSync(keygen, ['-l', '-f', file], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(fp.status, 0, fp.stderr);
    assert.ok(fp.stdout.includes(openSshFingerprint(key.publicKey)), fp.stdout);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
