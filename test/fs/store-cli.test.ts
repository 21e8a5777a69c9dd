// CLI: `alknet --home TMP blob add DIR`, `blob ls --json`, `blob get HASH -o out` give back identical
// bytes (a file, and a collection as a folder). Runs the real cli/bin.js when the blob commands are
// registered in cli/commands/index.ts, else the same commands in-process (and says so).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { commands } from '../../cli/commands/blob.ts';
import { CliError, UsageError } from '../../cli/command.ts';

const projectRoot = path.resolve(fileURLToPath(import.meta.url), '../../..');
const bin = path.join(projectRoot, 'cli/bin.js');

interface Run { code: number; stdout: string; stderr: string }

const registered = spawnSync(process.execPath, [bin, 'help'], { cwd: projectRoot, encoding: 'utf8', timeout: 30_000 }).stdout.includes('blob add');

/** Runs `alknet --home HOME ...args` through bin.js, or in-process when the commands are not registered yet. */
async function alknet(home: string, args: string[]): Promise<Run> {
  if (registered) {
    const r = spawnSync(process.execPath, [bin, '--home', home, ...args], { cwd: projectRoot, encoding: 'utf8', timeout: 60_000 });
    return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
  }
  const json = args.includes('--json');
  const rest = args.filter((a) => a !== '--json');
  const command = commands.find((c) => c.name.split(' ').every((w, i) => rest[i] === w))!;
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  let code = 0;
  try {
    code = (await command.run({
      argv: rest.slice(command.name.split(' ').length), home, json, env: process.env, stdin: new PassThrough(), stdout, stderr,
    })) ?? 0;
  } catch (e) {
    code = e instanceof UsageError ? 2 : e instanceof CliError ? 1 : 1;
    err += `alknet: ${(e as Error).message}\n`;
  }
  return { code, stdout: out, stderr: err };
}

describe(`alknet blob (${registered ? 'cli/bin.js' : 'in-process: add blob.ts to cli/commands/index.ts to run bin.js'})`, () => {
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-blobcli-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('add DIR, ls --json, get HASH -o gives identical bytes', async () => {
    const home = path.join(tmp, 'home');
    const dir = path.join(tmp, 'site');
    fs.mkdirSync(path.join(dir, 'img'), { recursive: true });
    const big = Buffer.alloc(100_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff;
    fs.writeFileSync(path.join(dir, 'index.html'), '<h1>hi</h1>');
    fs.writeFileSync(path.join(dir, 'img', 'big.bin'), big);
    fs.writeFileSync(path.join(dir, 'empty'), '');

    const added = await alknet(home, ['blob', 'add', dir]);
    assert.equal(added.code, 0, added.stderr);
    const collection = added.stdout.trim();
    assert.match(collection, /^[0-9a-f]{64}$/);
    assert.equal(added.stderr, '', 'no progress bar when stderr is not a TTY');

    const ls = await alknet(home, ['blob', 'ls', '--json']);
    assert.equal(ls.code, 0, ls.stderr);
    const listed = JSON.parse(ls.stdout) as Array<{ hash: string; size: number; complete: boolean; tags: string[] }>;
    assert.equal(listed.length, 4, 'three files and the collection');
    assert.deepEqual(listed.find((b) => b.hash === collection)?.tags, ['site']);
    const bigEntry = listed.find((b) => b.size === big.length);
    assert.ok(bigEntry?.complete);

    const out = path.join(tmp, 'big.out');
    const got = await alknet(home, ['blob', 'get', bigEntry!.hash, '-o', out]);
    assert.equal(got.code, 0, got.stderr);
    assert.ok(fs.readFileSync(out).equals(big));

    const outDir = path.join(tmp, 'site.out');
    const gotDir = await alknet(home, ['blob', 'get', collection, '-o', outDir]);
    assert.equal(gotDir.code, 0, gotDir.stderr);
    assert.ok(fs.readFileSync(path.join(outDir, 'img', 'big.bin')).equals(big));
    assert.equal(fs.readFileSync(path.join(outDir, 'index.html'), 'utf8'), '<h1>hi</h1>');
    assert.equal(fs.readFileSync(path.join(outDir, 'empty')).length, 0);

    const file = await alknet(home, ['blob', 'add', path.join(dir, 'index.html')]);
    assert.equal(file.code, 0, file.stderr);
    assert.equal(file.stdout.trim(), listed.find((b) => b.size === 11)?.hash, 'same content, same hash');

    const missing = await alknet(home, ['blob', 'get', 'ab'.repeat(32), '-o', path.join(tmp, 'x')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /not found/);
    const bad = await alknet(home, ['blob', 'get', 'nothex']);
    assert.equal(bad.code, 2);
  });
});
