// The vault's CLI end to end: spawns `node cli/bin.js --home <temp>` as a user would, and checks the
// keys it reports against an independent BIP39 + SLIP-0010 computation written here on node:crypto.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { createHmac, createPrivateKey, createPublicKey, pbkdf2Sync } from 'node:crypto';
import { projectRoot } from './vectors.ts';
import { publicKeyFromNodeId } from '../../actors/vault/nodeId.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-vaultcli-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshHome = (): string => path.join(root, `home${n++}`);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function alknet(args: string[], options: { env?: Record<string, string>; stdin?: string } = {}): Promise<Run> {
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ALKNET_')));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(projectRoot, 'cli/bin.js'), ...args], {
      cwd: projectRoot,
      env: { ...env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.stdin ?? '');
  });
}

// ---- an independent derivation: BIP39 seed by PBKDF2, SLIP-0010 by HMAC-SHA512, public key by OpenSSL

function bip39Seed(mnemonic: string, passphrase = ''): Buffer {
  return pbkdf2Sync(mnemonic.normalize('NFKD'), ('mnemonic' + passphrase).normalize('NFKD'), 2048, 64, 'sha512');
}

function slip10PublicKey(seed: Buffer, pathText: string): string {
  let I = createHmac('sha512', 'ed25519 seed').update(seed).digest();
  for (const part of pathText.split('/').slice(1)) {
    assert.match(part, /^\d+'$/);
    const index = Buffer.alloc(4);
    index.writeUInt32BE((parseInt(part, 10) + 0x80000000) >>> 0);
    I = createHmac('sha512', I.subarray(32)).update(Buffer.concat([Buffer.from([0]), I.subarray(0, 32), index])).digest();
  }
  const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), I.subarray(0, 32)]);
  const spki = createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })).export({ format: 'der', type: 'spki' });
  return spki.subarray(12).toString('hex');
}

const PASS = { ALKNET_PASSPHRASE: 'cli test passphrase' };
const KNOWN = 'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about';

function oneLine(run: Run, code: number): void {
  assert.equal(run.code, code, `exit ${run.code}: ${run.stderr}`);
  assert.ok(run.stderr.startsWith('alknet: '), run.stderr);
  assert.ok(!run.stderr.includes('    at '), 'no stack trace');
}

test('init prints a mnemonic once; id --json reports the keys that mnemonic gives', async () => {
  const home = freshHome();
  const init = await alknet(['--home', home, 'init'], { env: PASS });
  assert.equal(init.code, 0, init.stderr);
  const mnemonic = /^ {4}((?:[a-z]+ ){23}[a-z]+)$/m.exec(init.stdout)?.[1];
  assert.ok(mnemonic, `24 words in: ${init.stdout}`);
  assert.match(init.stdout, /Write these words down/);
  assert.equal(fs.statSync(path.join(home, 'vault.json')).mode & 0o777, 0o600);
  assert.ok(!fs.readFileSync(path.join(home, 'vault.json'), 'utf8').includes(mnemonic.split(' ')[0]! + ' '));

  const id = await alknet(['--home', home, 'id', '--json'], { env: PASS });
  assert.equal(id.code, 0, id.stderr);
  const info = JSON.parse(id.stdout) as Record<string, string>;
  assert.deepEqual(Object.keys(info).sort(), ['fingerprint', 'listen', 'nodeId', 'publicKey']);
  const expected = slip10PublicKey(bip39Seed(mnemonic), "m/74'/0'/0'/0'");
  assert.equal(info.publicKey, expected);
  assert.equal(Buffer.from(publicKeyFromNodeId(info.nodeId!)).toString('hex'), expected);
  assert.equal(info.fingerprint, `ed25519:${expected}`);
  assert.equal(info.listen, '127.0.0.1:4433');

  // The mnemonic is never printed again, and init refuses to overwrite.
  assert.ok(!id.stdout.includes(mnemonic.split(' ').slice(0, 3).join(' ')));
  const again = await alknet(['--home', home, 'init'], { env: PASS });
  oneLine(again, 1);
  assert.match(again.stderr, /already exists/);
});

