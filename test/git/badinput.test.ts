// Bad input on the wire: raw alknet/git streams (the bytes the git CLI would never send), OpenSSH
// exec with crafted stdin, and curl against smart HTTP. Each gets a clear protocol error (an ERR
// packet git shows as "remote error: …", a report-status "unpack …"/"ng … reason", or an HTTP
// status), the repository is unchanged (same refs, no new pack, git fsck clean) and the node keeps
// serving (a clone works after all of it). Also: who may do what (git:read / git:write).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { dial } from '../../actors/listener/dial.ts';
import { homeIdentity } from '../node/helpers.ts';
import { encodeEntryHeader, REF_DELTA, writePackHeader } from '../../actors/git/packFormat.ts';
import { FLUSH, pkt } from '../../protocols/git/pktLine.ts';
import { addToken } from '../../actors/peers/peersFile.ts';
import { fsck, gitClient, ok, run, startGitNode, type GitClient, type GitNode } from './fixtures.ts';
import { requireTool } from '../support/tools.ts';

const gitTool = requireTool('git', 'git');
let server: GitNode;
let client: GitClient;
let stranger: GitClient;
let main: string;
const ZERO = '0'.repeat(40);

before(async () => {
  server = await startGitNode({ idleTimeoutMs: 5_000 });
  client = await gitClient(server);
  stranger = await gitClient(server, { scopes: [], tokenScopes: ['git:read'] });
  await server.node.bus.request('git', 'git.init', { name: 'target' }, { deadlineMs: 10_000 });
  ok(await client.git('alknet', ['clone', '-q', client.url('alknet', 'target'), 'w']), 'clone');
  fs.writeFileSync(path.join(client.dir, 'w', 'a.txt'), 'hello\n');
  ok(await client.git('alknet', ['add', '.'], 'w'), 'add');
  ok(await client.git('alknet', ['commit', '-q', '-m', 'one'], 'w'), 'commit');
  ok(await client.git('alknet', ['push', '-q', 'origin', 'HEAD:main'], 'w'), 'push');
  main = ok(await client.git('alknet', ['rev-parse', 'HEAD'], 'w'), 'rev-parse').stdout.trim();
});
after(async () => {
  client?.stop();
  stranger?.stop();
  await server?.stop();
});

/** Everything the node answers on one alknet/git stream to `bytes` (the stream ended after them). */
async function exchange(bytes: Buffer[], opts: { identity?: 'client' | 'none'; end?: boolean } = {}): Promise<string> {
  const identity = opts.identity === 'none' ? undefined : await homeIdentity(client.home.home);
  const conn = await dial(`${server.node.nodeId}@127.0.0.1:${server.node.tcpPort}`, { alpn: 'alknet/git', transport: 'tls', ...(identity ? { identity } : {}) });
  try {
    const stream: Duplex = await conn.openStream();
    const chunks: Buffer[] = [];
    const done = new Promise<void>((resolve) => {
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', () => resolve());
    });
    for (const b of bytes) stream.write(b);
    if (opts.end !== false) stream.end();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([done, new Promise((r) => (timer = setTimeout(r, 20_000)))]);
    clearTimeout(timer);
    return Buffer.concat(chunks).toString('latin1');
  } finally {
    await conn.close('done').catch(() => {});
  }
}

const request = (service: string, repoPath: string) => pkt(`${service} ${repoPath}\0host=test\0`);

function packOf(entries: Buffer[]): Buffer {
  const body = Buffer.concat([writePackHeader(entries.length), ...entries]);
  return Buffer.concat([body, createHash('sha1').update(body).digest()]);
}

async function unchanged(): Promise<void> {
  const dir = server.repoDir('target');
  assert.equal(fs.readFileSync(path.join(dir, 'refs', 'heads', 'main'), 'utf8').trim(), main);
  assert.deepEqual(fs.readdirSync(path.join(dir, 'refs', 'heads')), ['main']);
  const r = await fsck(dir);
  assert.equal(r.code, 0, r.stderr);
}

