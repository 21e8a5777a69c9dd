// Garbage collection and crash recovery of the blob store: which blobs tags pin (a pinned collection
// pins its children), removing the rest, and making the index and the files agree at every open.
import fs from 'node:fs';
import path from 'node:path';
import { HEADER_LEN, PARENT_LEN, treeShape } from './hash/bao.ts';
import { HASH_HEX } from './errors.ts';
import { BAO, hashFile, writeDurable } from './file-io.ts';
import type { PartialBlobs, StoreParts } from './partial.ts';

/** Partial blobs untouched for this long are collected by gc() unless tagged. */
export const PARTIAL_GRACE_MS = 60 * 60 * 1000;

export interface GcResult {
  removed: string[];
  kept: number;
}

export interface GcParts extends StoreParts {
  readonly partials: PartialBlobs;
  /** Removes every file of a blob (complete and partial). */
  removeFiles(hash: string): void;
  /** The hashes a complete collection blob lists; [] for any other blob (or one that does not decode). */
  collectionChildren(hash: string): Promise<string[]>;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The hashes tags pin: tagged blobs and, for tagged collections, their children (recursively). */
export async function pinnedHashes(parts: GcParts): Promise<Set<string>> {
  const live = new Set<string>();
  const queue = [...parts.index.tags()].map((t) => t.hash);
  while (queue.length > 0) {
    const hash = queue.pop()!;
    if (live.has(hash)) continue;
    live.add(hash);
    queue.push(...(await parts.collectionChildren(hash)));
  }
  return live;
}

/**
 * Removes every blob no tag pins, keeping every child of a pinned collection. Untagged partial
 * blobs touched within `partialGraceMs` (a fetch in progress) are kept.
 */
export async function collectGarbage(parts: GcParts, opts: { partialGraceMs?: number } = {}): Promise<GcResult> {
  const live = await pinnedHashes(parts);
  const grace = opts.partialGraceMs ?? PARTIAL_GRACE_MS;
  const now = Date.now();
  const removed: string[] = [];
  let kept = 0;
  for (const { hash, record } of [...parts.index.entries()]) {
    if (live.has(hash) || (!record.complete && now - record.updatedAt < grace)) {
      kept++;
      continue;
    }
    // Re-check under the lock: a tag may have arrived meanwhile.
    const gone = await parts.withLock(hash, async () => {
      if ([...parts.index.tags()].some((t) => t.hash === hash)) return false;
      await parts.index.remove(hash);
      await parts.partials.forget(hash);
      parts.removeFiles(hash);
      return true;
    });
    if (gone) removed.push(hash);
    else kept++;
  }
  return { removed, kept };
}

async function rewriteOutboard(parts: GcParts, hash: string, outboard: Uint8Array): Promise<void> {
  const temp = parts.layout.tempFile('obao');
  await writeDurable(temp, outboard);
  fs.renameSync(temp, parts.layout.outboardFile(hash));
}

/**
 * Makes the index and the files agree after a crash: temp files of dead processes are removed;
 * entries whose files are missing or the wrong size are dropped (complete) or reset (partial);
 * complete files without an entry are re-hashed and indexed if they match their name.
 */
export async function reconcile(parts: GcParts): Promise<{ removedTemp: number; dropped: string[]; reindexed: string[] }> {
  const { layout, index, partials } = parts;
  let removedTemp = 0;
  for (const name of fs.readdirSync(layout.tmpDir)) {
    const pid = Number(name.split('-')[0]);
    // Our own process and live ones may be adding right now (several stores may share a home).
    if (Number.isInteger(pid) && pid > 0 && (pid === process.pid || pidAlive(pid))) continue;
    fs.rmSync(path.join(layout.tmpDir, name), { force: true, recursive: true });
    removedTemp++;
  }
  const dropped: string[] = [];
  const reindexed: string[] = [];
  for (const { hash, record } of [...index.entries()]) {
    if (!HASH_HEX.test(hash)) {
      await index.remove(hash);
      continue;
    }
    if (record.complete) {
      const st = fs.statSync(layout.dataFile(hash), { throwIfNoEntry: false });
      if (!st || st.size !== record.size) {
        await index.remove(hash);
        parts.removeFiles(hash);
        dropped.push(hash);
        continue;
      }
      const ob = fs.statSync(layout.outboardFile(hash), { throwIfNoEntry: false });
      if (!ob || ob.size !== HEADER_LEN + PARENT_LEN * (treeShape(record.size, BAO).groupCount - 1)) {
        const check = await hashFile(layout.dataFile(hash));
        if (check.hash !== hash) {
          await index.remove(hash);
          parts.removeFiles(hash);
          dropped.push(hash);
          continue;
        }
        await rewriteOutboard(parts, hash, check.outboard);
        reindexed.push(hash);
      }
      partials.removeFiles(hash);
    } else {
      const st = fs.statSync(layout.partialFile(hash), { throwIfNoEntry: false });
      if (!st || st.size !== record.size) {
        const groups = treeShape(record.size, BAO).groupCount;
        await index.putPartial(hash, record.size, new Uint8Array(Math.ceil(groups / 8)));
        partials.createFile(hash, record.size);
      }
    }
  }
  for (const name of fs.readdirSync(layout.dataDir)) {
    const hash = name.endsWith('.obao') ? name.slice(0, -5) : name;
    const record = HASH_HEX.test(hash) ? index.get(hash) : undefined;
    if (record?.complete) continue;
    if (!HASH_HEX.test(hash) || name.endsWith('.obao')) {
      if (!HASH_HEX.test(hash) || !fs.existsSync(layout.dataFile(hash))) fs.rmSync(path.join(layout.dataDir, name), { force: true });
      continue;
    }
    // A complete file renamed into place whose index write did not happen: keep it if it is what
    // its name says.
    const check = await hashFile(layout.dataFile(hash));
    if (check.hash !== hash) {
      parts.removeFiles(hash);
      continue;
    }
    await rewriteOutboard(parts, hash, check.outboard);
    await index.putComplete(hash, check.size);
    partials.removeFiles(hash);
    reindexed.push(hash);
  }
  for (const name of fs.readdirSync(layout.partialDir)) {
    const hash = name.replace(/\.(obao|cvs)$/, '');
    const record = HASH_HEX.test(hash) ? index.get(hash) : undefined;
    if (!record || record.complete) fs.rmSync(path.join(layout.partialDir, name), { force: true });
  }
  return { removedTemp, dropped, reindexed };
}
