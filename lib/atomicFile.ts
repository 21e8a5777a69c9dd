// Atomic file replacement: write a temp file beside the target, fsync it, then rename (or link, for
// "create only if absent") and fsync the folder. A crash at any point leaves the old file or the
// new one, never a torn one; a leftover temp file is harmless and is swept on the next write.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

export interface AtomicWriteOptions {
  /** File mode of the new file (default 0600). */
  mode?: number;
  /** Fail with EEXIST instead of replacing an existing file. */
  exclusive?: boolean;
  /** Called after the temp file is durable and before it takes the target's name (tests simulate crashes here). */
  beforeRename?: (tempFile: string) => void;
}

const TEMP_MARK = '.tmp-';

export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some platforms (Windows) cannot fsync a folder; the rename is still atomic there.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Removes temp files a crashed earlier write left beside `file`. */
export function sweepTempFiles(file: string): void {
  const dir = path.dirname(file);
  const prefix = path.basename(file) + TEMP_MARK;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (name.startsWith(prefix)) fs.rmSync(path.join(dir, name), { force: true });
  }
}

export function writeFileAtomic(file: string, data: Uint8Array | string, options: AtomicWriteOptions = {}): void {
  const temp = `${file}${TEMP_MARK}${process.pid}-${randomBytes(6).toString('hex')}`;
  const fd = fs.openSync(temp, 'wx', options.mode ?? 0o600);
  let renamed = false;
  try {
    try {
      fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    options.beforeRename?.(temp);
    if (options.exclusive) {
      // link() refuses to replace an existing name, atomically; rename() would overwrite it.
      fs.linkSync(temp, file);
      fs.rmSync(temp, { force: true });
    } else {
      fs.renameSync(temp, file);
    }
    renamed = true;
    fsyncDir(path.dirname(file));
  } finally {
    if (!renamed) fs.rmSync(temp, { force: true });
  }
}