test('repository names with "..", hidden or nested paths are refused before anything is read', { skip: gitTool.skip }, async () => {
  for (const bad of ['/../target.git', '/..', '/.hidden.git', '/a/b.git', '/target.git/../../etc', '/%2e%2e']) {
    const out = await exchange([request('git-upload-pack', bad)]);
    assert.match(out, /ERR .*is not a repository name/, `${bad}: ${out}`);
  }
  const viaGit = await client.git('alknet', ['ls-remote', `git://${server.node.nodeId}/../target.git`]);
  assert.notEqual(viaGit.code, 0);
  assert.match(viaGit.stderr, /remote error: .*not a repository name/);
  assert.match(await exchange([request('git-upload-pack', '/nothere.git')]), /ERR repository "nothere" not found/);
  assert.match(await exchange([request('git-upload-archive', '/target.git')]), /ERR expected "git-upload-pack PATH"/);
});

test('malformed pkt-lines get a clear ERR: lengths 0001-0003, non-hex, past the end, 65521 and above', async () => {
  const head = request('git-upload-pack', '/target.git');
  const cases: Array<[string, Buffer, RegExp]> = [
    ['0001', Buffer.from('0001'), /ERR bad pkt-line length 1 \(0001-0003/],
    ['0002', Buffer.from('0002'), /ERR bad pkt-line length 2/],
    ['0003', Buffer.from('0003'), /ERR bad pkt-line length 3/],
    ['non-hex', Buffer.from('zz10want'), /ERR bad pkt-line length "zz10"/],
    ['past the end', Buffer.from('0032want 1234'), /ERR the input ended inside a pkt-line of 50 bytes/],
    ['65521', Buffer.from('fff1'), /ERR pkt-line length 65521 is above the limit of 65520/],
    ['65535', Buffer.from('ffff'), /ERR pkt-line length 65535 is above the limit/],
    ['not a want', Buffer.concat([pkt('have 1111111111111111111111111111111111111111\n'), FLUSH]), /ERR upload-pack: protocol error, expected to get object ID/],
  ];
  for (const [what, bytes, expect] of cases) {
    const out = await exchange([head, bytes]);
    assert.match(out, /HEAD\0/, `${what}: the advertisement came first`);
    assert.match(out, expect, `${what}: ${out.slice(-200)}`);
  }
  // The request line itself: a bad length there too.
  assert.match(await exchange([Buffer.from('0002')]), /ERR bad pkt-line length 2/);
  await unchanged();
});

test('a want of an object the repository does not have: "not our ref"', async () => {
  const missing = '1234567890'.repeat(4);
  const out = await exchange([request('git-upload-pack', '/target.git'), pkt(`want ${missing} side-band-64k ofs-delta\n`), FLUSH, pkt('done\n')]);
  assert.match(out, new RegExp(`ERR upload-pack: not our ref ${missing}`));
  // A tree of the repository is an object it has, but not a ref: refused the same way.
  const tree = (await run('git', ['rev-parse', 'HEAD^{tree}'], { cwd: server.repoDir('target') })).stdout.trim();
  assert.match(await exchange([request('git-upload-pack', '/target.git'), pkt(`want ${tree}\n`), FLUSH, pkt('done\n')]), /not our ref/);
});

/** A push of one command with `pack` on a raw stream; returns the report-status text. */
async function push(command: string, pack: Buffer | null, end = true): Promise<string> {
  return exchange([request('git-receive-pack', '/target.git'), pkt(`${command}\0report-status\n`), FLUSH, ...(pack ? [pack] : [])], { end });
}

test('a pack with a wrong checksum, a truncated pack, a delta cycle: "unpack <reason>", nothing stored', async () => {
  const packDir = path.join(server.repoDir('target'), 'objects', 'pack');
  const packsBefore = fs.readdirSync(packDir).sort();
  const blob = Buffer.from('new content\n');
  const blobOid = createHash('sha1').update(`blob ${blob.length}\0`).update(blob).digest('hex');
  const good = packOf([Buffer.concat([encodeEntryHeader(3, blob.length), zlib.deflateSync(blob)])]);
  const wrongSum = Buffer.from(good);
  wrongSum[wrongSum.length - 1]! ^= 1;
  let out = await push(`${ZERO} ${blobOid} refs/tags/blob`, wrongSum);
  assert.match(out, /unpack pack checksum mismatch/);
  assert.match(out, /ng refs\/tags\/blob unpacker error/);

  out = await push(`${ZERO} ${blobOid} refs/tags/blob`, good.subarray(0, good.length - 25));
  assert.match(out, /unpack the pack ended early/);

  const x = Buffer.from('x version\n'.repeat(5));
  const y = Buffer.from('y version\n'.repeat(5));
  const oid = (b: Buffer) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest();
  const delta = (from: Buffer, to: Buffer) => Buffer.concat([Buffer.from([from.length, to.length, to.length]), to]);
  const refDelta = (base: Buffer, d: Buffer) => Buffer.concat([encodeEntryHeader(REF_DELTA, d.length), base, zlib.deflateSync(d)]);
  const cycle = packOf([refDelta(oid(x), delta(x, y)), refDelta(oid(y), delta(y, x))]);
  out = await push(`${ZERO} ${oid(y).toString('hex')} refs/tags/cycle`, cycle);
  assert.match(out, /unpack pack has 2 deltas that cannot be resolved \(a missing base or a delta cycle\)/);
  assert.match(out, /ng refs\/tags\/cycle unpacker error/);

  assert.deepEqual(fs.readdirSync(packDir).sort(), packsBefore, 'no pack was stored');
  await unchanged();
});

test('ref names with "..", control characters or outside refs/ are refused; a missing object too', async () => {
  const empty = packOf([]);
  for (const ref of ['refs/heads/a..b', 'refs/heads/a\u0001b', 'refs/heads/x.lock', 'HEAD', 'refs/heads/.hidden', 'refs/heads/a b']) {
    const out = await push(`${ZERO} ${main} ${ref}`, empty);
    assert.match(out, /unpack ok/);
    assert.ok(out.includes(`ng ${ref} funny refname`), `${JSON.stringify(ref)}: ${out}`);
  }
  const out = await push(`${ZERO} ${'ab'.repeat(20)} refs/heads/ghost`, empty);
  assert.match(out, /ng refs\/heads\/ghost missing necessary objects/);
  const garbled = await push(`not a command at all`, null);
  assert.match(garbled, /ERR receive-pack: protocol error: expected "OLD NEW REF"/);
  await unchanged();
});

test('over SSH: a corrupt pack on stdin gets "unpack <reason>" and nothing moves', { skip: requireTool('ssh', 'openssh-client').skip }, async () => {
  const blob = Buffer.from('ssh content\n');
  const blobOid = createHash('sha1').update(`blob ${blob.length}\0`).update(blob).digest('hex');
  const pack = packOf([Buffer.concat([encodeEntryHeader(3, blob.length), zlib.deflateSync(blob)])]);
  pack[pack.length - 1]! ^= 0x55;
  const input = Buffer.concat([pkt(`${ZERO} ${blobOid} refs/tags/ssh\0report-status\n`), FLUSH, pack]);
  const r = await run('ssh', ['-F', client.sshConfig, 'alk', "git-receive-pack '/target.git'"], { input });
  assert.match(r.stdout, /unpack pack checksum mismatch/);
  assert.match(r.stdout, /ng refs\/tags\/ssh unpacker error/);
  const traversal = await run('ssh', ['-F', client.sshConfig, 'alk', "git-upload-pack '/../target.git'"]);
  assert.notEqual(traversal.code, 0);
  assert.match(traversal.stderr + traversal.stdout, /not a repository name/);
  await unchanged();
});

test('over HTTP: bad names, bodies and credentials get a status or an ERR, never a crash', async () => {
  const base = `https://127.0.0.1:${server.node.tcpPort}/git`;
  const curl = async (args: string[]) => run('curl', ['-sk', '-o', '-', '-w', '\n%{http_code}', ...args]);
  const auth = ['-H', `Authorization: Bearer ${client.token}`];
  let r = await curl([...auth, `${base}/..%2Ftarget.git/info/refs?service=git-upload-pack`]);
  assert.match(r.stdout, /\n40[04]$/);
  r = await curl([...auth, `${base}/%E0%A4%A.git/info/refs?service=git-upload-pack`]);
  assert.match(r.stdout, /not valid percent-encoded UTF-8[\s\S]*\n400$/);
  r = await curl([...auth, `${base}/target.git/info/refs`]);
  assert.match(r.stdout, /only the smart HTTP protocol is served[\s\S]*\n403$/);
  r = await curl([`${base}/target.git/info/refs?service=git-upload-pack`]);
  assert.match(r.stdout, /\n401$/);
  r = await curl([...auth, `${base}/nothere.git/info/refs?service=git-upload-pack`]);
  assert.match(r.stdout, /not found[\s\S]*\n404$/);
  r = await curl([...auth, '-X', 'POST', '-H', 'content-type: application/x-git-upload-pack-request', '--data-binary', '0003garbage', `${base}/target.git/git-upload-pack`]);
  assert.match(r.stdout, /ERR bad pkt-line length 3[\s\S]*\n200$/);
  r = await curl([...auth, '-X', 'POST', '-H', 'content-type: text/plain', '--data-binary', 'x', `${base}/target.git/git-upload-pack`]);
  assert.match(r.stdout, /content-type must be application\/x-git-upload-pack-request[\s\S]*\n400$/);
  r = await curl([...auth, '-X', 'POST', '-H', 'content-type: application/x-git-upload-pack-request', '-H', 'content-encoding: gzip', '--data-binary', 'not gzip', `${base}/target.git/git-upload-pack`]);
  assert.match(r.stdout, /unreadable request body[\s\S]*\n400$/);
  await unchanged();
});

test('who may do what: git:read fetches, git:write pushes; refused callers learn why', async () => {
  // alknet/git: a node without a peer entry (anonymous grants nothing here).
  const anonymous = await exchange([request('git-upload-pack', '/target.git')], { identity: 'none' });
  assert.match(anonymous, /ERR access denied: needs scope "git:read"/);
  const listed = await stranger.git('alknet', ['ls-remote', stranger.url('alknet', 'target')]);
  assert.notEqual(listed.code, 0);
  assert.match(listed.stderr, /remote error: access denied: needs scope "git:read"/);
  // HTTP: a token with git:read clones but cannot push.
  ok(await stranger.git('http', ['clone', '-q', stranger.url('http', 'target'), 'ro']), 'read-only clone');
  fs.writeFileSync(path.join(stranger.dir, 'ro', 'b.txt'), 'b\n');
  ok(await stranger.git('http', ['add', '.'], 'ro'), 'add');
  ok(await stranger.git('http', ['commit', '-q', '-m', 'b'], 'ro'), 'commit');
  const refused = await stranger.git('http', ['push', 'origin', 'HEAD:main'], 'ro');
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /403/);
  // A token of someone with only git:read from another scope set: the operations too.
  const token = addToken(server.home.home, 'reader-ops', ['git:read']).token;
  const list = await run('curl', ['-sk', '-X', 'POST', '-H', `Authorization: Bearer ${token}`, '-H', 'content-type: application/json', '--data', '{}', `https://127.0.0.1:${server.node.tcpPort}/ops/git/list`]);
  assert.match(list.stdout, /"name":"target"/);
  const init = await run('curl', ['-sk', '-X', 'POST', '-H', `Authorization: Bearer ${token}`, '-H', 'content-type: application/json', '--data', '{"name":"new"}', `https://127.0.0.1:${server.node.tcpPort}/ops/git/init`]);
  assert.match(init.stdout, /git:admin/);
  assert.equal(fs.existsSync(server.repoDir('new')), false);
  await unchanged();
});

test('the node still serves after all of it', async () => {
  ok(await client.git('alknet', ['clone', '-q', client.url('alknet', 'target'), 'after']), 'clone after the bad input');
  assert.equal(ok(await client.git('alknet', ['rev-parse', 'HEAD'], 'after'), 'rev-parse').stdout.trim(), main);
  const failures = server.logs.filter((l) => (l.level as number) >= 50);
  assert.deepEqual(failures, []);
});
