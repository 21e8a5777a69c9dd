// The SFTP file server: answers the requests of one SFTP session (ssh2's SFTP object in server mode,
// whether it came as the `sftp` subsystem of alknet/ssh or straight on alknet/sftp) from the files
// under an SftpRoot. ssh2 parses the packets (its own length limit: 256 KiB); the handlers are ours.
// Runs as the node's user; every path goes through SftpRoot.resolve first.
import fs from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import path from 'node:path';
import ssh2, { type Attributes, type InputAttributes, type SFTPWrapper } from 'ssh2';
import { PathRefused, type SftpRoot } from './rootPath.ts';

const { STATUS_CODE, OPEN_MODE } = ssh2.utils.sftp;

/** Open handles one session may hold (files and folders). */
export const MAX_OPEN_HANDLES = 256;
/** Largest READ answered at once; a client asking more gets a short read and asks again. */
export const MAX_READ_BYTES = 64 * 1024;
/** Requests one session may have waiting; OpenSSH's clients keep at most 64 to 256 in flight. */
export const MAX_QUEUED = 1024;
/** Folder entries per READDIR answer. */
const DIR_BATCH = 128;

export interface SftpLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

type Handle =
  | { kind: 'file'; file: FileHandle; virtual: string }
  | { kind: 'dir'; real: string; virtual: string; entries: string[] | null; at: number };

function attrsOf(st: Stats): Attributes {
  return { mode: st.mode, uid: st.uid, gid: st.gid, size: st.size, atime: Math.floor(st.atimeMs / 1000), mtime: Math.floor(st.mtimeMs / 1000) };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** An `ls -l` line, which SFTP v3 clients print as is. */
function longName(name: string, st: Stats): string {
  const type = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : '-';
  const bits = 'rwxrwxrwx'.split('').map((c, i) => (st.mode & (0o400 >> i) ? c : '-')).join('');
  const d = st.mtime;
  return `${type}${bits} ${st.nlink} ${st.uid} ${st.gid} ${st.size} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2)} ${d.getFullYear()} ${name}`;
}

function statusOf(err: unknown): { code: number; message: string } {
  if (err instanceof PathRefused) return { code: STATUS_CODE.PERMISSION_DENIED, message: err.message };
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT': return { code: STATUS_CODE.NO_SUCH_FILE, message: 'no such file' };
    case 'EACCES': case 'EPERM': return { code: STATUS_CODE.PERMISSION_DENIED, message: 'permission denied' };
    case 'EEXIST': return { code: STATUS_CODE.FAILURE, message: 'already exists' };
    case 'ENOTEMPTY': return { code: STATUS_CODE.FAILURE, message: 'folder not empty' };
    case 'ENOTDIR': return { code: STATUS_CODE.NO_SUCH_FILE, message: 'not a folder' };
    case 'EISDIR': return { code: STATUS_CODE.FAILURE, message: 'is a folder' };
    default: return { code: STATUS_CODE.FAILURE, message: 'operation failed' };
  }
}

function openFlags(flags: number): string | number {
  const { READ, WRITE, APPEND, CREAT, TRUNC, EXCL } = OPEN_MODE;
  const c = fs.constants;
  let out = (flags & READ) && (flags & WRITE) ? c.O_RDWR : flags & WRITE ? c.O_WRONLY : c.O_RDONLY;
  if (flags & APPEND) out |= c.O_APPEND;
  if (flags & CREAT) out |= c.O_CREAT;
  if (flags & TRUNC) out |= c.O_TRUNC;
  if (flags & EXCL) out |= c.O_EXCL;
  return out; // symlinks are followed: resolve() checked where they lead
}

async function applyAttrs(real: string, attrs: InputAttributes, file?: FileHandle): Promise<void> {
  if (attrs.mode !== undefined) await (file ? file.chmod(Number(attrs.mode) & 0o7777) : fs.chmod(real, Number(attrs.mode) & 0o7777));
  if (attrs.size !== undefined) await (file ? file.truncate(attrs.size) : fs.truncate(real, attrs.size));
  if (attrs.atime !== undefined && attrs.mtime !== undefined) {
    const a = Number(attrs.atime), m = Number(attrs.mtime);
    await (file ? file.utimes(a, m) : fs.utimes(real, a, m));
  }
  // uid/gid are not changed: the server runs as one user.
}

