// The git service by message (actors/git, no transport): what other nodes may ask (git.list and
// git.refs only), pushes to one repository serialized (the second of two planned against the same
// value is refused, never applied over the first), atomic pushes all or nothing, git's lock files
// respected, ref name clashes, deleting a packed ref, HEAD following the first branch of an empty
// repository, and the [git] table of config.toml.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startLocalGit, type LocalGit } from '../../actors/git/local.ts';
import { GIT_SYSTEM_ID } from '../../actors/git/messages.ts';
import { BusError } from '../../bus/errors.ts';
import { readGitConfig, DEFAULT_GIT_CONFIG } from '../../protocols/git/config.ts';
import { gitEnv } from './fixtures.ts';
import { requireTool } from '../support/tools.ts';

const gitTool = requireTool('git', 'git');
const ZERO = '0'.repeat(40);
let home: string;
let local: LocalGit;
let src: string;
const commits: string[] = [];
let pack: Buffer;
const env = gitEnv({});
const sh = (args: string[], cwd: string, input?: string) => execFileSync('git', args, { cwd, env, input, maxBuffer: 64 << 20 });

before(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-gitsvc-'));
  local = startLocalGit(home);
  src = path.join(home, 'src');
  sh(['init', '-q', src], home);
  for (let i = 0; i < 4; i++) {
    fs.writeFileSync(path.join(src, 'f.txt'), `version ${i}\n`);
    sh(['add', '.'], src);
    sh(['commit', '-q', '-m', `c${i}`], src);
    commits.push(sh(['rev-parse', 'HEAD'], src).toString().trim());
  }
  pack = sh(['pack-objects', '--stdout', '--revs', '-q'], src, 'HEAD\n');
});
after(async () => {
  await local?.stop();
  fs.rmSync(home, { recursive: true, force: true });
});

const req = <T>(type: string, payload: unknown, from?: unknown): Promise<T> =>
  local.bus.requestUntyped(GIT_SYSTEM_ID, type, payload, { deadlineMs: 30_000, ...(from ? { from: from as never } : {}) }) as Promise<T>;
type Receive = { unpack: string; results: Array<{ ref: string; ok: boolean; reason?: string }> };
const receive = (name: string, commands: Array<{ old: string; new: string; ref: string }>, withPack = true, atomic = false) =>
  req<Receive>('git.receive', { name, commands, pack: withPack ? [pack] : [], atomic });
const refOf = (name: string, ref: string) => {
  try {
    return sh(['rev-parse', '--verify', '-q', ref], path.join(home, 'git', `${name}.git`)).toString().trim();
  } catch {
    return null;
  }
};

test('other nodes may list repositories and read refs, nothing else', { skip: gitTool.skip }, async () => {
  await req('git.init', { name: 'svc' });
  const remote = { node: 'ybndrfg8ejkmcpqxot1uwisza345h769ybndrfg8ejkmcpqxot1u' };
  const listed = await req<{ repos: Array<{ name: string }> }>('git.list', {}, remote);
  assert.deepEqual(listed.repos.map((r) => r.name), ['svc']);
  await assert.rejects(req('git.receive', { name: 'svc', commands: [{ old: ZERO, new: commits[0], ref: 'refs/heads/x' }], pack: [], atomic: false }, remote),
    (err: BusError) => err.code === 'FORBIDDEN');
  await assert.rejects(req('git.init', { name: 'other' }, remote), (err: BusError) => err.code === 'FORBIDDEN');
  await assert.rejects(req('git.refs', { name: '../svc' }), (err: BusError) => err.code === 'INVALID_INPUT' && /not a repository name/.test(err.message));
  await assert.rejects(req('git.refs', { name: 'none' }), (err: BusError) => err.code === 'NOT_FOUND');
});

