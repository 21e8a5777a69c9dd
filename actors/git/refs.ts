// Refs of one bare repository as git keeps them: loose files under refs/ ("OID\n"), packed-refs,
// and HEAD (a symbolic ref "ref: refs/heads/main"). Updates take git's own lock files
// (NAME.lock, created exclusively), check the ref still holds the expected old value, and rename
// the lock into place, so they are atomic against a crash and exclusive against a concurrent git
// process as well as our own pushes. A ref that held X when a push was planned and holds Y now is
// refused ("is at Y but expected X"), never overwritten.
import fs from 'node:fs';
import path from 'node:path';
import { fsyncDir } from '../../lib/atomicFile.ts';
import { isOid, ZERO_OID } from './objects.ts';

export interface Head {
  /** The ref HEAD names ("refs/heads/main"), or null for a detached HEAD. */
  target: string | null;
  /** What HEAD resolves to, or null (an unborn branch). */
  oid: string | null;
}

export class RefUpdateError extends Error {
  override name = 'RefUpdateError';
}

function readPacked(gitdir: string): Map<string, string> {
  const out = new Map<string, string>();
  let text: string;
  try {
    text = fs.readFileSync(path.join(gitdir, 'packed-refs'), 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    if (line.length < 42 || line.startsWith('#') || line.startsWith('^')) continue;
    const oid = line.slice(0, 40);
    if (isOid(oid) && line[40] === ' ') out.set(line.slice(41), oid);
  }
  return out;
}

function readLoose(file: string): string | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'latin1');
  } catch {
    return null;
  }
  const oid = text.slice(0, 40);
  return isOid(oid) ? oid : null;
}

