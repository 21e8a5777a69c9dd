// What `blob add DIR` stores of a folder: every regular file (with its executable bit), every
// symbolic link (as its target; never followed), every empty folder, and a list of what it could
// not store and why (sockets, FIFOs, devices, names that are not UTF-8 or hold control characters,
// folders it may not read), so the user is told instead of finding files missing later.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { MAX_COLLECTION_ENTRIES, badEntryName, type CollectionLink } from './collection.ts';
import { BlobStoreError } from './errors.ts';

export interface FolderFile {
  /** Relative POSIX name in the collection. */
  name: string;
  /** Where to read it. */
  path: string;
  executable: boolean;
}

export interface SkippedItem {
  name: string;
  reason: string;
}

export interface FolderWalk {
  files: FolderFile[];
  links: CollectionLink[];
  dirs: string[];
  skipped: SkippedItem[];
}

/** Most skipped items listed (the count beyond is still given). */
const MAX_SKIPPED_LISTED = 1000;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function errnoText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code ?? 'cannot read it';
}

/** Walks `dir` (not following links), sorted by name so the same folder gives the same collection. */
export async function walkFolder(dir: string): Promise<FolderWalk & { skippedCount: number }> {
  const out: FolderWalk & { skippedCount: number } = { files: [], links: [], dirs: [], skipped: [], skippedCount: 0 };
  let count = 0;
  const skip = (name: string, reason: string): void => {
    out.skippedCount++;
    if (out.skipped.length < MAX_SKIPPED_LISTED) out.skipped.push({ name, reason });
  };
  const counted = (): void => {
    if (++count > MAX_COLLECTION_ENTRIES) throw new BlobStoreError('INVALID_INPUT', `a folder of more than ${MAX_COLLECTION_ENTRIES} entries is over the collection limit`);
  };
  /** Returns whether anything below `rel` was stored. */
  const walk = async (rel: string, abs: string): Promise<boolean> => {
    let dirents;
    try {
      dirents = await fsp.readdir(abs, { withFileTypes: true, encoding: 'buffer' });
    } catch (err) {
      if (rel === '') throw err;
      skip(rel, errnoText(err));
      return true; // not empty: it just could not be read
    }
    const named: Array<{ name: string; dirent: (typeof dirents)[number] }> = [];
    for (const dirent of dirents) {
      let name: string;
      try {
        name = utf8.decode(dirent.name);
      } catch {
        skip(rel ? `${rel}/${dirent.name.toString('utf8')}` : dirent.name.toString('utf8'), 'its name is not UTF-8');
        continue;
      }
      named.push({ name, dirent });
    }
    named.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    let stored = false;
    for (const { name: base, dirent } of named) {
      const name = rel ? `${rel}/${base}` : base;
      const full = path.join(abs, base);
      const bad = badEntryName(name);
      if (bad) {
        skip(name, bad);
        continue;
      }
      if (dirent.isDirectory()) {
        if (!(await walk(name, full))) {
          counted();
          out.dirs.push(name);
        }
        stored = true;
      } else if (dirent.isFile()) {
        let mode: number;
        try {
          mode = (await fsp.lstat(full)).mode;
        } catch (err) {
          skip(name, errnoText(err));
          continue;
        }
        counted();
        out.files.push({ name, path: full, executable: (mode & 0o111) !== 0 });
        stored = true;
      } else if (dirent.isSymbolicLink()) {
        let target: string;
        try {
          target = await fsp.readlink(full);
        } catch (err) {
          skip(name, errnoText(err));
          continue;
        }
        if (target.includes('\0') || target.length === 0) {
          skip(name, 'its link target cannot be stored');
          continue;
        }
        counted();
        out.links.push({ name, target });
        stored = true;
      } else {
        skip(name, 'not a file, folder or link (a socket, FIFO or device)');
      }
    }
    return stored;
  };
  await walk('', dir);
  return out;
}
