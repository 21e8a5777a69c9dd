// The repositories of a node: bare git repositories under HOME/git/NAME.git, owned by the git actor
// alone. Reads (refs, negotiation, packs) run side by side; everything that writes one repository
// (a push, its pack and its ref updates) runs one at a time per repository, so two pushes never
// interleave: the second sees the refs the first left, and fails the standard way if they moved.
// A pushed pack is indexed and checked before it is stored (packIndexer.ts: checksum, every object,
// every delta; then every object it refers to must exist), and refs move only after that.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import git from 'isomorphic-git';
import { fsyncDir } from '../../lib/atomicFile.ts';
import { GitFormatError, referencedOids, ZERO_OID, type ObjectType } from './objects.ts';
import { ObjectStore } from './objectStore.ts';
import { indexPack } from './packIndexer.ts';
import { writePackIndex } from './packIndex.ts';
import { PackWriter, type PackStats } from './packWriter.ts';
import { listRefs, readHead, readRef, RefUpdateError, updateRef, updateRefsAtomic, writeHead, type Head, type RefUpdate } from './refs.ts';
import { isValidRefName, NameError, repoName, shown } from './refNames.ts';
import { DEFAULT_POLICY, initialConfig, parsePolicy, type RefPolicy } from './repoConfig.ts';
import { enumerate, GraphCache, isAncestor, okToGiveUp, reachableFrom, shallowBoundary, type ShallowResult } from './walk.ts';

export type GitErrorCode = 'NOT_FOUND' | 'INVALID_INPUT' | 'BUSY' | 'INTERNAL';

export class GitStoreError extends Error {
  override name = 'GitStoreError';
  constructor(readonly code: GitErrorCode, message: string) {
    super(message);
  }
}

export interface GitStoreOptions {
  /** Largest object a pushed pack may hold (default 256 MiB). */
  maxObjectBytes?: number;
  /** Packs being sent at once (default 64); more are BUSY. */
  maxPackSessions?: number;
  /** A pack being sent that is not asked for its next window this long is dropped (default 120 s). */
  packIdleMs?: number;
}

export interface RefEntry {
  name: string;
  oid: string;
  /** For an annotated tag: the object it finally names. */
  peeled?: string;
}

export interface Command {
  old: string;
  new: string;
  ref: string;
}

export interface CommandResult {
  ref: string;
  ok: boolean;
  reason?: string;
}

export interface ReceiveResult {
  /** "ok", or why the pack was refused. */
  unpack: string;
  results: CommandResult[];
}

class Repo {
  readonly objects: ObjectStore;
  readonly graph: GraphCache;
  /** Packs being sent from this repository (it is not closed meanwhile). */
  busy = 0;
  constructor(readonly name: string, readonly gitdir: string, maxObjectBytes: number | undefined) {
    this.objects = new ObjectStore(gitdir, maxObjectBytes === undefined ? {} : { maxObjectBytes });
    this.graph = new GraphCache(this.objects);
  }
  policy(): RefPolicy {
    try {
      return parsePolicy(fs.readFileSync(path.join(this.gitdir, 'config'), 'utf8'));
    } catch {
      return DEFAULT_POLICY;
    }
  }
  close(): void {
    this.objects.close();
  }
}

interface PackSession {
  repo: Repo;
  writer: PackWriter;
  timer: NodeJS.Timeout;
}

const MAX_OPEN_REPOS = 64;

export class GitStore {
  readonly root: string;
  private readonly repos = new Map<string, Repo>();
  private readonly serial = new Map<string, Promise<unknown>>();
  private readonly packs = new Map<string, PackSession>();

  constructor(home: string, private readonly opts: GitStoreOptions = {}) {
    this.root = path.join(home, 'git');
  }

  close(): void {
    for (const s of this.packs.values()) clearTimeout(s.timer);
    this.packs.clear();
    for (const r of this.repos.values()) r.close();
    this.repos.clear();
  }

  private dirOf(name: string): string {
    return path.join(this.root, `${name}.git`);
  }

  private canonical(text: string): string {
    try {
      return repoName(text);
    } catch (err) {
      throw new GitStoreError('INVALID_INPUT', (err as NameError).message);
    }
  }

