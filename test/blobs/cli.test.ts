// `alknet blob get HASH --from ADDR [-o PATH]` through the real cli/bin.js: against a node started
// in-process (a file, a collection as a folder, several --from with a dead one first, NOT_FOUND),
// and against `alknet node` started from the CLI (so the built-in protocol list serves alknet/blobs).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, PASSPHRASE, content, projectRoot, startBlobNode, type BlobNode } from './fixtures.ts';

interface Run { code: number; stdout: string; stderr: string }

/** Runs cli/bin.js asynchronously (the in-process node must keep serving meanwhile). */
function alknet(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: projectRoot, env: { ...process.env, ...env }, timeout: 60_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}

describe('alknet blob get --from (cli/bin.js)', () => {
  let provider: BlobNode;
  let tmp: string;
  before(async () => {
    provider = await startBlobNode();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-blobs-cli-'));
  });
  after(async () => {
    await provider?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('fetches a file, trying each --from in turn', async () => {
    const data = content(300_000, 21);
    const hash = await provider.addBytes(data);
    const home = path.join(tmp, 'b1');
    const out = path.join(tmp, 'out.bin');
    // A first provider nobody listens on: the fetch goes on with the next one.
    const r = await alknet(['--home', home, 'blob', 'get', hash, '--from', `${provider.node.nodeId}@127.0.0.1:1`, '--from', provider.address, '-o', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '', 'no progress bar when stderr is not a TTY');
    assert.ok(fs.readFileSync(out).equals(Buffer.from(data)));
    const ls = await alknet(['--home', home, 'blob', 'ls', '--json']);
    const listed = JSON.parse(ls.stdout) as Array<{ hash: string; complete: boolean }>;
    assert.ok(listed.some((b) => b.hash === hash && b.complete), 'the blob is in the local store now');
  });

  it('writes a fetched collection as a folder', async () => {
    const dir = path.join(tmp, 'site');
    fs.mkdirSync(path.join(dir, 'img'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'index.html'), '<h1>hi</h1>');
    fs.writeFileSync(path.join(dir, 'img', 'pic.bin'), content(40_000, 9));
    const hash = await provider.addPath(dir);
    const out = path.join(tmp, 'site-copy');
    const r = await alknet(['--home', path.join(tmp, 'b2'), 'blob', 'get', hash, '--from', provider.address, '-o', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.readFileSync(path.join(out, 'index.html'), 'utf8'), '<h1>hi</h1>');
    assert.ok(fs.readFileSync(path.join(out, 'img', 'pic.bin')).equals(Buffer.from(content(40_000, 9))));
  });

  it('fails with one line naming NOT_FOUND for a hash no provider has', async () => {
    const r = await alknet(['--home', path.join(tmp, 'b3'), 'blob', 'get', 'cd'.repeat(32), '--from', provider.address]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /NOT_FOUND/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });
});

describe('alknet blob get --from against `alknet node`', () => {
  let tmp: string;
  let child: ChildProcess | undefined;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-blobs-clinode-'));
  });
  after(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('serves alknet/blobs as a built-in protocol', async () => {
    const env = { ALKNET_PASSPHRASE: PASSPHRASE };
    const homeA = path.join(tmp, 'a');
    const init = await alknet(['--home', homeA, 'init'], env);
    assert.equal(init.code, 0, init.stderr);
    const file = path.join(tmp, 'data.bin');
    fs.writeFileSync(file, content(70_000, 31));
    const added = await alknet(['--home', homeA, 'blob', 'add', file], env);
    assert.equal(added.code, 0, added.stderr);
    const hash = added.stdout.trim();

    const ready = path.join(tmp, 'ready.json');
    child = spawn(process.execPath, [BIN, '--home', homeA, 'node', '--listen', '127.0.0.1:0', '--ready-file', ready], {
      cwd: projectRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const deadline = Date.now() + 30_000;
    while (!fs.existsSync(ready)) {
      if (Date.now() > deadline || child.exitCode !== null) assert.fail(`node did not become ready: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const info = JSON.parse(fs.readFileSync(ready, 'utf8')) as { nodeId: string; tcp: string; alpns?: string[] };
    const out = path.join(tmp, 'out.bin');
    const r = await alknet(['--home', path.join(tmp, 'b'), 'blob', 'get', hash, '--from', `${info.nodeId}@${info.tcp}`, '-o', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(fs.readFileSync(out).equals(fs.readFileSync(file)));
  });
});