test('init --recover from stdin gives the SLIP-0010 keys an independent implementation gives', async () => {
  const home = freshHome();
  const init = await alknet(['--home', home, 'init', '--recover', '--json'], { env: PASS, stdin: `  ${KNOWN.replaceAll(' ', '\n')}\n` });
  assert.equal(init.code, 0, init.stderr);
  const created = JSON.parse(init.stdout) as Record<string, string>;
  assert.equal(created.mnemonic, undefined, 'a restored mnemonic is not echoed');
  const seed = bip39Seed(KNOWN);
  assert.equal(created.publicKey, slip10PublicKey(seed, "m/74'/0'/0'/0'"));

  const paths = ["m/74'/0'/1'/0'", "m/74'/3'/0'/0'", "m/44'/501'/0'/0'"];
  const runs = await Promise.all(paths.map((p) => alknet(['--home', home, '--json', 'vault', 'derive', p.replaceAll("'", 'h')], { env: PASS })));
  runs.forEach((run, i) => {
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), { path: paths[i], publicKey: slip10PublicKey(seed, paths[i]!) });
  });
  const text = await alknet(['--home', home, 'vault', 'derive', "m/74'/0'/0'/0'"], { env: PASS });
  assert.equal(text.stdout.trim(), `m/74'/0'/0'/0' ${created.publicKey}`);
});

test('wrong passphrase, bad mnemonic, no passphrase source: exit 1 and one line', async () => {
  const home = freshHome();
  const file = path.join(root, `pass${n}`);
  fs.writeFileSync(file, 'from a file\nignored second line\n');
  assert.equal((await alknet(['--home', home, '--passphrase-file', file, 'init', '--recover'], { stdin: KNOWN })).code, 0);
  const [wrong, missing, badWord, noSource, noVault] = await Promise.all([
    alknet(['--home', home, 'id'], { env: { ALKNET_PASSPHRASE: 'wrong' } }),
    alknet(['--home', home, '--passphrase-file', path.join(root, 'absent'), 'id']),
    alknet(['--home', freshHome(), 'init', '--recover'], { env: PASS, stdin: KNOWN.replace('about', 'abuot') }),
    alknet(['--home', home, 'id']),
    alknet(['--home', freshHome(), 'id'], { env: PASS }),
  ]);
  oneLine(wrong, 1);
  assert.equal(wrong.stderr.trim().split('\n').length, 1);
  assert.match(wrong.stderr, /wrong passphrase/);
  oneLine(missing, 1);
  oneLine(badWord, 1);
  assert.match(badWord.stderr, /word 12 \("abuot"\) is not in the BIP39 English word list/);
  oneLine(noSource, 1);
  assert.match(noSource.stderr, /set ALKNET_PASSPHRASE, pass --passphrase-file F, or run on a terminal/);
  oneLine(noVault, 1);
  assert.match(noVault.stderr, /alknet init/);
  // The first line of the file was the passphrase.
  assert.equal((await alknet(['--home', home, '--passphrase-file', file, 'id'])).code, 0);
});

test('bad usage: exit 2 with the usage line', async () => {
  const home = freshHome();
  const runs = await Promise.all([
    alknet(['--home', home, 'vault', 'derive'], { env: PASS }),
    alknet(['--home', home, 'vault', 'derive', "m/74'/0'/0'/0"], { env: PASS }),
    alknet(['--home', home, 'vault', 'derive', 'x/1'], { env: PASS }),
    alknet(['--home', home, 'init', '--words', '13'], { env: PASS }),
    alknet(['--home', home, 'init', '--frobnicate'], { env: PASS }),
    alknet(['--home', home, 'id', 'extra'], { env: PASS }),
  ]);
  for (const run of runs) {
    oneLine(run, 2);
    assert.match(run.stderr, /\nusage: alknet /);
  }
  assert.match(runs[1]!.stderr, /only hardened/);
  assert.equal(fs.existsSync(path.join(home, 'vault.json')), false);
});

test('vault passwd changes the passphrase and no key', async () => {
  const home = freshHome();
  assert.equal((await alknet(['--home', home, 'init', '--recover'], { env: PASS, stdin: KNOWN })).code, 0);
  const before = JSON.parse((await alknet(['--home', home, 'id', '--json'], { env: PASS })).stdout) as Record<string, string>;
  const newFile = path.join(root, `new${n}`);
  fs.writeFileSync(newFile, 'brand new\n');
  const change = await alknet(['--home', home, 'vault', 'passwd', '--new-passphrase-file', newFile], { env: PASS });
  assert.equal(change.code, 0, change.stderr);
  const [old, fresh] = await Promise.all([
    alknet(['--home', home, 'id', '--json'], { env: PASS }),
    alknet(['--home', home, 'id', '--json'], { env: { ALKNET_PASSPHRASE: 'brand new' } }),
  ]);
  oneLine(old, 1);
  assert.equal(fresh.code, 0, fresh.stderr);
  assert.deepEqual(JSON.parse(fresh.stdout), before);
  const noNew = await alknet(['--home', home, 'vault', 'passwd'], { env: { ALKNET_PASSPHRASE: 'brand new' } });
  oneLine(noNew, 1);
  assert.match(noNew.stderr, /ALKNET_NEW_PASSPHRASE, pass --new-passphrase-file F/);
});