  /** The open repository `text` names; NOT_FOUND when there is none. */
  private repo(text: string): Repo {
    const name = this.canonical(text);
    const open = this.repos.get(name);
    if (open) {
      this.repos.delete(name);
      this.repos.set(name, open);
      return open;
    }
    const gitdir = this.dirOf(name);
    if (!fs.existsSync(path.join(gitdir, 'HEAD')) || !fs.statSync(path.join(gitdir, 'objects'), { throwIfNoEntry: false })?.isDirectory()) {
      throw new GitStoreError('NOT_FOUND', `repository ${shown(name)} not found`);
    }
    const repo = new Repo(name, gitdir, this.opts.maxObjectBytes);
    this.repos.set(name, repo);
    if (this.repos.size > MAX_OPEN_REPOS) {
      for (const [n, r] of this.repos) {
        if (this.repos.size <= MAX_OPEN_REPOS) break;
        if (r.busy > 0 || this.serial.has(n)) continue;
        r.close();
        this.repos.delete(n);
      }
    }
    return repo;
  }

  /** Runs `fn` after every earlier write of the same repository has finished. */
  private exclusive<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const before = this.serial.get(name) ?? Promise.resolve();
    const run = before.catch(() => {}).then(fn);
    const tail = run.catch(() => {});
    this.serial.set(name, tail);
    void tail.then(() => {
      if (this.serial.get(name) === tail) this.serial.delete(name);
    });
    return run;
  }

  async init(text: string, options: { allowForcePush?: boolean } = {}): Promise<{ name: string; created: boolean }> {
    const name = this.canonical(text);
    return this.exclusive(name, async () => {
      const dir = this.dirOf(name);
      if (fs.existsSync(dir)) return { name, created: false };
      fs.mkdirSync(this.root, { recursive: true, mode: 0o700 });
      const tmp = path.join(this.root, `.tmp-init-${randomBytes(6).toString('hex')}`);
      try {
        await git.init({ fs, dir: tmp, bare: true, defaultBranch: 'main' });
        fs.writeFileSync(path.join(tmp, 'config'), initialConfig({ ...DEFAULT_POLICY, denyNonFastForwards: !options.allowForcePush }));
        fs.writeFileSync(path.join(tmp, 'description'), `${name}: served by alknet\n`);
        fs.renameSync(tmp, dir);
        fsyncDir(this.root);
      } catch (err) {
        fs.rmSync(tmp, { recursive: true, force: true });
        if (fs.existsSync(dir)) return { name, created: false };
        throw err;
      }
      return { name, created: true };
    });
  }

  list(): Array<{ name: string; head: string | null; refs: number }> {
    let names: string[];
    try {
      names = fs.readdirSync(this.root);
    } catch {
      return [];
    }
    const out: Array<{ name: string; head: string | null; refs: number }> = [];
    for (const entry of names.sort()) {
      if (!entry.endsWith('.git')) continue;
      let name: string;
      try {
        name = repoName(entry);
      } catch {
        continue;
      }
      const gitdir = this.dirOf(name);
      if (!fs.existsSync(path.join(gitdir, 'HEAD'))) continue;
      out.push({ name, head: readHead(gitdir).target, refs: listRefs(gitdir).size });
    }
    return out;
  }

  refs(text: string): { head: Head; refs: RefEntry[] } {
    const repo = this.repo(text);
    const head = readHead(repo.gitdir);
    const refs: RefEntry[] = [];
    for (const [name, oid] of listRefs(repo.gitdir)) {
      const entry: RefEntry = { name, oid };
      if (name.startsWith('refs/tags/')) {
        const p = repo.graph.peel(oid);
        if (p && p.tags.length > 0) entry.peeled = p.oid;
      }
      refs.push(entry);
    }
    return { head, refs };
  }

  /** Which of `haves` the repository has, and whether every want now reaches a common commit. */
  negotiate(text: string, wants: string[], commons: string[], haves: string[]): { common: string[]; ready: boolean } {
    const repo = this.repo(text);
    const common = haves.filter((h) => repo.objects.has(h));
    return { common, ready: okToGiveUp(repo.graph, wants, [...commons, ...common]) };
  }

  /** Of `oids`, those that are neither ref tips nor reachable from one. */
  unreachable(text: string, oids: string[]): string[] {
    const repo = this.repo(text);
    const tips = [...listRefs(repo.gitdir).values()];
    const tipSet = new Set(tips);
    return oids.filter((o) => !tipSet.has(o) && !reachableFrom(repo.graph, repo.objects, o, tips));
  }

  shallow(text: string, wants: string[], depth: number, clientShallow: string[]): ShallowResult {
    const repo = this.repo(text);
    const known = clientShallow.filter((s) => repo.objects.typeOf(s) === 'commit');
    return shallowBoundary(repo.graph, wants, depth, new Set(known));
  }

  packStart(text: string, input: {
    wants: string[]; haves: string[]; clientShallow: string[]; shallow: string[]; unshallow: string[];
    ofsDelta: boolean; thin: boolean; includeTag: boolean;
  }): { packId: string; objects: number; commits: number } {
    if (this.packs.size >= (this.opts.maxPackSessions ?? 64)) throw new GitStoreError('BUSY', 'too many packs are being sent; retry later');
    const repo = this.repo(text);
    for (const w of input.wants) if (!repo.objects.has(w)) throw new GitStoreError('INVALID_INPUT', `not our ref ${w}`);
    const wants = [...input.wants];
    for (const u of input.unshallow) {
      const c = repo.graph.commit(u);
      if (c) wants.push(...c.parents);
    }
    const grafts = new Set([...input.clientShallow, ...input.shallow]);
    const tagRefs = input.includeTag ? [...listRefs(repo.gitdir)].filter(([n]) => n.startsWith('refs/tags/')).map(([, oid]) => oid) : [];
    let result;
    try {
      result = enumerate(repo.graph, repo.objects, { wants, haves: [...input.haves, ...input.unshallow], grafts, tagRefs });
    } catch (err) {
      if (err instanceof GitFormatError) throw new GitStoreError('INTERNAL', `repository ${shown(repo.name)} is damaged: ${err.message}`);
      throw err;
    }
    const packId = randomBytes(12).toString('hex');
    const writer = new PackWriter(repo.objects, result.objects, { ofsDelta: input.ofsDelta, thin: input.thin, known: result.known });
    repo.busy++;
    const session: PackSession = { repo, writer, timer: this.packTimer(packId) };
    this.packs.set(packId, session);
    return { packId, objects: result.objects.length, commits: result.commits };
  }

  private packTimer(packId: string): NodeJS.Timeout {
    const t = setTimeout(() => this.packAbort(packId), this.opts.packIdleMs ?? 120_000);
    t.unref();
    return t;
  }

  packNext(packId: string, maxBytes: number): { pieces: Buffer[]; done: boolean; stats: PackStats } {
    const s = this.packs.get(packId);
    if (!s) throw new GitStoreError('NOT_FOUND', 'no such pack being sent (finished, aborted or idle too long)');
    clearTimeout(s.timer);
    let pieces: Buffer[];
    try {
      pieces = s.writer.window(maxBytes);
    } catch (err) {
      this.packAbort(packId);
      if (err instanceof GitFormatError) throw new GitStoreError('INTERNAL', `repository ${shown(s.repo.name)} is damaged: ${err.message}`);
      throw err;
    }
    if (s.writer.done) this.packAbort(packId);
    else s.timer = this.packTimer(packId);
    return { pieces, done: s.writer.done, stats: { ...s.writer.stats } };
  }

  packAbort(packId: string): boolean {
    const s = this.packs.get(packId);
    if (!s) return false;
    clearTimeout(s.timer);
    this.packs.delete(packId);
    s.repo.busy--;
    return true;
  }

  /** A push: the pack checked and stored, then each command checked against the ref policy and applied. */
  receive(text: string, commands: Command[], pack: Uint8Array[], atomic: boolean): Promise<ReceiveResult> {
    const name = this.canonical(text);
    return this.exclusive(name, async () => {
      const repo = this.repo(name);
      const types = new Map<string, ObjectType>();
      let unpack = 'ok';
      if (pack.length > 0) {
        try {
          this.storePack(repo, pack.length === 1 ? Buffer.from(pack[0]!.buffer, pack[0]!.byteOffset, pack[0]!.byteLength) : Buffer.concat(pack), types);
        } catch (err) {
          if (!(err instanceof GitFormatError)) throw err;
          unpack = err.message.replace(/[\r\n]/g, ' ').slice(0, 300);
        }
      }
      if (unpack !== 'ok') return { unpack, results: commands.map((c) => ({ ref: c.ref, ok: false, reason: 'unpacker error' })) };
      return { unpack, results: this.applyCommands(repo, commands, types, atomic) };
    });
  }

  private storePack(repo: Repo, buf: Buffer, types: Map<string, ObjectType>): void {
    const needed = new Set<string>();
    const indexed = indexPack(buf, {
      external: (oid) => repo.objects.read(oid),
      visit: (oid, type, data) => {
        types.set(oid, type);
        for (const r of referencedOids(type, data)) needed.add(r);
      },
      ...(this.opts.maxObjectBytes !== undefined ? { maxObjectBytes: this.opts.maxObjectBytes } : {}),
    });
    // Connectivity: everything an object of the pack names is in the pack or already here.
    for (const oid of needed) {
      if (!types.has(oid) && !repo.objects.has(oid)) throw new GitFormatError(`missing necessary object ${oid} (named by the pack, in neither the pack nor the repository)`);
    }
    if (indexed.entries.length === 0) return;
    const dir = path.join(repo.gitdir, 'objects', 'pack');
    fs.mkdirSync(dir, { recursive: true });
    const base = `pack-${indexed.checksum.toString('hex')}`;
    if (fs.existsSync(path.join(dir, `${base}.idx`))) return; // the very same pack is stored already
    const tmp = path.join(dir, `tmp_pack_${randomBytes(6).toString('hex')}`);
    try {
      writeDurably(`${tmp}.pack`, indexed.pack);
      writeDurably(`${tmp}.idx`, writePackIndex(indexed.entries, indexed.checksum));
      fs.renameSync(`${tmp}.pack`, path.join(dir, `${base}.pack`));
      fs.renameSync(`${tmp}.idx`, path.join(dir, `${base}.idx`));
      fsyncDir(dir);
    } finally {
      fs.rmSync(`${tmp}.pack`, { force: true });
      fs.rmSync(`${tmp}.idx`, { force: true });
    }
    repo.objects.openPack(base);
  }

  private applyCommands(repo: Repo, commands: Command[], types: Map<string, ObjectType>, atomic: boolean): CommandResult[] {
    const policy = repo.policy();
    const results: CommandResult[] = commands.map((c) => ({ ref: c.ref, ok: true }));
    const refuse = (i: number, reason: string) => {
      results[i] = { ref: commands[i]!.ref, ok: false, reason };
    };
    commands.forEach((c, i) => {
      if (!isValidRefName(c.ref)) return refuse(i, 'funny refname');
      if (c.new === ZERO_OID) {
        if (policy.denyDeletes) return refuse(i, 'deletion prohibited');
        return;
      }
      const type = types.get(c.new) ?? repo.objects.typeOf(c.new);
      if (type === null) return refuse(i, 'missing necessary objects');
      if (c.ref.startsWith('refs/heads/') && type !== 'commit') return refuse(i, `non-commit object ${c.new} cannot be written to a branch`);
      if (c.old !== ZERO_OID && c.ref.startsWith('refs/heads/') && policy.denyNonFastForwards && !isAncestor(repo.graph, c.old, c.new)) {
        return refuse(i, 'non-fast-forward');
      }
    });
    const updates = commands.map((c): RefUpdate => ({ name: c.ref, old: c.old, new: c.new }));
    if (atomic) {
      if (results.some((r) => !r.ok)) {
        return results.map((r) => (r.ok ? { ref: r.ref, ok: false, reason: 'atomic push failed' } : r));
      }
      const failure = updateRefsAtomic(repo.gitdir, updates);
      if (failure) {
        return results.map((r) => (r.ref === failure.failed ? { ref: r.ref, ok: false, reason: clean(failure.reason) } : { ref: r.ref, ok: false, reason: 'atomic push failed' }));
      }
    } else {
      updates.forEach((u, i) => {
        if (!results[i]!.ok) return;
        try {
          updateRef(repo.gitdir, u);
        } catch (err) {
          if (!(err instanceof RefUpdateError)) throw err;
          refuse(i, clean(err.message));
        }
      });
    }
    this.fixHead(repo, commands, results);
    return results;
  }

  /** An unborn HEAD follows the first branch pushed to an empty repository (so a clone checks it out). */
  private fixHead(repo: Repo, commands: Command[], results: CommandResult[]): void {
    const head = readHead(repo.gitdir);
    if (head.oid !== null || head.target === null) return;
    const created = commands.find((c, i) => results[i]!.ok && c.new !== ZERO_OID && c.ref.startsWith('refs/heads/'));
    if (!created || readRef(repo.gitdir, head.target) !== null) return;
    try {
      writeHead(repo.gitdir, created.ref);
    } catch {
      // HEAD.lock held by someone else: HEAD stays as it was.
    }
  }
}

function clean(text: string): string {
  return text.replace(/[\r\n\u0000]/g, ' ').slice(0, 300);
}

function writeDurably(file: string, data: Buffer): void {
  const fd = fs.openSync(file, 'wx', 0o444);
  try {
    let done = 0;
    while (done < data.length) done += fs.writeSync(fd, data, done, data.length - done);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export { NameError };
