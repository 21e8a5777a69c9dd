// Walks over a repository's commit graph, as upload-pack and receive-pack need them:
// - okToGiveUp: every wanted commit reaches a commit the client has (negotiation's "ready");
// - shallowBoundary: the commits at depth N below the wants (`--depth`), and which of the client's
//   shallow commits become complete (unshallow);
// - enumerate: the objects reachable from the wants and not from what the client has, by a walk
//   ordered by commit date that marks the client's side uninteresting as it goes (git's own
//   approach: the walk stops once only uninteresting commits are left);
// - isAncestor: the fast-forward check.
// Pure over an ObjectReader; commits are parsed once per walk set (GraphCache).
import { GitFormatError, GITLINK_MODE, isTreeMode, parseCommit, parseTag, parseTree, type CommitInfo, type ObjectType } from './objects.ts';
import type { StoredObject } from './packIndexer.ts';

export interface ObjectReader {
  read(oid: string): StoredObject | null;
  typeOf(oid: string): ObjectType | null;
}

/** Parsed commits of one repository (bounded; cleared when full). */
export class GraphCache {
  private readonly commits = new Map<string, CommitInfo>();
  constructor(private readonly reader: ObjectReader, private readonly max = 500_000) {}

  /** The commit, or null if `oid` is missing or not a commit. */
  commit(oid: string): CommitInfo | null {
    const hit = this.commits.get(oid);
    if (hit) return hit;
    const obj = this.reader.read(oid);
    if (!obj || obj.type !== 'commit') return null;
    const info = parseCommit(obj.data);
    if (this.commits.size >= this.max) this.commits.clear();
    this.commits.set(oid, info);
    return info;
  }

  mustCommit(oid: string): CommitInfo {
    const c = this.commit(oid);
    if (!c) throw new GitFormatError(`commit ${oid} is missing`);
    return c;
  }

  /** Follows tags to what they finally name: [the object, its type, the tag objects on the way]. */
  peel(oid: string): { oid: string; type: ObjectType; tags: string[] } | null {
    const tags: string[] = [];
    let cur = oid;
    for (let i = 0; i < 32; i++) {
      const type = this.reader.typeOf(cur);
      if (type === null) return null;
      if (type !== 'tag') return { oid: cur, type, tags };
      tags.push(cur);
      cur = parseTag(this.reader.read(cur)!.data).object;
    }
    throw new GitFormatError(`tag chain from ${oid} is too long`);
  }
}

/** A max-heap of commits by committer time (newest first), ties by insertion. */
class DateQueue {
  private heap: Array<{ oid: string; time: number; seq: number }> = [];
  private seq = 0;
  get size(): number {
    return this.heap.length;
  }
  push(oid: string, time: number): void {
    const h = this.heap;
    h.push({ oid, time, seq: this.seq++ });
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }
  pop(): string | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.before(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top.oid;
  }
  private before(a: { time: number; seq: number }, b: { time: number; seq: number }): boolean {
    return a.time > b.time || (a.time === b.time && a.seq < b.seq);
  }
}

/**
 * Negotiation's "ready": the client has sent haves that every wanted commit reaches, so a pack
 * can be made now. Haves and their parents count; commits older than the oldest have are not
 * explored (as git does). Non-commit wants never make it ready.
 */
export function okToGiveUp(graph: GraphCache, wants: string[], commons: string[]): boolean {
  if (commons.length === 0) return false;
  const theyHave = new Set<string>();
  let oldest = Infinity;
  for (const h of commons) {
    const c = graph.commit(h);
    if (!c) continue;
    theyHave.add(h);
    for (const p of c.parents) theyHave.add(p);
    oldest = Math.min(oldest, c.time);
  }
  if (theyHave.size === 0) return false;
  const reaches = new Map<string, boolean>();
  for (const w of wants) {
    const peeled = graph.peel(w);
    if (!peeled || peeled.type !== 'commit') return false;
    if (!reachesAny(graph, peeled.oid, theyHave, oldest, reaches)) return false;
  }
  return true;
}

function reachesAny(graph: GraphCache, from: string, targets: Set<string>, oldest: number, memo: Map<string, boolean>): boolean {
  const stack = [from];
  const seen = new Set<string>();
  while (stack.length > 0) {
    const oid = stack.pop()!;
    if (targets.has(oid) || memo.get(oid) === true) {
      memo.set(from, true);
      return true;
    }
    if (seen.has(oid) || memo.get(oid) === false) continue;
    seen.add(oid);
    const c = graph.commit(oid);
    if (!c || c.time < oldest) continue;
    for (const p of c.parents) stack.push(p);
  }
  for (const s of seen) memo.set(s, false);
  return false;
}

export const INFINITE_DEPTH = 0x7fffffff;

