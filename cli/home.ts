// The home folder check every command makes before it touches ctx.home: read-only commands need an
// existing folder and never create one; commands that write create it (0700) level by level.
//
// Not fs.mkdirSync(home, { recursive: true }): on Node 20 that never returns for a path under
// /proc (it retries ENOENT forever at 100 % CPU), and it hides which level failed.
import fs from 'node:fs';
import path from 'node:path';
import { CliError, type CommandContext } from './command.ts';

export interface RequireHomeOptions {
  /** Create the folder (and missing parents) when absent, and require it to be writable. */
  create: boolean;
  /** Require an existing folder to be writable (implied by create). */
  writable?: boolean;
}

const REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  ENOTDIR: 'a part of the path is a file, not a folder',
  ENOENT: 'the file system does not allow a folder there',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the path is too long',
};

function reason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return (code && REASONS[code]) ?? (code || (err as Error).message);
}

/** stat that says "absent" instead of throwing; any other failure is a one-line CliError. */
function statOrAbsent(p: string, home: string): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ENOTDIR') throw new CliError(`home ${home} cannot exist: ${REASONS.ENOTDIR}`);
    throw new CliError(`cannot use home ${home}: ${reason(err)}`);
  }
}

function checkWritable(home: string): void {
  try {
    fs.accessSync(home, fs.constants.W_OK | fs.constants.X_OK);
  } catch (err) {
    throw new CliError(`home ${home} is not writable: ${reason(err)}`);
  }
}

/** Creates `home` and its missing parents one level at a time (0700), with a one-line error. */
function createHome(home: string): void {
  const missing: string[] = [];
  let dir = home;
  // Bounded by the path's depth: dirname() of the root is the root. A file on the way up is
  // reported by statOrAbsent (ENOTDIR), so the first existing ancestor is a folder.
  while (statOrAbsent(dir, home) === undefined) {
    missing.unshift(dir);
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  for (const level of missing) {
    try {
      fs.mkdirSync(level, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue; // made meanwhile by another process
      throw new CliError(`cannot create home ${home}: ${reason(err)}`);
    }
  }
}

/**
 * Checks the home folder: it exists (or, with `create`, is created) and is a folder; with `create`
 * it must also be writable. Throws a one-line CliError naming the folder and what to do.
 */
export function requireHome(ctx: Pick<CommandContext, 'home'>, options: RequireHomeOptions): void {
  const home = ctx.home;
  const st = statOrAbsent(home, home);
  if (st === undefined) {
    if (!options.create) {
      throw new CliError(`no home folder at ${home} (run "alknet init" to create a node there, or pick another --home)`);
    }
    createHome(home);
  } else if (!st.isDirectory()) {
    throw new CliError(`home ${home} is not a folder: pick another --home / ALKNET_HOME`);
  }
  if (options.create || options.writable) checkWritable(home);
}

/**
 * For client commands that can run without a home (call, ops, connect): true when the home exists
 * (it must then be a folder), false when it does not. Never creates it.
 */
export function homeExists(ctx: Pick<CommandContext, 'home'>): boolean {
  const st = statOrAbsent(ctx.home, ctx.home);
  if (st !== undefined && !st.isDirectory()) throw new CliError(`home ${ctx.home} is not a folder: pick another --home / ALKNET_HOME`);
  return st !== undefined;
}