/** Every ref under refs/ with its value, loose ones over packed ones, sorted by name. */
export function listRefs(gitdir: string): Map<string, string> {
  const refs = readPacked(gitdir);
  const walk = (rel: string, depth: number): void => {
    if (depth > 32) return;
    let names: fs.Dirent[];
    try {
      names = fs.readdirSync(path.join(gitdir, rel), { withFileTypes: true });
    } catch {
      return;
    }
    for (const d of names) {
      const child = `${rel}/${d.name}`;
      if (d.isDirectory()) walk(child, depth + 1);
      else if (d.isFile() && !d.name.endsWith('.lock')) {
        const oid = readLoose(path.join(gitdir, child));
        if (oid) refs.set(child, oid);
      }
    }
  };
  walk('refs', 0);
  return new Map([...refs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function readRef(gitdir: string, name: string): string | null {
  return readLoose(path.join(gitdir, name)) ?? readPacked(gitdir).get(name) ?? null;
}

export function readHead(gitdir: string): Head {
  let text: string;
  try {
    text = fs.readFileSync(path.join(gitdir, 'HEAD'), 'utf8').trim();
  } catch {
    return { target: null, oid: null };
  }
  if (text.startsWith('ref: ')) {
    const target = text.slice(5).trim();
    return { target, oid: target.startsWith('refs/') ? readRef(gitdir, target) : null };
  }
  return { target: null, oid: isOid(text) ? text : null };
}

export function writeHead(gitdir: string, target: string): void {
  const lock = path.join(gitdir, 'HEAD.lock');
  const fd = fs.openSync(lock, 'wx', 0o644);
  try {
    fs.writeSync(fd, `ref: ${target}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(lock, path.join(gitdir, 'HEAD'));
}

export interface RefUpdate {
  name: string;
  /** The value the client saw (ZERO_OID: the ref must not exist). */
  old: string;
  /** The new value (ZERO_OID: delete). */
  new: string;
}

/** A ref locked for update: holds NAME.lock until committed or released. */
class RefLock {
  private fd: number | null;
  constructor(readonly gitdir: string, readonly name: string, fd: number) {
    this.fd = fd;
  }
  get lockPath(): string {
    return path.join(this.gitdir, `${this.name}.lock`);
  }
  release(): void {
    if (this.fd !== null) {
      fs.closeSync(this.fd);
      this.fd = null;
    }
    fs.rmSync(this.lockPath, { force: true });
  }
  commit(value: string): void {
    const file = path.join(this.gitdir, this.name);
    if (value === ZERO_OID) {
      fs.closeSync(this.fd!);
      this.fd = null;
      fs.rmSync(file, { force: true });
      removeFromPacked(this.gitdir, this.name);
      fs.rmSync(this.lockPath, { force: true });
      pruneEmptyDirs(this.gitdir, path.dirname(this.name));
      return;
    }
    fs.writeSync(this.fd!, `${value}\n`);
    fs.fsyncSync(this.fd!);
    fs.closeSync(this.fd!);
    this.fd = null;
    fs.renameSync(this.lockPath, file);
    fsyncDir(path.dirname(file));
  }
}

function removeFromPacked(gitdir: string, name: string): void {
  const file = path.join(gitdir, 'packed-refs');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return;
  }
  const lines = text.split('\n');
  const at = lines.findIndex((l) => l.length > 41 && l.slice(41) === name);
  if (at < 0) return;
  const drop = lines[at + 1]?.startsWith('^') ? 2 : 1;
  lines.splice(at, drop);
  const lock = `${file}.lock`;
  const fd = fs.openSync(lock, 'wx', 0o644);
  try {
    fs.writeSync(fd, lines.join('\n'));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(lock, file);
}

/** Removes the folders a deleted ref leaves empty (up to, not including, refs/heads or refs/tags). */
function pruneEmptyDirs(gitdir: string, rel: string): void {
  let dir = rel;
  while (dir.split('/').length > 2) {
    try {
      fs.rmdirSync(path.join(gitdir, dir));
    } catch {
      return;
    }
    dir = path.dirname(dir);
  }
}

/**
 * Takes NAME.lock and checks the ref holds `old`. Throws RefUpdateError with git's wording for a
 * held lock, a name that clashes with an existing ref (refs/heads/a vs refs/heads/a/b) or a value
 * that moved.
 */
function lockRef(gitdir: string, update: RefUpdate, packed: Map<string, string>): RefLock {
  const { name } = update;
  const file = path.join(gitdir, name);
  // refs/heads/a/b cannot exist next to refs/heads/a (a file) and the other way round.
  const parts = name.split('/');
  for (let i = 2; i < parts.length; i++) {
    const prefix = parts.slice(0, i).join('/');
    if (packed.has(prefix) || fs.statSync(path.join(gitdir, prefix), { throwIfNoEntry: false })?.isFile()) {
      throw new RefUpdateError(`cannot lock ref '${name}': '${prefix}' exists; cannot create '${name}'`);
    }
  }
  if (update.new !== ZERO_OID) {
    const st = fs.statSync(file, { throwIfNoEntry: false });
    const packedBelow = [...packed.keys()].some((k) => k.startsWith(`${name}/`));
    if (st?.isDirectory() || packedBelow) throw new RefUpdateError(`cannot lock ref '${name}': there are refs below '${name}'`);
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  let fd: number;
  try {
    fd = fs.openSync(`${file}.lock`, 'wx', 0o644);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new RefUpdateError(`cannot lock ref '${name}': '${name}.lock' exists (another update is in progress)`);
    throw new RefUpdateError(`cannot lock ref '${name}': ${code ?? 'error'}`);
  }
  const lock = new RefLock(gitdir, name, fd);
  const current = readLoose(file) ?? packed.get(name) ?? ZERO_OID;
  if (current !== update.old) {
    lock.release();
    throw new RefUpdateError(
      update.old === ZERO_OID ? `cannot lock ref '${name}': reference already exists` : `cannot lock ref '${name}': is at ${current} but expected ${update.old}`,
    );
  }
  return lock;
}

/** One ref: locked, checked and moved (or deleted). Throws RefUpdateError. */
export function updateRef(gitdir: string, update: RefUpdate): void {
  const lock = lockRef(gitdir, update, readPacked(gitdir));
  try {
    lock.commit(update.new);
  } catch (err) {
    lock.release();
    throw new RefUpdateError(`cannot update ref '${update.name}': ${(err as Error).message}`);
  }
}

/**
 * All of them or none: every ref is locked and checked first (in name order, so two atomic pushes
 * cannot deadlock), then all are moved. A refusal is reported for the ref it concerns.
 */
export function updateRefsAtomic(gitdir: string, updates: RefUpdate[]): { failed: string; reason: string } | null {
  const packed = readPacked(gitdir);
  const locks: RefLock[] = [];
  const ordered = [...updates].sort((a, b) => (a.name < b.name ? -1 : 1));
  try {
    for (const u of ordered) locks.push(lockRef(gitdir, u, packed));
  } catch (err) {
    for (const l of locks) l.release();
    const failed = ordered[locks.length]!.name;
    return { failed, reason: (err as Error).message };
  }
  for (const [i, l] of locks.entries()) l.commit(ordered[i]!.new);
  return null;
}
