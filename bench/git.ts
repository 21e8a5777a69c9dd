// The git server next to `git daemon` (git's own C server, on a loopback port) in one run, with the
// stock git CLI as the client on both sides:
//   clone      `git clone` of a generated repository (2,000 commits, 200 files; --short: 300, 60)
//   push       a push of 50 new commits (each changing two files)
// alknet is reached through alknet/git (GIT_PROXY_COMMAND running `alknet connect`, which adds the
// CLI's start and a TLS handshake per git command) and through smart HTTP (git's own HTTP client,
// TLS). The node runs in this process; git daemon forks git's upload-pack/receive-pack per request.
// Each cell is the median of the runs (3; --short: 1). Never fails on timing.
//   npx tsx bench/git.ts [--short]
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { createVaultFile } from '../actors/vault/vaultFile.ts';
import { startNode } from '../supervisors/startNode.ts';
import { addPeer, addToken } from '../actors/peers/peersFile.ts';
import { nodeIdFromPublicKey } from '../actors/vault/nodeId.ts';
import { openVaultFile } from '../actors/vault/vaultFile.ts';
import { nodeKeys } from '../actors/vault/keys.ts';

const SHORT = process.argv.includes('--short');
const COMMITS = SHORT ? 300 : 2_000;
const FILES = SHORT ? 60 : 200;
const PUSH_COMMITS = 50;
const RUNS = SHORT ? 1 : 3;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = path.join(ROOT, 'cli', 'bin.js');
const PASSPHRASE = 'bench-git passphrase';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-bench-git-'));
const gitHome = path.join(work, 'githome');
fs.mkdirSync(gitHome);
const baseEnv: NodeJS.ProcessEnv = {
  PATH: process.env.PATH, HOME: gitHome, GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C',
  GIT_AUTHOR_NAME: 'Bench', GIT_AUTHOR_EMAIL: 'bench@example.test', GIT_COMMITTER_NAME: 'Bench', GIT_COMMITTER_EMAIL: 'bench@example.test',
  GIT_CONFIG_COUNT: '2', GIT_CONFIG_KEY_0: 'init.defaultBranch', GIT_CONFIG_VALUE_0: 'main', GIT_CONFIG_KEY_1: 'gc.auto', GIT_CONFIG_VALUE_1: '0',
};

function git(args: string[], cwd: string, env: NodeJS.ProcessEnv = baseEnv): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd, env, maxBuffer: 64 << 20 }, (err, _out, stderr) => {
      if (err) reject(new Error(`git ${args.join(' ')} failed: ${stderr}`));
      else resolve(performance.now() - started);
    });
  });
}

