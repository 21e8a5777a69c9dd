// Git objects as bytes: the four types, their ids (SHA-1 of "TYPE SIZE\0" + content) and the parsers
// the server needs (a commit's tree, parents and date; a tree's entries; a tag's target). Pure: no
// file system. Every parser checks what it reads and throws GitFormatError with a one-line reason,
// so a malformed object pushed by a client is refused rather than trusted.
import { createHash } from 'node:crypto';

export type ObjectType = 'commit' | 'tree' | 'blob' | 'tag';

/** Pack type numbers (1–4 whole objects, 6 and 7 deltas). */
export const TYPE_NUMBER: Record<ObjectType, number> = { commit: 1, tree: 2, blob: 3, tag: 4 };
export const TYPE_OF_NUMBER: Record<number, ObjectType | undefined> = { 1: 'commit', 2: 'tree', 3: 'blob', 4: 'tag' };

export const ZERO_OID = '0'.repeat(40);
const OID = /^[0-9a-f]{40}$/;

export class GitFormatError extends Error {
  override name = 'GitFormatError';
}

export function isOid(text: string): boolean {
  return OID.test(text);
}

export function objectHeader(type: ObjectType, size: number): Buffer {
  return Buffer.from(`${type} ${size}\0`, 'latin1');
}

/** The object id of `content` as an object of `type`. */
export function hashObject(type: ObjectType, content: Uint8Array): string {
  return createHash('sha1').update(objectHeader(type, content.byteLength)).update(content).digest('hex');
}

export interface CommitInfo {
  tree: string;
  parents: string[];
  /** Committer time, seconds since the epoch (0 when absent or unreadable). */
  time: number;
}

/** The header fields of a commit that walks need; a commit without a valid tree line is refused. */
export function parseCommit(content: Uint8Array): CommitInfo {
  const buf = Buffer.from(content.buffer, content.byteOffset, content.byteLength);
  let at = 0;
  let tree: string | undefined;
  const parents: string[] = [];
  let time = 0;
  let first = true;
  while (at < buf.length) {
    const nl = buf.indexOf(0x0a, at);
    if (nl < 0) throw new GitFormatError('commit header is not terminated');
    if (nl === at) break; // blank line: the message follows
    const line = buf.toString('latin1', at, nl);
    at = nl + 1;
    if (first) {
      first = false;
      if (!line.startsWith('tree ') || !isOid(line.slice(5))) throw new GitFormatError('commit does not start with a valid tree line');
      tree = line.slice(5);
      continue;
    }
    if (line.startsWith('parent ')) {
      const p = line.slice(7);
      if (!isOid(p)) throw new GitFormatError('commit has an invalid parent line');
      parents.push(p);
    } else if (line.startsWith('committer ')) {
      const m = / (\d{1,16}) [+-]\d{4}$/.exec(line);
      if (m) time = Number(m[1]);
    }
  }
  if (tree === undefined) throw new GitFormatError('commit has no tree');
  return { tree, parents, time };
}

export interface TreeEntry {
  mode: string;
  name: string;
  oid: string;
}

export const GITLINK_MODE = '160000';
const TREE_MODES = new Set(['40000', '100644', '100755', '120000', GITLINK_MODE, '100664', '100640', '100600', '100444']);

/** A tree's entries. Modes, names (no "/", NUL, ".", "..", empty) and ids are checked. */
export function parseTree(content: Uint8Array): TreeEntry[] {
  const buf = Buffer.from(content.buffer, content.byteOffset, content.byteLength);
  const out: TreeEntry[] = [];
  let at = 0;
  while (at < buf.length) {
    const sp = buf.indexOf(0x20, at);
    if (sp < 0 || sp - at > 7) throw new GitFormatError('tree entry has no valid mode');
    const mode = buf.toString('latin1', at, sp);
    if (!TREE_MODES.has(mode)) throw new GitFormatError(`tree entry has an unknown mode ${JSON.stringify(mode.slice(0, 8))}`);
    const nul = buf.indexOf(0, sp + 1);
    if (nul < 0 || nul + 21 > buf.length) throw new GitFormatError('tree entry is truncated');
    const name = buf.toString('utf8', sp + 1, nul);
    if (name.length === 0 || name === '.' || name === '..' || name.includes('/')) throw new GitFormatError('tree entry has an invalid name');
    out.push({ mode, name, oid: buf.toString('hex', nul + 1, nul + 21) });
    at = nul + 21;
  }
  return out;
}

/** Whether a tree entry's mode names a subtree. */
export function isTreeMode(mode: string): boolean {
  return mode === '40000';
}

export interface TagInfo {
  object: string;
  type: ObjectType;
}

export function parseTag(content: Uint8Array): TagInfo {
  const text = Buffer.from(content.buffer, content.byteOffset, Math.min(content.byteLength, 256)).toString('latin1');
  const m = /^object ([0-9a-f]{40})\ntype (commit|tree|blob|tag)\n/.exec(text);
  if (!m) throw new GitFormatError('tag does not start with valid object and type lines');
  return { object: m[1]!, type: m[2] as ObjectType };
}

/** The ids an object refers to (commit: tree and parents; tree: entries but gitlinks; tag: its object). */
export function referencedOids(type: ObjectType, content: Uint8Array): string[] {
  switch (type) {
    case 'commit': {
      const c = parseCommit(content);
      return [c.tree, ...c.parents];
    }
    case 'tree':
      return parseTree(content).filter((e) => e.mode !== GITLINK_MODE).map((e) => e.oid);
    case 'tag':
      return [parseTag(content).object];
    case 'blob':
      return [];
  }
}