export interface ShallowResult {
  /** New shallow commits the client is told about. */
  shallow: string[];
  /** The client's shallow commits whose parents will now be sent. */
  unshallow: string[];
}

/**
 * `deepen N`: commits N generations below the wanted commits become the client's shallow
 * boundary (the wants themselves are generation 1); commits above it are complete, and a client
 * shallow commit among those is unshallowed.
 */
export function shallowBoundary(graph: GraphCache, wants: string[], depth: number, clientShallow: ReadonlySet<string>): ShallowResult {
  if (depth >= INFINITE_DEPTH) return { shallow: [], unshallow: [...clientShallow] };
  const depthOf = new Map<string, number>();
  let frontier: string[] = [];
  for (const w of wants) {
    const p = graph.peel(w);
    if (p?.type === 'commit' && !depthOf.has(p.oid)) {
      depthOf.set(p.oid, 1);
      frontier.push(p.oid);
    }
  }
  const shallow: string[] = [];
  const complete = new Set<string>();
  for (let d = 1; frontier.length > 0; d++) {
    const next: string[] = [];
    for (const oid of frontier) {
      if (d >= depth) {
        if (!clientShallow.has(oid)) shallow.push(oid);
        continue;
      }
      complete.add(oid);
      for (const p of graph.mustCommit(oid).parents) {
        if (!depthOf.has(p)) {
          depthOf.set(p, d + 1);
          next.push(p);
        }
      }
    }
    frontier = next;
  }
  return { shallow, unshallow: [...clientShallow].filter((s) => complete.has(s)) };
}

export interface EnumerateInput {
  wants: string[];
  /** Commits the client has (negotiated commons, and unshallowed commits). */
  haves: string[];
  /** Commits treated as having no parents: the client's shallow commits and the new boundary. */
  grafts: ReadonlySet<string>;
  /** Annotated tags to add when what they name is sent (include-tag): tag object ids. */
  tagRefs?: string[];
  /** Called every few thousand objects (the caller may yield to the event loop). */
  tick?: () => void;
}

export interface Enumeration {
  /** Objects to send: commits newest first, then trees and blobs as the walk met them, then tags. */
  objects: string[];
  /** Objects the client is known to have (edge commits and their trees): bases a thin pack may use. */
  known: Set<string>;
  commits: number;
}

const UNINTERESTING = 2;
const INTERESTING = 1;

export function enumerate(graph: GraphCache, reader: ObjectReader, input: EnumerateInput): Enumeration {
  const { grafts } = input;
  const flags = new Map<string, number>();
  const processed = new Map<string, number>();
  const queue = new DateQueue();
  let interestingQueued = 0;
  const queued = new Map<string, number>(); // oid → number of queue entries pushed while interesting
  const add = new Set<string>();
  const objects: string[] = [];
  const wantCommits: string[] = [];
  const extra: Array<{ oid: string; type: ObjectType }> = [];

  for (const w of input.wants) {
    const p = graph.peel(w);
    if (!p) throw new GitFormatError(`wanted object ${w} is missing`);
    for (const t of p.tags) extra.push({ oid: t, type: 'tag' });
    if (p.type === 'commit') wantCommits.push(p.oid);
    else extra.push({ oid: p.oid, type: p.type });
  }
  const enqueue = (oid: string, flag: number): void => {
    const c = graph.commit(oid);
    if (!c) {
      if (flag === UNINTERESTING) return; // a have we cannot read: nothing to exclude by it
      throw new GitFormatError(`commit ${oid} is missing`);
    }
    queue.push(oid, c.time);
    if (flag === INTERESTING) {
      interestingQueued++;
      queued.set(oid, (queued.get(oid) ?? 0) + 1);
    }
  };
  const markUninteresting = (oid: string): void => {
    if (flags.get(oid) === UNINTERESTING) return;
    if (flags.get(oid) === INTERESTING) {
      const n = queued.get(oid) ?? 0;
      interestingQueued -= n;
      queued.delete(oid);
    }
    flags.set(oid, UNINTERESTING);
    enqueue(oid, UNINTERESTING);
  };
  for (const h of input.haves) if (graph.commit(h)) markUninteresting(h);
  for (const w of wantCommits) {
    if (!flags.has(w)) {
      flags.set(w, INTERESTING);
      enqueue(w, INTERESTING);
    }
  }

  const result: string[] = [];
  let steps = 0;
  while (queue.size > 0 && interestingQueued > 0) {
    const oid = queue.pop()!;
    const flag = flags.get(oid)!;
    if (flag === INTERESTING) {
      const n = queued.get(oid) ?? 0;
      if (n > 0) {
        interestingQueued--;
        if (n === 1) queued.delete(oid);
        else queued.set(oid, n - 1);
      }
    }
    if (processed.get(oid) === flag) continue;
    processed.set(oid, flag);
    if (++steps % 4096 === 0) input.tick?.();
    const c = graph.mustCommit(oid);
    if (flag === UNINTERESTING) {
      if (grafts.has(oid)) continue;
      for (const p of c.parents) markUninteresting(p);
    } else {
      result.push(oid);
      if (grafts.has(oid)) continue;
      for (const p of c.parents) {
        if (!flags.has(p)) {
          flags.set(p, INTERESTING);
          enqueue(p, INTERESTING);
        }
      }
    }
  }
  const commits = result.filter((oid) => flags.get(oid) === INTERESTING);

  // What the client has: its side's edge (haves, and uninteresting parents of what is sent) and their trees.
  const known = new Set<string>();
  const edges = new Set<string>(input.haves.filter((h) => flags.get(h) === UNINTERESTING));
  for (const oid of commits) {
    if (grafts.has(oid)) continue;
    for (const p of graph.mustCommit(oid).parents) if (flags.get(p) === UNINTERESTING) edges.add(p);
  }
  for (const e of edges) {
    const c = graph.commit(e);
    if (!c) continue;
    known.add(e);
    walkTree(reader, c.tree, (oid) => {
      if (known.has(oid)) return false;
      known.add(oid);
      return true;
    }, input.tick);
  }

  const take = (oid: string): boolean => {
    if (known.has(oid) || add.has(oid)) return false;
    add.add(oid);
    objects.push(oid);
    return true;
  };
  for (const oid of commits) take(oid);
  for (const oid of commits) walkTree(reader, graph.mustCommit(oid).tree, take, input.tick);
  for (const x of extra) {
    if (x.type === 'tree') walkTree(reader, x.oid, take, input.tick);
    else take(x.oid);
  }
  // include-tag: an annotated tag whose object is being sent goes along.
  for (const tag of input.tagRefs ?? []) {
    if (add.has(tag) || known.has(tag)) continue;
    const p = graph.peel(tag);
    if (p && p.tags.length > 0 && add.has(p.oid)) for (const t of p.tags) take(t);
  }
  return { objects, known, commits: commits.length };
}