/** A repository of `commits` commits over `files` files in 10 folders, made with git fast-import. */
function generate(dir: string, commits: number, files: number, from = 0, branch = 'main', parent?: string): void {
  const lines: string[] = [];
  const contents = new Map<number, string>();
  for (let c = from; c < from + commits; c++) {
    lines.push(`commit refs/heads/${branch}`, `mark :${c + 1}`, `committer Bench <bench@example.test> ${1_700_000_000 + c * 60} +0000`);
    const msg = `commit ${c}: change files`;
    lines.push(`data ${Buffer.byteLength(msg)}`, msg);
    if (c === from && parent) lines.push(`from ${parent}`);
    const touched = c === 0 ? Array.from({ length: files }, (_, i) => i) : [c % files, (c * 7 + 3) % files];
    for (const f of touched) {
      const old = contents.get(f) ?? Array.from({ length: 40 }, (_, i) => `file ${f} line ${i}: ${'lorem ipsum dolor sit amet '.repeat(2)}`).join('\n');
      const next = `${old}\nchange ${c} of file ${f}`;
      contents.set(f, next);
      lines.push(`M 100644 inline dir${f % 10}/file${f}.txt`, `data ${Buffer.byteLength(next)}`, next);
    }
    lines.push('');
  }
  execFileSync('git', ['fast-import', '--quiet'], { cwd: dir, env: baseEnv, input: lines.join('\n') + '\n', maxBuffer: 256 << 20 });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => {
        c.destroy();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('git daemon did not start');
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  // The repository, and a bare copy git daemon serves.
  const src = path.join(work, 'src');
  execFileSync('git', ['init', '-q', src], { env: baseEnv });
  generate(src, COMMITS, FILES);
  execFileSync('git', ['checkout', '-q', 'main'], { cwd: src, env: baseEnv });
  execFileSync('git', ['gc', '-q'], { cwd: src, env: baseEnv });
  const served = path.join(work, 'daemon');
  fs.mkdirSync(served);
  execFileSync('git', ['clone', '-q', '--bare', src, path.join(served, 'repo.git')], { env: baseEnv });
  execFileSync('git', ['config', 'daemon.receivepack', 'true'], { cwd: path.join(served, 'repo.git'), env: baseEnv });
  const daemonPort = await freePort();
  const daemon: ChildProcess = spawn('git', ['daemon', '--reuseaddr', '--export-all', `--base-path=${served}`, `--port=${daemonPort}`, '--listen=127.0.0.1', '--enable=receive-pack', served], { env: baseEnv, stdio: 'ignore' });
  await waitPort(daemonPort);

  // The node, its repository filled by a push of the same history, and a client home it lists.
  const home = path.join(work, 'node');
  fs.mkdirSync(home);
  await createVaultFile(home, { passphrase: PASSPHRASE, kdf: { N: 1024, r: 8, p: 1 } });
  const clientHome = path.join(work, 'client');
  fs.mkdirSync(clientHome);
  await createVaultFile(clientHome, { passphrase: PASSPHRASE, kdf: { N: 1024, r: 8, p: 1 } });
  const secret = await openVaultFile(clientHome, PASSPHRASE);
  const clientId = nodeIdFromPublicKey(nodeKeys(secret.seed).identity.publicKey);
  secret.wipe();
  addPeer(home, clientId, { scopes: ['git'] });
  const token = addToken(home, 'bench', ['git']).token;
  const node = await startNode({ home, passphrase: PASSPHRASE, listen: '127.0.0.1:0', tensor: false, agent: false, logger: pino({ level: 'warn' }) });
  await node.bus.request('git', 'git.init', { name: 'repo' }, { deadlineMs: 10_000 });
  const proxy = path.join(work, 'proxy');
  fs.writeFileSync(proxy, `#!/bin/sh\nexec "${process.execPath}" "${BIN}" --home "${clientHome}" connect "$1@127.0.0.1:${node.tcpPort}" --alpn alknet/git\n`, { mode: 0o755 });
  const sides = [
    { name: 'git daemon', url: `git://127.0.0.1:${daemonPort}/repo.git`, env: baseEnv },
    { name: 'alknet/git', url: `git://${node.nodeId}/repo.git`, env: { ...baseEnv, GIT_PROXY_COMMAND: proxy, ALKNET_PASSPHRASE: PASSPHRASE } },
    {
      name: 'alknet https', url: `https://127.0.0.1:${node.tcpPort}/git/repo.git`,
      env: { ...baseEnv, GIT_CONFIG_COUNT: '4', GIT_CONFIG_KEY_2: 'http.sslVerify', GIT_CONFIG_VALUE_2: 'false', GIT_CONFIG_KEY_3: 'http.extraHeader', GIT_CONFIG_VALUE_3: `Authorization: Bearer ${token}` },
    },
  ];
  const initial = await git(['push', '-q', sides[1]!.url, 'main:main'], src, sides[1]!.env);

  const lsRemote: Record<string, number[]> = {};
  const clone: Record<string, number[]> = {};
  const push: Record<string, number[]> = {};
  let packBytes = 0;
  for (let run = 0; run < RUNS; run++) {
    for (const side of sides) {
      (lsRemote[side.name] ??= []).push(await git(['ls-remote', '-q', side.url], work, side.env));
      const dest = path.join(work, `clone-${run}-${side.name.replace(/\W+/g, '-')}`);
      (clone[side.name] ??= []).push(await git(['clone', '-q', '--no-checkout', side.url, dest], work, side.env));
      if (packBytes === 0) packBytes = fs.readdirSync(path.join(dest, '.git', 'objects', 'pack')).filter((n) => n.endsWith('.pack')).reduce((s, n) => s + fs.statSync(path.join(dest, '.git', 'objects', 'pack', n)).size, 0);
      // 50 new commits on top of main, pushed to a branch of their own (new objects every run).
      const branch = `bench-${run}-${sides.indexOf(side)}`;
      const tip = execFileSync('git', ['rev-parse', 'main'], { cwd: dest, env: baseEnv }).toString().trim();
      generate(dest, PUSH_COMMITS, FILES, COMMITS + 1000 * (run + 1) + sides.indexOf(side) * 100, branch, tip);
      (push[side.name] ??= []).push(await git(['push', '-q', side.url, `${branch}:refs/heads/${branch}`], dest, side.env));
    }
  }
  fs.rmSync(path.join(work, 'clone-0-git-daemon'), { recursive: true, force: true });

  const widths = [10, 10, 12, 17, 13];
  const row = (label: string, cells: number[]) => {
    const out = [...cells.map((c) => `${(c / 1000).toFixed(2)} s`), `${(cells[1]! / cells[0]!).toFixed(2)}×`, `${(cells[2]! / cells[0]!).toFixed(2)}×`];
    return `| ${label.padEnd(34)} | ${out.map((c, i) => c.padStart(widths[i]!)).join(' | ')} |`;
  };
  console.log(`\ngit: ${COMMITS} commits, ${FILES} files (pack ${(packBytes / 1024 / 1024).toFixed(1)} MiB); push of ${PUSH_COMMITS} commits; median of ${RUNS}`);
  console.log(`| ${'operation'.padEnd(34)} | git daemon | alknet/git | alknet https | alknet/git÷daemon | https÷daemon |`);
  console.log(`|${'-'.repeat(36)}|-----------:|-----------:|-------------:|------------------:|--------------:|`);
  const names = sides.map((s) => s.name);
  console.log(row('git ls-remote (cost per command)', names.map((n) => median(lsRemote[n]!))));
  console.log(row(`git clone (${COMMITS} commits)`, names.map((n) => median(clone[n]!))));
  console.log(row(`git push (${PUSH_COMMITS} commits)`, names.map((n) => median(push[n]!))));
  console.log(`(first push of the whole history to alknet/git: ${(initial / 1000).toFixed(2)} s)`);

  daemon.kill();
  await node.stop();
  fs.rmSync(work, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  fs.rmSync(work, { recursive: true, force: true });
  process.exit(1);
});
