// The object and pack code of the git service, against git itself: our index of a pack git made is
// byte for byte git's; our object reader gives what `git cat-file` gives (packed, deltified, loose);
// packs we write pass `git index-pack`; a thin pack is completed so that it stands alone. Refused:
// a wrong checksum, a truncated pack, garbage after it, a corrupt zlib body, a delta whose base is
// nowhere, a genuine delta cycle (two deltas each producing the other's base), an OFS base that is
// not an entry, an object above the size limit, and a pushed object naming an object that is missing.
// Names: repository names and ref names.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import git from 'isomorphic-git';
import { indexPack } from '../../actors/git/packIndexer.ts';
import { PackIndex, writePackIndex } from '../../actors/git/packIndex.ts';
import { ObjectStore } from '../../actors/git/objectStore.ts';
import { PackWriter } from '../../actors/git/packWriter.ts';
import { enumerate, GraphCache, isAncestor } from '../../actors/git/walk.ts';
import { encodeEntryHeader, encodeOfsDistance, OFS_DELTA, REF_DELTA, writePackHeader } from '../../actors/git/packFormat.ts';
import { hashObject, TYPE_NUMBER, type ObjectType } from '../../actors/git/objects.ts';
import { applyDelta } from '../../actors/git/delta.ts';
import { isValidRefName, repoName } from '../../actors/git/refNames.ts';
import { GitStore } from '../../actors/git/store.ts';
import { gitEnv } from './fixtures.ts';

let dir: string;
let repo: string;
const env = gitEnv({});
const sh = (args: string[], cwd = repo, input?: Buffer): Buffer => execFileSync('git', args, { cwd, env, input, maxBuffer: 64 << 20 });

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-gitpack-'));
  repo = path.join(dir, 'src');
  sh(['init', '-q', repo], dir);
  for (let i = 0; i < 40; i++) {
    fs.mkdirSync(path.join(repo, `d${i % 4}`), { recursive: true });
    fs.appendFileSync(path.join(repo, 'notes.txt'), `line ${i} ${'x'.repeat(i)}\n`);
    fs.writeFileSync(path.join(repo, `d${i % 4}`, `f${i % 7}.txt`), `content ${i}\n`.repeat(30));
    sh(['add', '-A']);
    sh(['commit', '-q', '-m', `commit ${i}`]);
  }
  sh(['tag', '-a', 'v1', '-m', 'version 1']);
  sh(['gc', '-q', '--aggressive']);
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function packFile(gitdir: string): { pack: string; idx: string } {
  const p = path.join(gitdir, 'objects', 'pack');
  const name = fs.readdirSync(p).find((n) => n.endsWith('.pack'))!;
  return { pack: path.join(p, name), idx: path.join(p, name.replace(/\.pack$/, '.idx')) };
}

function withTrailer(body: Buffer): Buffer {
  return Buffer.concat([body, createHash('sha1').update(body).digest()]);
}

function entry(type: ObjectType, data: Buffer): Buffer {
  return Buffer.concat([encodeEntryHeader(TYPE_NUMBER[type], data.length), zlib.deflateSync(data)]);
}

/** A delta that rebuilds `target` from a base of `baseSize` bytes by inserting it whole. */
function insertDelta(baseSize: number, target: Buffer): Buffer {
  const varint = (n: number) => {
    const out: number[] = [];
    do {
      let b = n & 0x7f;
      n = Math.floor(n / 128);
      if (n > 0) b |= 0x80;
      out.push(b);
    } while (n > 0);
    return out;
  };
  const ops: number[] = [...varint(baseSize), ...varint(target.length)];
  for (let at = 0; at < target.length; at += 127) {
    const piece = target.subarray(at, at + 127);
    ops.push(piece.length, ...piece);
  }
  return Buffer.from(ops);
}

test('our index of a pack git wrote is byte for byte git\'s own', () => {
  const { pack, idx } = packFile(path.join(repo, '.git'));
  const indexed = indexPack(fs.readFileSync(pack));
  assert.equal(indexed.appended, 0);
  assert.ok(writePackIndex(indexed.entries, indexed.checksum).equals(fs.readFileSync(idx)));
  const parsed = PackIndex.parse(fs.readFileSync(idx));
  assert.equal(parsed.count, indexed.entries.length);
});