test('two pushes planned against the same value: the first moves the ref, the second is refused', { skip: gitTool.skip }, async () => {
  await req('git.init', { name: 'race' });
  const first = await receive('race', [{ old: ZERO, new: commits[1]!, ref: 'refs/heads/main' }]);
  assert.deepEqual(first.results, [{ ref: 'refs/heads/main', ok: true }]);
  const [a, b] = await Promise.all([
    receive('race', [{ old: commits[1]!, new: commits[2]!, ref: 'refs/heads/main' }], false),
    receive('race', [{ old: commits[1]!, new: commits[3]!, ref: 'refs/heads/main' }], false),
  ]);
  assert.equal(a.results[0]!.ok, true);
  assert.equal(b.results[0]!.ok, false);
  assert.match(b.results[0]!.reason!, new RegExp(`cannot lock ref 'refs/heads/main': is at ${commits[2]} but expected ${commits[1]}`));
  assert.equal(refOf('race', 'refs/heads/main'), commits[2]);
});

test('atomic: one refused command and nothing moves; git lock files are respected', { skip: gitTool.skip }, async () => {
  await req('git.init', { name: 'atomic' });
  await receive('atomic', [{ old: ZERO, new: commits[3]!, ref: 'refs/heads/main' }]);
  const r = await receive('atomic', [
    { old: ZERO, new: commits[1]!, ref: 'refs/heads/topic' },
    { old: commits[3]!, new: commits[0]!, ref: 'refs/heads/main' }, // not a fast-forward
  ], false, true);
  assert.deepEqual(r.results, [
    { ref: 'refs/heads/topic', ok: false, reason: 'atomic push failed' },
    { ref: 'refs/heads/main', ok: false, reason: 'non-fast-forward' },
  ]);
  assert.equal(refOf('atomic', 'refs/heads/topic'), null);
  // Another process holds refs/heads/main.lock: refused, the lock left to its owner.
  const lock = path.join(home, 'git', 'atomic.git', 'refs', 'heads', 'main.lock');
  fs.writeFileSync(lock, '');
  const held = await receive('atomic', [{ old: commits[3]!, new: commits[3]!, ref: 'refs/heads/main' }], false);
  assert.match(held.results[0]!.reason!, /main\.lock' exists/);
  assert.ok(fs.existsSync(lock));
  fs.rmSync(lock);
  // refs/heads/main/x cannot exist beside refs/heads/main.
  const clash = await receive('atomic', [{ old: ZERO, new: commits[3]!, ref: 'refs/heads/main/x' }], false);
  assert.match(clash.results[0]!.reason!, /'refs\/heads\/main' exists/);
});

test('a packed ref is deleted from packed-refs; HEAD follows the first branch of an empty repository', { skip: gitTool.skip }, async () => {
  await req('git.init', { name: 'packed' });
  const r = await receive('packed', [{ old: ZERO, new: commits[3]!, ref: 'refs/heads/master' }, { old: ZERO, new: commits[2]!, ref: 'refs/tags/t' }]);
  assert.ok(r.results.every((x) => x.ok));
  const dir = path.join(home, 'git', 'packed.git');
  assert.equal(fs.readFileSync(path.join(dir, 'HEAD'), 'utf8'), 'ref: refs/heads/master\n');
  sh(['pack-refs', '--all'], dir);
  assert.equal(fs.existsSync(path.join(dir, 'refs', 'tags', 't')), false);
  const refs = await req<{ refs: Array<{ name: string }> }>('git.refs', { name: 'packed' });
  assert.deepEqual(refs.refs.map((x) => x.name), ['refs/heads/master', 'refs/tags/t']);
  const del = await receive('packed', [{ old: commits[2]!, new: ZERO, ref: 'refs/tags/t' }], false);
  assert.deepEqual(del.results, [{ ref: 'refs/tags/t', ok: true }]);
  assert.doesNotMatch(fs.readFileSync(path.join(dir, 'packed-refs'), 'utf8'), /refs\/tags\/t/);
  execFileSync('git', ['fsck', '--strict'], { cwd: dir, env });
});

test('[git] in config.toml: positive whole numbers, unknown keys refused', () => {
  assert.deepEqual(readGitConfig(undefined), DEFAULT_GIT_CONFIG);
  assert.equal(readGitConfig({ maxPushBytes: 1024 }).maxPushBytes, 1024);
  assert.throws(() => readGitConfig({ maxPushBytes: -1 }), /positive whole number/);
  assert.throws(() => readGitConfig({ nope: 1 }), /unknown key "git.nope"/);
  assert.throws(() => readGitConfig('x'), /must be a table/);
});
