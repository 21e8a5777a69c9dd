// Vault benchmark: one table, one run. Unlock time; SLIP-0010 derive + public key; Ed25519 sign and
// verify; AES-256-GCM on 1 MiB messages. Each crypto row puts @noble next to node:crypto, so the
// choice of node:crypto on hot paths (signing, bulk encryption) is checked on this machine.
// Run: node --import tsx bench/vault.ts
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { gcm } from '@noble/ciphers/aes.js';
import { deriveEd25519, HARDENED, KEY_PATHS, mnemonicToSeed } from '../actors/vault/keys.ts';
import { ed25519PrivateKeyObject, ed25519PublicKeyObject, rawEd25519PublicKey, signEd25519, verifyEd25519 } from '../actors/vault/signer.ts';
import { createVaultFile, DEFAULT_SCRYPT, openVaultFile } from '../actors/vault/vaultFile.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 1);

/** Runs fn repeatedly for about SECONDS; returns operations per second. */
function rate(fn: (i: number) => void): number {
  for (let i = 0; i < 20; i++) fn(i); // warm up
  const start = process.hrtime.bigint();
  const limit = BigInt(Math.round(SECONDS * 1e9));
  let n = 0;
  let elapsed = 0n;
  do {
    for (let k = 0; k < 10; k++) fn(n++);
    elapsed = process.hrtime.bigint() - start;
  } while (elapsed < limit);
  return n / (Number(elapsed) / 1e9);
}

const fmt = (x: number, unit: string): string => `${x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(1)} ${unit}`;

async function main(): Promise<void> {
  const rows: [string, string, string, string][] = [];
  const seed = mnemonicToSeed('legal winner thank year wave sausage worth useful legal winner thank yellow');

  // Unlock: scrypt at the default cost + BIP39 seed, as `alknet id` and the node pay it.
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-bench-vault-'));
  try {
    await createVaultFile(home, { passphrase: 'bench' });
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      (await openVaultFile(home, 'bench')).wipe();
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    rows.push([`unlock (scrypt N=2^${Math.log2(DEFAULT_SCRYPT.N)} r=${DEFAULT_SCRYPT.r} p=${DEFAULT_SCRYPT.p}, median of 3)`, '', fmt(times[1]!, 'ms'), 'node:crypto scrypt']);
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }

  // Derive + public key: the vault's deriveEd25519 (@noble HMAC + @noble public key) next to the same
  // computation on node:crypto alone (HMAC-SHA512 chain, public key via a KeyObject).
  const pathOf = (i: number): number[] => [74 + HARDENED, HARDENED, HARDENED, (i % HARDENED) + HARDENED];
  const deriveNoble = rate((i) => deriveEd25519(seed, pathOf(i)));
  const deriveNode = rate((i) => {
    let I = createHmac('sha512', 'ed25519 seed').update(seed).digest();
    for (const index of pathOf(i)) {
      const ser = Buffer.alloc(4);
      ser.writeUInt32BE(index);
      I = createHmac('sha512', I.subarray(32)).update(Buffer.concat([Buffer.alloc(1), I.subarray(0, 32), ser])).digest();
    }
    rawEd25519PublicKey(ed25519PrivateKeyObject(I.subarray(0, 32)));
  });
  rows.push(["derive m/74'/0'/0'/i' + public key", fmt(deriveNoble, '/s'), fmt(deriveNode, '/s'), `node ${(deriveNode / deriveNoble).toFixed(1)}x (derive is not hot: cached)`]);

  const key = deriveEd25519(seed, KEY_PATHS.identity);
  const keyObject = ed25519PrivateKeyObject(key.privateKey);
  const publicObject = ed25519PublicKeyObject(key.publicKey);
  const msg = randomBytes(64);
  const signNoble = rate(() => ed25519.sign(msg, key.privateKey));
  const signNode = rate(() => signEd25519(keyObject, msg));
  rows.push(['Ed25519 sign (64-byte message)', fmt(signNoble, '/s'), fmt(signNode, '/s'), `node ${(signNode / signNoble).toFixed(1)}x`]);
  const sig = signEd25519(keyObject, msg);
  const verifyNoble = rate(() => ed25519.verify(sig, msg, key.publicKey));
  const verifyNode = rate(() => verifyEd25519(publicObject, msg, sig));
  rows.push(['Ed25519 verify (64-byte message)', fmt(verifyNoble, '/s'), fmt(verifyNode, '/s'), `node ${(verifyNode / verifyNoble).toFixed(1)}x`]);

  const aesKey = randomBytes(32);
  const mib = randomBytes(1024 * 1024);
  const gcmNoble = rate(() => gcm(aesKey, randomBytes(12)).encrypt(mib));
  const gcmNode = rate(() => {
    const c = createCipheriv('aes-256-gcm', aesKey, randomBytes(12));
    c.update(mib);
    c.final();
    c.getAuthTag();
  });
  const mbs = (perSecond: number): number => (perSecond * mib.length) / 1e6;
  rows.push(['AES-256-GCM encrypt, 1 MiB messages', fmt(mbs(gcmNoble), 'MB/s'), fmt(mbs(gcmNode), 'MB/s'), `node ${(gcmNode / gcmNoble).toFixed(1)}x`]);

  const header: [string, string, string, string] = ['operation', '@noble', 'node:crypto', 'note'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(`vault benchmark — Node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, ${SECONDS}s per cell`);
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}

await main();
