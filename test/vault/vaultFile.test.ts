import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { inspect } from 'node:util';
import {
  changeVaultPassphrase,
  createVaultFile,
  openVaultFile,
  vaultExists,
  vaultKdf,
  vaultPath,
  type ScryptParams,
} from '../../actors/vault/vaultFile.ts';
import { isVaultError, type VaultErrorCode } from '../../actors/vault/errors.ts';
import { mnemonicToSeed, nodeKeys } from '../../actors/vault/keys.ts';
import { projectRoot } from './vectors.ts';

// Low scrypt cost, passed explicitly: these tests unlock a dozen times.
const kdf: ScryptParams = { N: 1024, r: 8, p: 1 };
const MNEMONIC = 'legal winner thank year wave sausage worth useful legal winner thank yellow';
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-vaultfile-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshHome = (): string => path.join(root, `home${n++}`);

async function rejectsWith(p: Promise<unknown>, code: VaultErrorCode, pattern?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isVaultError(e, code), `expected ${code}, got ${String(e)}`);
    assert.ok(!(e as Error).message.includes('\n'), 'one line');
    if (pattern) assert.match((e as Error).message, pattern);
    return true;
  });
}

test('round trip: create, open, same seed as the mnemonic; file is 0600 and records the KDF', async () => {
  const home = freshHome();
  assert.equal(vaultExists(home), false);
  const { mnemonic } = await createVaultFile(home, { passphrase: 'correct horse', mnemonic: MNEMONIC, bip39Passphrase: 'TREZOR', kdf });
  assert.equal(mnemonic, MNEMONIC);
  assert.equal(vaultExists(home), true);
  assert.equal(fs.statSync(vaultPath(home)).mode & 0o777, 0o600);
  const text = fs.readFileSync(vaultPath(home), 'utf8');
  assert.ok(!text.includes('legal') && !text.includes('correct horse') && !text.includes('TREZOR'));
  assert.deepEqual(vaultKdf(home), { name: 'scrypt', ...kdf });
  const secret = await openVaultFile(home, 'correct horse');
  assert.deepEqual(secret.seed, mnemonicToSeed(MNEMONIC, 'TREZOR'));
  // The secret never prints.
  assert.ok(!JSON.stringify({ secret }).includes(Buffer.from(secret.seed).toString('hex').slice(0, 8)));
  assert.match(inspect(secret), /redacted/);
  secret.wipe();
  assert.equal(secret.wiped, true);
  assert.throws(() => secret.seed, /wiped/);
});

test('a new vault generates a mnemonic of the asked size; init refuses to overwrite', async () => {
  const home = freshHome();
  const { mnemonic } = await createVaultFile(home, { passphrase: 'pw', words: 12, kdf });
  assert.equal(mnemonic.split(' ').length, 12);
  const before = fs.readFileSync(vaultPath(home));
  await rejectsWith(createVaultFile(home, { passphrase: 'other', kdf }), 'EXISTS', /already exists/);
  assert.deepEqual(fs.readFileSync(vaultPath(home)), before);
  const secret = await openVaultFile(home, 'pw');
  assert.deepEqual(secret.seed, mnemonicToSeed(mnemonic));
});

test('wrong passphrase, missing vault, empty passphrase', async () => {
  const home = freshHome();
  await rejectsWith(openVaultFile(home, 'pw'), 'NOT_FOUND', /alknet init/);
  await createVaultFile(home, { passphrase: 'pw', mnemonic: MNEMONIC, kdf });
  await rejectsWith(openVaultFile(home, 'pW'), 'WRONG_PASSPHRASE', /wrong passphrase/);
  await rejectsWith(openVaultFile(home, ''), 'INVALID_INPUT');
  await rejectsWith(createVaultFile(freshHome(), { passphrase: '', kdf }), 'INVALID_INPUT');
});

test('a flipped byte anywhere in the sealed parts is TAMPERED (or a wrong passphrase for KDF inputs)', async () => {
  const home = freshHome();
  await createVaultFile(home, { passphrase: 'pw', mnemonic: MNEMONIC, kdf });
  const original = JSON.parse(fs.readFileSync(vaultPath(home), 'utf8')) as Record<string, Record<string, unknown> | string | number>;
  const flip = (b64: string): string => {
    const bytes = Buffer.from(b64, 'base64');
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    return bytes.toString('base64');
  };
  const write = (obj: unknown): void => fs.writeFileSync(vaultPath(home), JSON.stringify(obj), { mode: 0o600 });
  write({ ...original, data: flip(original.data as string) });
  await rejectsWith(openVaultFile(home, 'pw'), 'TAMPERED', /does not authenticate/);
  write({ ...original, cipher: { ...(original.cipher as object), iv: flip((original.cipher as Record<string, string>).iv!) } });
  await rejectsWith(openVaultFile(home, 'pw'), 'TAMPERED');
  write({ ...original, kdf: { ...(original.kdf as object), N: 2 ** 30 } });
  await rejectsWith(openVaultFile(home, 'pw'), 'TAMPERED', /out of range/);
  write({ ...original, data: 'not base64!' });
  await rejectsWith(openVaultFile(home, 'pw'), 'TAMPERED', /base64/);
  fs.writeFileSync(vaultPath(home), '{"version": 1, oops}', { mode: 0o600 });
  await rejectsWith(openVaultFile(home, 'pw'), 'TAMPERED', /JSON/);
  write({ ...original, version: 9 });
  await rejectsWith(openVaultFile(home, 'pw'), 'UNKNOWN_VERSION', /version 9/);
  write({ ...original, kdf: { ...(original.kdf as object), name: 'argon2id' } });
  await rejectsWith(openVaultFile(home, 'pw'), 'UNKNOWN_VERSION', /argon2id/);
  // A salt change is indistinguishable from a wrong passphrase (the check value depends on it).
  write({ ...original, kdf: { ...(original.kdf as object), salt: flip((original.kdf as Record<string, string>).salt!) } });
  await rejectsWith(openVaultFile(home, 'pw'), 'WRONG_PASSPHRASE');
  write(original);
  assert.ok(!(await openVaultFile(home, 'pw')).wiped);
});