/**
 * Visits a tree and everything below it; `visit(oid)` returns false to skip an object (and, for a
 * subtree, all below it). Submodule commits (gitlinks) are not visited.
 */
export function walkTree(reader: ObjectReader, root: string, visit: (oid: string) => boolean, tick?: () => void): void {
  if (!visit(root)) return;
  const stack = [root];
  let n = 0;
  while (stack.length > 0) {
    const oid = stack.pop()!;
    const obj = reader.read(oid);
    if (!obj || obj.type !== 'tree') throw new GitFormatError(`tree ${oid} is missing`);
    if (++n % 4096 === 0) tick?.();
    for (const e of parseTree(obj.data)) {
      if (e.mode === GITLINK_MODE) continue;
      if (!visit(e.oid)) continue;
      if (isTreeMode(e.mode)) stack.push(e.oid);
    }
  }
}

/** Whether `ancestor` is `descendant` or reachable from it through parents. */
export function isAncestor(graph: GraphCache, ancestor: string, descendant: string, tick?: () => void): boolean {
  if (ancestor === descendant) return true;
  const target = graph.commit(ancestor);
  if (!target) return false;
  const seen = new Set<string>([descendant]);
  const queue = new DateQueue();
  const start = graph.commit(descendant);
  if (!start) return false;
  queue.push(descendant, start.time);
  let n = 0;
  while (queue.size > 0) {
    const oid = queue.pop()!;
    if (oid === ancestor) return true;
    if (++n % 4096 === 0) tick?.();
    const c = graph.commit(oid);
    if (!c) continue;
    for (const p of c.parents) {
      if (seen.has(p)) continue;
      seen.add(p);
      const pc = graph.commit(p);
      if (pc) queue.push(p, pc.time);
    }
  }
  return false;
}

/** Whether `oid` is reachable from one of `tips` (a want that is no longer a tip, stateless HTTP). */
export function reachableFrom(graph: GraphCache, reader: ObjectReader, oid: string, tips: string[]): boolean {
  const type = reader.typeOf(oid);
  if (type !== 'commit') return false;
  const seen = new Set<string>();
  const stack: string[] = [];
  for (const t of tips) {
    const p = graph.peel(t);
    if (p?.type === 'commit') stack.push(p.oid);
  }
  while (stack.length > 0) {
    const cur = stack.pop()!;
    if (cur === oid) return true;
    if (seen.has(cur)) continue;
    seen.add(cur);
    const c = graph.commit(cur);
    if (c) stack.push(...c.parents);
  }
  return false;
}