test('every object reads as git cat-file shows it (packed, deltified and loose); isomorphic-git agrees', async () => {
  const loose = sh(['hash-object', '-w', '--stdin'], repo, Buffer.from('a loose blob\n')).toString().trim();
  const store = new ObjectStore(path.join(repo, '.git'));
  try {
    const listing = sh(['cat-file', '--batch-all-objects', '--batch-check']).toString().trim().split('\n');
    assert.ok(listing.length > 100);
    const deltified = sh(['verify-pack', '-v', packFile(path.join(repo, '.git')).idx]).toString().split('\n').filter((l) => /^[0-9a-f]{40} \w+ +\d+ \d+ \d+ \d+ [0-9a-f]{40}$/.test(l)).length;
    assert.ok(deltified > 10, 'the pack has deltas');
    for (const line of listing) {
      const [oid, type] = line.split(' ');
      const obj = store.read(oid!)!;
      assert.equal(obj.type, type);
      assert.ok(obj.data.equals(sh(['cat-file', type!, oid!])), `object ${oid}`);
      assert.equal(hashObject(obj.type, obj.data), oid);
    }
    assert.equal(store.read(loose)!.data.toString(), 'a loose blob\n');
    assert.equal(store.read('0'.repeat(40)), null);
    const viaIso = await git.readObject({ fs, gitdir: path.join(repo, '.git'), oid: loose, format: 'content' });
    assert.equal(Buffer.from(viaIso.object as Uint8Array).toString(), 'a loose blob\n');
  } finally {
    store.close();
  }
});

test('packs we write pass git index-pack, with OFS or REF deltas reused from the stored pack', () => {
  const store = new ObjectStore(path.join(repo, '.git'));
  try {
    const graph = new GraphCache(store);
    const headOid = sh(['rev-parse', 'HEAD']).toString().trim();
    const tagOid = sh(['rev-parse', 'v1']).toString().trim();
    const all = enumerate(graph, store, { wants: [headOid], haves: [], grafts: new Set(), tagRefs: [tagOid] });
    assert.ok(all.objects.includes(tagOid), 'include-tag adds the annotated tag');
    for (const ofsDelta of [true, false]) {
      const w = new PackWriter(store, all.objects, { ofsDelta, thin: false, known: new Set() });
      const parts: Buffer[] = [];
      while (!w.done) parts.push(...w.window(8192));
      assert.ok(w.stats.deltas > 0 && w.stats.reused === all.objects.length, JSON.stringify(w.stats));
      const out = path.join(dir, `out-${ofsDelta}.pack`);
      fs.writeFileSync(out, Buffer.concat(parts));
      sh(['index-pack', out], dir);
      const verified = sh(['verify-pack', '-v', out.replace(/\.pack$/, '.idx')], dir).toString();
      assert.match(verified, /: ok/);
    }
  } finally {
    store.close();
  }
});

test('a thin pack is completed with the bases it needs, and then stands alone', () => {
  const older = sh(['rev-parse', 'HEAD~5']).toString().trim();
  const thin = sh(['pack-objects', '--thin', '--stdout', '--revs', '-q'], repo, Buffer.from(`HEAD\n^${older}\n`));
  const store = new ObjectStore(path.join(repo, '.git'));
  try {
    assert.throws(() => indexPack(thin), /cannot be resolved/, 'without the repository the thin pack does not resolve');
    const fixed = indexPack(thin, { external: (oid) => store.read(oid) });
    assert.ok(fixed.appended > 0, 'bases appended');
    const fresh = path.join(dir, 'fresh.git');
    sh(['init', '-q', '--bare', fresh], dir);
    const target = path.join(fresh, 'objects', 'pack', 'pack-test.pack');
    fs.writeFileSync(target, fixed.pack);
    fs.writeFileSync(target.replace(/\.pack$/, '.idx'), writePackIndex(fixed.entries, fixed.checksum));
    assert.match(sh(['verify-pack', '-v', target.replace(/\.pack$/, '.idx')], dir).toString(), /: ok/);
  } finally {
    store.close();
  }
});

