// Client paths → real paths inside the served root, the way a chrooted SFTP server sees them: the
// root is "/", a relative path starts there, and nothing ever resolves outside it. `..` that would
// climb above the root, NUL bytes, over-long paths and paths of too many components are refused
// before the file system is touched; a symlink whose target lies outside the root is refused when
// followed (the real path of what exists is checked against the real root).
import fs from 'node:fs/promises';
import { mkdirSync, realpathSync } from 'node:fs';
import path from 'node:path';

/** Longest client path accepted, bytes (Linux PATH_MAX). */
export const MAX_PATH_BYTES = 4096;
/** Most components a client path may have. */
export const MAX_PATH_COMPONENTS = 256;

export class PathRefused extends Error {
  override name = 'PathRefused';
}

/** The client's path as an absolute path under the virtual root ("/a/b"); throws PathRefused. */
export function virtualPath(clientPath: string): string {
  if (clientPath.includes('\0')) throw new PathRefused('path contains a NUL byte');
  if (Buffer.byteLength(clientPath) > MAX_PATH_BYTES) throw new PathRefused(`path is longer than ${MAX_PATH_BYTES} bytes`);
  const parts = clientPath.split('/');
  if (parts.length > MAX_PATH_COMPONENTS) throw new PathRefused(`path has more than ${MAX_PATH_COMPONENTS} components`);
  const out: string[] = [];
  for (const part of parts) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) throw new PathRefused('path leaves the SFTP root');
      out.pop();
    } else out.push(part);
  }
  return `/${out.join('/')}`;
}

export class SftpRoot {
  /** The root as given, and its real path (symlinks resolved), made once. */
  private constructor(readonly dir: string, readonly real: string) {}

  static async open(dir: string): Promise<SftpRoot> {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    return new SftpRoot(dir, await fs.realpath(dir));
  }

  /** As open(), synchronously: for a caller that must attach handlers before the next packet. */
  static openSync(dir: string): SftpRoot {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return new SftpRoot(dir, realpathSync(dir));
  }

  #inside(real: string): boolean {
    return real === this.real || real.startsWith(this.real.endsWith(path.sep) ? this.real : this.real + path.sep);
  }

  /** The real path of a virtual path, without looking at the file system. */
  join(virtual: string): string {
    return virtual === '/' ? this.real : path.join(this.real, virtual);
  }

  /**
   * A client path → the real path to use. `follow`: the last component may be a symlink that the
   * operation follows (open, stat, opendir), so its target must stay inside too; otherwise only
   * the folders above it are resolved (lstat, remove, rename, readlink, symlink).
   */
  async resolve(clientPath: string, follow: boolean): Promise<{ virtual: string; real: string }> {
    const virtual = virtualPath(clientPath);
    const real = this.join(virtual);
    if (virtual === '/') return { virtual, real };
    const checkFrom = follow ? real : path.dirname(real);
    // The deepest part that exists decides: its real path must be inside the root.
    let probe = checkFrom;
    for (let i = 0; i <= MAX_PATH_COMPONENTS; i++) {
      try {
        const resolved = await fs.realpath(probe);
        if (!this.#inside(resolved)) throw new PathRefused('path leads outside the SFTP root (through a symlink)');
        return { virtual, real };
      } catch (err) {
        if (err instanceof PathRefused) throw err;
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
        // A dangling symlink at `probe` may point outside: refuse following it.
        const link = await fs.readlink(probe).catch(() => null);
        if (link !== null && follow && probe === checkFrom) {
          const target = path.resolve(path.dirname(probe), link);
          if (!this.#inside(target)) throw new PathRefused('path leads outside the SFTP root (through a symlink)');
        }
        if (probe === this.real) return { virtual, real };
        probe = path.dirname(probe);
      }
    }
    throw new PathRefused('path is too deep');
  }

  /** A symlink target as the client gave it → what to store (relative, so it stays inside the root). */
  linkTarget(linkVirtual: string, target: string): string {
    const targetVirtual = target.startsWith('/') ? virtualPath(target) : virtualPath(path.posix.join(path.posix.dirname(linkVirtual), target));
    return path.relative(path.dirname(this.join(linkVirtual)), this.join(targetVirtual)) || '.';
  }

  /** A stored link target → what the client is shown (a virtual path when it was absolute). */
  shownTarget(target: string): string {
    if (!path.isAbsolute(target)) return target;
    return this.#inside(target) ? `/${path.relative(this.real, target)}` : target;
  }
}