test('a truncated file is TRUNCATED at every cut point', async () => {
  const home = freshHome();
  await createVaultFile(home, { passphrase: 'pw', mnemonic: MNEMONIC, kdf });
  const text = fs.readFileSync(vaultPath(home), 'utf8');
  for (const cut of [0, 1, 10, Math.floor(text.length / 2), text.length - 3]) {
    fs.writeFileSync(vaultPath(home), text.slice(0, cut), { mode: 0o600 });
    await rejectsWith(openVaultFile(home, 'pw'), 'TRUNCATED', /truncated/);
  }
});

test('a vault readable by others is refused with the chmod fix', { skip: process.platform === 'win32' ? 'POSIX modes' : false }, async () => {
  const home = freshHome();
  await createVaultFile(home, { passphrase: 'pw', mnemonic: MNEMONIC, kdf });
  fs.chmodSync(vaultPath(home), 0o644);
  await rejectsWith(openVaultFile(home, 'pw'), 'PERMISSIONS', new RegExp(`chmod 600 .*vault\\.json`));
  fs.chmodSync(vaultPath(home), 0o600);
  assert.ok(await openVaultFile(home, 'pw'));
});

test('changing the passphrase re-seals without changing any key', async () => {
  const home = freshHome();
  await createVaultFile(home, { passphrase: 'old', mnemonic: MNEMONIC, bip39Passphrase: 'extra', kdf });
  const before = fs.readFileSync(vaultPath(home), 'utf8');
  const seed = (await openVaultFile(home, 'old')).seed;
  assert.deepEqual(seed, mnemonicToSeed(MNEMONIC, 'extra'));
  await rejectsWith(changeVaultPassphrase(home, 'wrong', 'new', { kdf }), 'WRONG_PASSPHRASE');
  assert.equal(fs.readFileSync(vaultPath(home), 'utf8'), before);
  await changeVaultPassphrase(home, 'old', 'new', { kdf: { N: 2048, r: 8, p: 1 } });
  assert.notEqual(fs.readFileSync(vaultPath(home), 'utf8'), before);
  assert.equal(fs.statSync(vaultPath(home)).mode & 0o777, 0o600);
  await rejectsWith(openVaultFile(home, 'old'), 'WRONG_PASSPHRASE');
  const after = await openVaultFile(home, 'new');
  assert.deepEqual(after.seed, seed);
  assert.equal(nodeKeys(after.seed).nodeId, nodeKeys(seed).nodeId);
  assert.equal(vaultKdf(home).N, 2048);
});

test('a crash between the temp write and the rename leaves the old vault usable', async () => {
  const home = freshHome();
  await createVaultFile(home, { passphrase: 'old', mnemonic: MNEMONIC, kdf });
  const before = fs.readFileSync(vaultPath(home), 'utf8');
  // A real crash: a child process SIGKILLs itself right before the rename.
  const script = path.join(root, 'crash.mts');
  fs.writeFileSync(
    script,
    `import { changeVaultPassphrase } from ${JSON.stringify(path.join(projectRoot, 'actors/vault/vaultFile.ts'))};\n` +
      `void changeVaultPassphrase(${JSON.stringify(home)}, 'old', 'new', { kdf: { N: 1024, r: 8, p: 1 }, atomic: { beforeRename: () => process.kill(process.pid, 'SIGKILL') } });\n`,
  );
  const child = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: projectRoot, timeout: 30_000, encoding: 'utf8' });
  assert.equal(child.signal, 'SIGKILL', child.stderr);
  const leftovers = fs.readdirSync(home).filter((f) => f.startsWith('vault.json.tmp-'));
  assert.equal(leftovers.length, 1, 'the crashed write left its temp file');
  assert.equal(fs.readFileSync(vaultPath(home), 'utf8'), before);
  assert.deepEqual((await openVaultFile(home, 'old')).seed, mnemonicToSeed(MNEMONIC));
  // The next write sweeps the leftover.
  await changeVaultPassphrase(home, 'old', 'new', { kdf });
  assert.deepEqual(fs.readdirSync(home), ['vault.json']);
});

test('a failed write before the rename cleans its temp file and keeps the old vault', async () => {
  const home = freshHome();
  await createVaultFile(home, { passphrase: 'old', mnemonic: MNEMONIC, kdf });
  await assert.rejects(
    changeVaultPassphrase(home, 'old', 'new', { kdf, atomic: { beforeRename: () => { throw new Error('disk full'); } } }),
    /disk full/,
  );
  assert.deepEqual(fs.readdirSync(home), ['vault.json']);
  assert.ok(await openVaultFile(home, 'old'));
});