test('broken packs are refused with the reason', () => {
  const good = fs.readFileSync(packFile(path.join(repo, '.git')).pack);
  const flipped = Buffer.from(good);
  flipped[200]! ^= 0xff;
  assert.throws(() => indexPack(flipped), /checksum mismatch/);
  assert.throws(() => indexPack(good.subarray(0, good.length - 100)), /checksum mismatch|truncated/);
  assert.throws(() => indexPack(good.subarray(0, 20)), /shorter|checksum/);
  const blobA = Buffer.from('alpha\n'.repeat(10));
  // A corrupt zlib body under a valid checksum.
  const badZlib = Buffer.concat([encodeEntryHeader(3, blobA.length), Buffer.from([0x78, 0x9c, 0xff, 0xff, 0xff, 0xff])]);
  assert.throws(() => indexPack(withTrailer(Buffer.concat([writePackHeader(1), badZlib]))), /corrupt zlib|truncated/);
  // Garbage after the last object, and fewer objects than announced.
  assert.throws(() => indexPack(withTrailer(Buffer.concat([writePackHeader(1), entry('blob', blobA), Buffer.from('junk')]))), /garbage/);
  assert.throws(() => indexPack(withTrailer(Buffer.concat([writePackHeader(2), entry('blob', blobA)]))), /ends after 1 of 2/);
  // A body that inflates to another size than its header says.
  const lying = Buffer.concat([encodeEntryHeader(3, 5), zlib.deflateSync(blobA)]);
  assert.throws(() => indexPack(withTrailer(Buffer.concat([writePackHeader(1), lying]))), /inflates to more than/);
  // Above the object size limit.
  assert.throws(() => indexPack(withTrailer(Buffer.concat([writePackHeader(1), entry('blob', blobA)])), { maxObjectBytes: 10 }), /above the limit/);
  // The same object twice.
  assert.throws(() => indexPack(withTrailer(Buffer.concat([writePackHeader(2), entry('blob', blobA), entry('blob', blobA)]))), /twice/);
});

test('deltas that never resolve are refused: a missing base, a genuine cycle, an OFS base that is not an entry', () => {
  const x = Buffer.from('the first version\n'.repeat(8));
  const y = Buffer.from('the second version\n'.repeat(8));
  const ox = hashObject('blob', x);
  const oy = hashObject('blob', y);
  const dXY = insertDelta(x.length, y); // x → y
  const dYX = insertDelta(y.length, x); // y → x
  assert.ok(applyDelta(x, dXY).equals(y));
  const refDelta = (base: string, delta: Buffer) => Buffer.concat([encodeEntryHeader(REF_DELTA, delta.length), Buffer.from(base, 'hex'), zlib.deflateSync(delta)]);
  // Each entry's base is the object the other entry produces: a cycle nothing can start.
  const cycle = withTrailer(Buffer.concat([writePackHeader(2), refDelta(ox, dXY), refDelta(oy, dYX)]));
  assert.throws(() => indexPack(cycle), /2 deltas that cannot be resolved \(a missing base or a delta cycle\)/);
  // With one of the two in the repository, the deltas resolve, but the pack could only be stored
  // with that object twice (its own copy is built on the repository's): still a cycle, refused.
  assert.throws(() => indexPack(cycle, { external: (oid) => (oid === ox ? { type: 'blob', data: x } : null) }), /delta cycle through object/);
  // A pack whose delta is built on a repository object that the pack also holds (built on another
  // repository object) keeps its own copy and appends only the true base.
  const z = Buffer.from('the third version\n'.repeat(8));
  const oz = hashObject('blob', z);
  const chain = withTrailer(Buffer.concat([writePackHeader(2), refDelta(oy, insertDelta(y.length, z)), refDelta(ox, dXY)]));
  const fixed = indexPack(chain, { external: (oid) => (oid === ox ? { type: 'blob', data: x } : oid === oy ? { type: 'blob', data: y } : null) });
  assert.equal(fixed.appended, 1);
  assert.deepEqual(fixed.entries.map((e) => e.oid.toString('hex')).sort(), [ox, oy, oz].sort());
  const missing = withTrailer(Buffer.concat([writePackHeader(1), refDelta('1'.repeat(40), dXY)]));
  assert.throws(() => indexPack(missing), /1 delta that cannot be resolved/);
  const wholeX = entry('blob', x);
  const ofs = Buffer.concat([encodeEntryHeader(OFS_DELTA, dXY.length), encodeOfsDistance(3), zlib.deflateSync(dXY)]);
  assert.throws(() => indexPack(withTrailer(Buffer.concat([writePackHeader(2), wholeX, ofs]))), /not an entry/);
  const selfOfs = Buffer.concat([encodeEntryHeader(OFS_DELTA, dXY.length), encodeOfsDistance(0), zlib.deflateSync(dXY)]);
  assert.throws(() => indexPack(withTrailer(Buffer.concat([writePackHeader(1), selfOfs]))), /outside the pack/);
});

