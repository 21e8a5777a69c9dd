// `alknet blob` with the inputs users really have (issue 16, points 5, 6, 8, 11), through the real
// cli/bin.js: names with spaces and accents, files that must not be overwritten, a collection write
// that fails halfway, homes that do not exist, links, empty folders and executable bits, and a
// terminal that must not get raw binary.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { commands, progressBar } from '../../cli/commands/blob.ts';
import { CliError } from '../../cli/command.ts';
import { startLocalFs } from '../../actors/fs/local.ts';
import { encodeCollection } from '../../actors/fs/collection.ts';

const projectRoot = path.resolve(fileURLToPath(import.meta.url), '../../..');
const BIN = path.join(projectRoot, 'cli/bin.js');

interface Run { code: number; stdout: string; stderr: string }

function alknet(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: projectRoot, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}

/** Files left beside a target by an interrupted write (the temp folders/files are named .NAME.alknet-…). */
function leftovers(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => n.includes('.alknet-'));
}

describe('alknet blob, hardening', () => {
  let tmp: string;
  let home: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-blobcli-hard-'));
    home = path.join(tmp, 'home');
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('adds files and folders with spaces and non-ASCII names, and gives them back under those names', async () => {
    const src = path.join(tmp, 'my docs');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'my file.txt'), 'spaces');
    fs.writeFileSync(path.join(src, 'café.txt'), 'accent');
    const one = await alknet(['--home', home, 'blob', 'add', path.join(src, 'café.txt')]);
    assert.equal(one.code, 0, one.stderr);
    const folder = await alknet(['--home', home, 'blob', 'add', src]);
    assert.equal(folder.code, 0, folder.stderr);
    const ls = JSON.parse((await alknet(['--home', home, 'blob', 'ls', '--json'])).stdout) as Array<{ hash: string; tags: string[] }>;
    assert.ok(ls.some((b) => b.tags.includes('café.txt')), 'a file is tagged with its own name');
    assert.ok(ls.some((b) => b.hash === folder.stdout.trim() && b.tags.includes('my docs')), 'the folder too');
    const out = path.join(tmp, 'docs-out');
    const got = await alknet(['--home', home, 'blob', 'get', folder.stdout.trim(), '-o', out]);
    assert.equal(got.code, 0, got.stderr);
    assert.deepEqual(fs.readdirSync(out).sort(), ['café.txt', 'my file.txt']);
    assert.equal(fs.readFileSync(path.join(out, 'my file.txt'), 'utf8'), 'spaces');
  });

  it('skips a name holding a terminal escape, saying so with the escape shown harmlessly', async () => {
    const src = path.join(tmp, 'odd');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'ok.txt'), 'ok');
    fs.writeFileSync(path.join(src, 'red\x1b[31m.txt'), 'escape');
    const r = await alknet(['--home', home, 'blob', 'add', src]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /\x1b/, 'no raw escape reaches the terminal');
    assert.match(r.stderr, /skipped red\\x1b\[31m\.txt: name holds a control character/);
  });

  it('keeps links, empty folders and executable bits, and says what it skipped', async () => {
    const src = path.join(tmp, 'tree');
    fs.mkdirSync(path.join(src, 'empty'), { recursive: true });
    fs.mkdirSync(path.join(src, 'bin'));
    fs.writeFileSync(path.join(src, 'bin', 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
    fs.writeFileSync(path.join(src, 'plain.txt'), 'plain', { mode: 0o644 });
    fs.symlinkSync('plain.txt', path.join(src, 'link'));
    fs.symlinkSync('/nowhere/at/all', path.join(src, 'dangling'));
    fs.mkdirSync(path.join(src, 'sock'));
    const fifo = path.join(src, 'sock', 'pipe');
    const { execFileSync } = await import('node:child_process');
    execFileSync('mkfifo', [fifo]);
    const added = await alknet(['--home', home, 'blob', 'add', src, '--json']);
    assert.equal(added.code, 0, added.stderr);
    const summary = JSON.parse(added.stdout) as { files: number; links: number; dirs: number; skipped: number };
    assert.deepEqual({ files: summary.files, links: summary.links, skipped: summary.skipped }, { files: 2, links: 2, skipped: 1 });
    assert.match(added.stderr, /skipped sock\/pipe: not a file, folder or link/);
    const out = path.join(tmp, 'tree-out');
    const got = await alknet(['--home', home, 'blob', 'get', JSON.parse(added.stdout).hash, '-o', out]);
    assert.equal(got.code, 0, got.stderr);
    assert.equal(fs.readlinkSync(path.join(out, 'link')), 'plain.txt');
    assert.equal(fs.readlinkSync(path.join(out, 'dangling')), '/nowhere/at/all');
    assert.ok(fs.statSync(path.join(out, 'empty')).isDirectory());
    assert.deepEqual(fs.readdirSync(path.join(out, 'empty')), []);
    assert.ok((fs.statSync(path.join(out, 'bin', 'run.sh')).mode & 0o100) !== 0, 'executable bit kept');
    assert.equal(fs.statSync(path.join(out, 'plain.txt')).mode & 0o111, 0, 'no executable bit invented');
  });

  it('never replaces an existing file without --force, into a folder or as -o FILE', async () => {
    const src = path.join(tmp, 'dots');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, '.bashrc'), 'from the collection');
    fs.writeFileSync(path.join(src, 'new.txt'), 'new');
    const hash = (await alknet(['--home', home, 'blob', 'add', src])).stdout.trim();
    const dest = path.join(tmp, 'user-home');
    fs.mkdirSync(dest);
    fs.writeFileSync(path.join(dest, '.bashrc'), 'mine');
    const refused = await alknet(['--home', home, 'blob', 'get', hash, '-o', dest]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /\.bashrc exists; use --force/);
    assert.equal(refused.stderr.trim().split('\n').length, 1);
    assert.equal(fs.readFileSync(path.join(dest, '.bashrc'), 'utf8'), 'mine', 'not replaced');
    assert.ok(!fs.existsSync(path.join(dest, 'new.txt')), 'nothing written when any entry conflicts');
    assert.deepEqual(leftovers(tmp), []);
    const forced = await alknet(['--home', home, 'blob', 'get', hash, '-o', dest, '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(fs.readFileSync(path.join(dest, '.bashrc'), 'utf8'), 'from the collection');
    assert.equal(fs.readFileSync(path.join(dest, 'new.txt'), 'utf8'), 'new');

    const single = (await alknet(['--home', home, 'blob', 'add', path.join(src, 'new.txt')])).stdout.trim();
    const file = path.join(tmp, 'existing.txt');
    fs.writeFileSync(file, 'keep');
    const again = await alknet(['--home', home, 'blob', 'get', single, '-o', file]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /exists; use --force/);
    assert.equal(fs.readFileSync(file, 'utf8'), 'keep');
    // -o EXISTING_DIR: the blob is written into it, under its tag (its file name when added).
    const into = path.join(tmp, 'into');
    fs.mkdirSync(into);
    const inDir = await alknet(['--home', home, 'blob', 'get', single, '-o', into]);
    assert.equal(inDir.code, 0, inDir.stderr);
    assert.equal(fs.readFileSync(path.join(into, 'new.txt'), 'utf8'), 'new');
  });

  it('leaves no half-written folder when a collection write fails midway', async () => {
    // A collection whose second entry's name is too long for the file system: the first is
    // written, the second fails (ENAMETOOLONG).
    const local = startLocalFs(home);
    let hash: string;
    try {
      const a = await local.bus.request('fs', 'fs.addBytes', { bytes: new TextEncoder().encode('first') });
      const bytes = encodeCollection([{ name: 'a.txt', hash: a.hash }, { name: `z${'x'.repeat(300)}`, hash: a.hash }]);
      hash = (await local.bus.request('fs', 'fs.addBytes', { bytes, tag: 'too-long' })).hash;
    } finally {
      await local.stop();
    }
    const parent = path.join(tmp, 'fail-parent');
    fs.mkdirSync(parent);
    const r = await alknet(['--home', home, 'blob', 'get', hash, '-o', path.join(parent, 'site')]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.deepEqual(fs.readdirSync(parent), [], 'neither the target nor a temp folder is left');
  });

  it('says one line for a home that does not exist, creates none, and never spins on /proc', async () => {
    const missing = path.join(tmp, 'nonexistent', 'x');
    const ls = await alknet(['--home', missing, 'blob', 'ls']);
    assert.equal(ls.code, 1);
    assert.match(ls.stderr, /no home folder/);
    assert.equal(ls.stderr.trim().split('\n').length, 1);
    assert.ok(!fs.existsSync(path.join(tmp, 'nonexistent')), 'a read-only command creates no home');
    // Under /proc a recursive mkdir never returned (100 % CPU); execFile's timeout would end it.
    const proc = await alknet(['--home', '/proc/nope', 'blob', 'ls']);
    assert.equal(proc.code, 1, proc.stderr);
    assert.equal(proc.stderr.trim().split('\n').length, 1, proc.stderr);
    const get = await alknet(['--home', missing, 'blob', 'get', 'ab'.repeat(32), '-o', path.join(tmp, 'nothing')]);
    assert.equal(get.code, 1);
    assert.ok(!fs.existsSync(path.join(tmp, 'nonexistent')));
  });

  it('shows text on a terminal but refuses binary there (one line), and pipes anything', async () => {
    const local = startLocalFs(home);
    let text: string;
    let binary: string;
    try {
      text = (await local.bus.request('fs', 'fs.addBytes', { bytes: new TextEncoder().encode('hello, terminal\n') })).hash;
      binary = (await local.bus.request('fs', 'fs.addBytes', { bytes: Uint8Array.from([0x1b, 0x5b, 0x32, 0x4a, 0, 1, 2, 0xff]) })).hash;
    } finally {
      await local.stop();
    }
    const run = async (hash: string, tty: boolean): Promise<{ out: Buffer; error?: Error }> => {
      const stdout = Object.assign(new PassThrough(), { isTTY: tty });
      const stderr = Object.assign(new PassThrough(), { isTTY: false });
      const parts: Buffer[] = [];
      stdout.on('data', (c: Buffer) => parts.push(c));
      const get = commands.find((c) => c.name === 'blob get')!;
      try {
        await get.run({ argv: [hash], home, json: false, env: process.env, stdin: new PassThrough(), stdout, stderr });
        return { out: Buffer.concat(parts) };
      } catch (error) {
        return { out: Buffer.concat(parts), error: error as Error };
      }
    };
    assert.equal((await run(text, true)).out.toString(), 'hello, terminal\n');
    const refused = await run(binary, true);
    assert.ok(refused.error instanceof CliError, String(refused.error));
    assert.match(refused.error!.message, /not text; not shown on a terminal/);
    assert.equal(refused.out.length, 0, 'not one byte of it reached the terminal');
    assert.equal((await run(binary, false)).out.length, 8, 'a pipe gets the bytes');
  });
});

describe('progress bar', () => {
  it('shows the rate and the time left on a terminal, nothing elsewhere', () => {
    const tty = Object.assign(new PassThrough(), { isTTY: true });
    let text = '';
    tty.on('data', (c: Buffer) => (text += c.toString()));
    let now = 0;
    const bar = progressBar(tty, () => now);
    now = 2000;
    bar.update(4 * 1024 * 1024, 8 * 1024 * 1024);
    bar.done();
    assert.match(text, /4\.0 MiB \/ 8\.0 MiB {2}2\.0 MiB\/s {2}ETA 0:02/);
    const pipe = Object.assign(new PassThrough(), { isTTY: false });
    let none = '';
    pipe.on('data', (c: Buffer) => (none += c.toString()));
    const quiet = progressBar(pipe, () => now);
    quiet.update(1, 2);
    quiet.done();
    assert.equal(none, '');
  });
});