/** Serves one SFTP session until it ends; closes every handle it left open. */
export function serveSftp(sftp: SFTPWrapper, root: SftpRoot, ctx: { log: SftpLog; who: string; remote: string }): void {
  const handles = new Map<number, Handle>();
  let nextHandle = 1;
  let refusals = 0;

  const handleId = (buf: Buffer): number => (buf.length === 4 ? buf.readUInt32BE(0) : -1);
  const newHandle = (h: Handle): Buffer | null => {
    if (handles.size >= MAX_OPEN_HANDLES) return null;
    const id = nextHandle++;
    handles.set(id, h);
    const buf = Buffer.alloc(4);
    buf.writeUInt32BE(id >>> 0);
    return buf;
  };
  const fail = (reqid: number, err: unknown): void => {
    const { code, message } = statusOf(err);
    if (err instanceof PathRefused && refusals++ < 20) ctx.log.warn({ remote: ctx.remote, who: ctx.who }, `sftp path refused: ${err.message}`);
    if (!(err instanceof PathRefused) && code === STATUS_CODE.FAILURE) ctx.log.info({ remote: ctx.remote, error: (err as Error).message?.slice(0, 200) }, 'sftp operation failed');
    sftp.status(reqid, code, message);
  };
  const ok = (reqid: number): void => {
    sftp.status(reqid, STATUS_CODE.OK);
  };
  // Requests run one after another, in the order they came, as OpenSSH's sftp-server does: its
  // client (scp's in-place upload) relies on answers in order. Bounded: past MAX_QUEUED a request is
  // answered FAILURE at once instead of waiting.
  let chain: Promise<void> = Promise.resolve();
  let queued = 0;
  /** Runs one request; an error (or a refusal) becomes its status, never a crash. */
  const handle = (reqid: number, work: () => Promise<void>): void => {
    if (queued >= MAX_QUEUED) {
      sftp.status(reqid, STATUS_CODE.FAILURE, 'too many requests in flight');
      return;
    }
    queued++;
    chain = chain.then(work).catch((err) => {
      try {
        fail(reqid, err);
      } catch {
        // the session is gone
      }
    }).finally(() => {
      queued--;
    });
  };

  sftp.on('OPEN', (reqid, filename, flags, attrs) => handle(reqid, async () => {
    const { real, virtual } = await root.resolve(filename, true);
    const file = await fs.open(real, openFlags(flags), attrs.mode !== undefined ? attrs.mode & 0o777 : 0o644);
    const h = newHandle({ kind: 'file', file, virtual });
    if (!h) {
      await file.close();
      return sftp.status(reqid, STATUS_CODE.FAILURE, `more than ${MAX_OPEN_HANDLES} open handles`);
    }
    sftp.handle(reqid, h);
  }));
  sftp.on('READ', (reqid, hbuf, offset, length) => handle(reqid, async () => {
    const h = handles.get(handleId(hbuf));
    if (!h || h.kind !== 'file') return sftp.status(reqid, STATUS_CODE.FAILURE, 'bad handle');
    const buf = Buffer.allocUnsafe(Math.min(length, MAX_READ_BYTES));
    const { bytesRead } = await h.file.read(buf, 0, buf.length, offset);
    if (bytesRead === 0) return sftp.status(reqid, STATUS_CODE.EOF);
    sftp.data(reqid, buf.subarray(0, bytesRead));
  }));
  sftp.on('WRITE', (reqid, hbuf, offset, view) => {
    // ssh2 hands a view into its packet buffer, which it may reuse before our write runs: copy it.
    const data = Buffer.from(view);
    handleWrite(reqid, hbuf, offset, data);
  });
  const handleWrite = (reqid: number, hbuf: Buffer, offset: number, data: Buffer): void => handle(reqid, async () => {
    const h = handles.get(handleId(hbuf));
    if (!h || h.kind !== 'file') return sftp.status(reqid, STATUS_CODE.FAILURE, 'bad handle');
    await h.file.write(data, 0, data.length, offset);
    ok(reqid);
  });
  sftp.on('FSTAT', (reqid, hbuf) => handle(reqid, async () => {
    const h = handles.get(handleId(hbuf));
    if (!h) return sftp.status(reqid, STATUS_CODE.FAILURE, 'bad handle');
    sftp.attrs(reqid, attrsOf(h.kind === 'file' ? await h.file.stat() : await fs.stat(h.real)));
  }));
  sftp.on('FSETSTAT', (reqid, hbuf, attrs) => handle(reqid, async () => {
    const h = handles.get(handleId(hbuf));
    if (!h || h.kind !== 'file') return sftp.status(reqid, STATUS_CODE.FAILURE, 'bad handle');
    await applyAttrs('', attrs, h.file);
    ok(reqid);
  }));
  sftp.on('CLOSE', (reqid, hbuf) => handle(reqid, async () => {
    const id = handleId(hbuf);
    const h = handles.get(id);
    if (!h) return sftp.status(reqid, STATUS_CODE.FAILURE, 'bad handle');
    handles.delete(id);
    if (h.kind === 'file') await h.file.close();
    ok(reqid);
  }));
  sftp.on('OPENDIR', (reqid, dir) => handle(reqid, async () => {
    const { real, virtual } = await root.resolve(dir, true);
    if (!(await fs.stat(real)).isDirectory()) return sftp.status(reqid, STATUS_CODE.FAILURE, 'not a folder');
    const h = newHandle({ kind: 'dir', real, virtual, entries: null, at: 0 });
    if (!h) return sftp.status(reqid, STATUS_CODE.FAILURE, `more than ${MAX_OPEN_HANDLES} open handles`);
    sftp.handle(reqid, h);
  }));
  sftp.on('READDIR', (reqid, hbuf) => handle(reqid, async () => {
    const h = handles.get(handleId(hbuf));
    if (!h || h.kind !== 'dir') return sftp.status(reqid, STATUS_CODE.FAILURE, 'bad handle');
    h.entries ??= ['.', '..', ...(await fs.readdir(h.real))];
    if (h.at >= h.entries.length) return sftp.status(reqid, STATUS_CODE.EOF);
    const batch = h.entries.slice(h.at, h.at + DIR_BATCH);
    h.at += batch.length;
    const names = [];
    for (const name of batch) {
      const st = await fs.lstat(path.join(h.real, name)).catch(() => null);
      if (st) names.push({ filename: name, longname: longName(name, st), attrs: attrsOf(st) });
    }
    sftp.name(reqid, names);
  }));
  const statRequest = (follow: boolean) => (reqid: number, p: string) => handle(reqid, async () => {
    const { real } = await root.resolve(p, follow);
    sftp.attrs(reqid, attrsOf(follow ? await fs.stat(real) : await fs.lstat(real)));
  });
  sftp.on('STAT', statRequest(true));
  sftp.on('LSTAT', statRequest(false));
  sftp.on('SETSTAT', (reqid, p, attrs) => handle(reqid, async () => {
    const { real } = await root.resolve(p, true);
    await applyAttrs(real, attrs);
    ok(reqid);
  }));
  sftp.on('REMOVE', (reqid, p) => handle(reqid, async () => {
    const { real, virtual } = await root.resolve(p, false);
    if (virtual === '/') throw new PathRefused('the root cannot be removed');
    await fs.unlink(real);
    ok(reqid);
  }));
  sftp.on('RMDIR', (reqid, p) => handle(reqid, async () => {
    const { real, virtual } = await root.resolve(p, false);
    if (virtual === '/') throw new PathRefused('the root cannot be removed');
    await fs.rmdir(real);
    ok(reqid);
  }));
  sftp.on('MKDIR', (reqid, p, attrs) => handle(reqid, async () => {
    const { real } = await root.resolve(p, false);
    await fs.mkdir(real, { mode: attrs.mode !== undefined ? attrs.mode & 0o777 : 0o755 });
    ok(reqid);
  }));
  sftp.on('REALPATH', (reqid, p) => handle(reqid, async () => {
    const { virtual } = await root.resolve(p === '' ? '.' : p, false);
    sftp.name(reqid, [{ filename: virtual, longname: virtual, attrs: {} as Attributes }]);
  }));
  sftp.on('RENAME', (reqid, from, to) => handle(reqid, async () => {
    const a = await root.resolve(from, false);
    const b = await root.resolve(to, false);
    if (a.virtual === '/' || b.virtual === '/') throw new PathRefused('the root cannot be renamed');
    // SFTP v3 rename does not replace an existing file.
    if (await fs.lstat(b.real).then(() => true, () => false)) return sftp.status(reqid, STATUS_CODE.FAILURE, 'target exists');
    await fs.rename(a.real, b.real);
    ok(reqid);
  }));
  sftp.on('READLINK', (reqid, p) => handle(reqid, async () => {
    const { real } = await root.resolve(p, false);
    const target = root.shownTarget(await fs.readlink(real));
    sftp.name(reqid, [{ filename: target, longname: target, attrs: {} as Attributes }]);
  }));
  sftp.on('SYMLINK', (reqid, linkPath, targetPath) => handle(reqid, async () => {
    const link = await root.resolve(linkPath, false);
    await fs.symlink(root.linkTarget(link.virtual, targetPath), link.real);
    ok(reqid);
  }));

  const closeAll = (): void => {
    for (const h of handles.values()) if (h.kind === 'file') void h.file.close().catch(() => {});
    handles.clear();
  };
  sftp.on('close', closeAll);
  // The client's EOF ends the session: close the channel too, or the client waits for it.
  sftp.on('end', () => {
    closeAll();
    sftp.end();
  });
  sftp.on('error', (err: Error) => {
    ctx.log.info({ remote: ctx.remote, error: err.message.slice(0, 200) }, 'sftp session error; closing it');
    closeAll();
  });
}