test('a pushed object that names a missing object is refused; the repository is left as it was', async () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-gitstore-'));
  const store = new GitStore(home);
  try {
    await store.init('r');
    const tree = Buffer.from(`100644 a.txt\0${'2'.repeat(40)}`.replace('2'.repeat(40), ''), 'latin1');
    const treeBytes = Buffer.concat([tree, Buffer.alloc(20, 0x22)]);
    const treeOid = hashObject('tree', treeBytes);
    const commit = Buffer.from(`tree ${treeOid}\nauthor A <a@a> 1700000000 +0000\ncommitter A <a@a> 1700000000 +0000\n\nx\n`);
    const commitOid = hashObject('commit', commit);
    const pack = withTrailer(Buffer.concat([writePackHeader(2), entry('tree', treeBytes), entry('commit', commit)]));
    const r = await store.receive('r', [{ old: '0'.repeat(40), new: commitOid, ref: 'refs/heads/main' }], [pack], false);
    assert.match(r.unpack, /missing necessary object 2222/);
    assert.deepEqual(r.results, [{ ref: 'refs/heads/main', ok: false, reason: 'unpacker error' }]);
    assert.deepEqual(fs.readdirSync(path.join(home, 'git', 'r.git', 'objects', 'pack')), []);
    assert.deepEqual(store.refs('r').refs, []);
  } finally {
    store.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test('ancestry: the fast-forward check follows parents', () => {
  const store = new ObjectStore(path.join(repo, '.git'));
  try {
    const g = new GraphCache(store);
    const h = sh(['rev-parse', 'HEAD']).toString().trim();
    const old = sh(['rev-parse', 'HEAD~12']).toString().trim();
    assert.equal(isAncestor(g, old, h), true);
    assert.equal(isAncestor(g, h, old), false);
  } finally {
    store.close();
  }
});

test('repository names: one safe component; ref names: git check-ref-format under refs/', () => {
  for (const ok of ['demo', 'demo.git', '/demo.git', 'a_b-c.1', 'X9']) assert.doesNotThrow(() => repoName(ok), ok);
  assert.equal(repoName('/demo.git'), 'demo');
  for (const bad of ['..', '../x', 'a/b', '.hidden', '/.git', 'a..b', '', '-x', 'x.lock', 'a b', 'a\u0000b', 'x'.repeat(101), 'a.', '%2e%2e']) {
    assert.throws(() => repoName(bad), /not a repository name/, JSON.stringify(bad));
  }
  for (const ok of ['refs/heads/main', 'refs/tags/v1.0', 'refs/heads/feature/x-y', 'refs/notes/commits']) assert.equal(isValidRefName(ok), true, ok);
  for (const bad of ['refs/heads/a..b', 'refs/heads/a\u0001b', 'refs/heads/a b', 'refs/heads/.x', 'refs/heads/x.lock', 'refs/heads/x/', 'HEAD', 'heads/main',
    'refs/heads/a~1', 'refs/heads/a^', 'refs/heads/a:b', 'refs/heads/a?', 'refs/heads/a*', 'refs/heads/a[', 'refs/heads/a\\b', 'refs/heads/@{x}', 'refs/heads//a', 'refs/heads/a.', 'refs/heads/\u007f']) {
    assert.equal(isValidRefName(bad), false, JSON.stringify(bad));
  }
});
