// `alknet blob add FILE|DIR | ls | get HASH [-o PATH] | tag NAME HASH | untag NAME | rm HASH | gc`:
// the home's blob store, with no running node needed. The command starts the fs actor in its own
// process (a local bus and the actor, actors/fs/local.ts) and talks to it by message, exactly as a
// node's code does: the actor stays the only owner of the store (LMDB lets a node and the CLI share
// the home). Decisions (what `get` refuses to overwrite, terminals, names): docs/blob-store.md.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { CliError, UsageError, type Command, type CommandContext } from '../command.ts';
import type { Bus } from '../../bus/bus.ts';
import { BusError } from '../../bus/errors.ts';
import type { FetchProgress } from '../../protocols/blobs/fetch.ts';
import { describe } from './index.ts';
import { parseCommandArgs } from '../args.ts';
import { requireHome } from '../home.ts';
import { withLocalServices } from '../localServices.ts';
import { verboseLogger } from '../verbose.ts';

type FsBus = Pick<Bus, 'request' | 'subscribe'>;

/** Content read per fs.readBytes request (the message carries at most 8 MiB). */
const READ_BYTES = 4 * 1024 * 1024;
/** A blob printed to a terminal must be text and at most this big; anything else needs -o or a pipe. */
const TTY_MAX_BYTES = 1024 * 1024;
/** fs.addPath may read a large folder: its deadline is generous (it is local and bounded by the disk). */
const ADD_DEADLINE_MS = 24 * 60 * 60 * 1000;
const D = { deadlineMs: 60_000 };

/** Control characters (C0, DEL, C1) shown as \xNN, so a name can never drive the terminal. */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * Runs `fn` against the fs actor of the home, started here and stopped after. `create`: commands
 * that bring blobs in may create the home; every other command needs an existing one.
 */
async function withFs<T>(ctx: CommandContext, mode: { create?: boolean; writable?: boolean }, fn: (bus: FsBus) => Promise<T>): Promise<T> {
  requireHome(ctx, mode.create ? { create: true } : { create: false, ...(mode.writable ? { writable: true } : {}) });
  const { startLocalFs } = await import('../../actors/fs/local.ts');
  // Store errors carry a code and a one-line message (no path): shown as the command's failure.
  return withLocalServices(startLocalFs(ctx.home), fn);
}

function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds > 99 * 3600) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/**
 * A one-line progress bar on a TTY stderr (nothing otherwise), redrawn at most every 100 ms: bytes
 * done of the total, the rate since the start and the time left at that rate.
 */
export function progressBar(stderr: CommandContext['stderr'], now: () => number = () => performance.now()): {
  update(done: number, total: number, suffix?: string): void;
  done(): void;
} {
  if (!stderr.isTTY) return { update() {}, done() {} };
  const started = now();
  let last = -Infinity;
  let drawn = false;
  let latest: [number, number, string] = [0, 0, ''];
  const draw = (done: number, total: number, suffix: string): void => {
    const width = 30;
    const filled = Math.round((total > 0 ? Math.min(1, done / total) : 1) * width);
    const seconds = (now() - started) / 1000;
    const rate = seconds > 0.2 ? done / seconds : 0;
    const speed = rate > 0 ? `  ${formatBytes(rate)}/s  ETA ${formatDuration(Math.max(0, total - done) / rate)}` : '';
    stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${formatBytes(done)} / ${formatBytes(total)}${speed}${suffix}\x1b[K`);
    drawn = true;
  };
  return {
    update(done, total, suffix = '') {
      latest = [done, total, suffix];
      const t = now();
      if (t - last < 100 && done < total) return;
      last = t;
      draw(done, total, suffix);
    },
    done() {
      if (!drawn) return;
      draw(latest[1], latest[1], latest[2]);
      stderr.write('\n');
    },
  };
}

/** Bytes of regular files under `p` (links not followed, unreadable parts counted as 0): the bar's total. */
function sizeOfTree(p: string, depth = 0): number {
  const st = fs.lstatSync(p, { throwIfNoEntry: false });
  if (!st) return 0;
  if (st.isFile()) return st.size;
  if (!st.isDirectory() || depth > 256) return 0;
  let names: string[];
  try {
    names = fs.readdirSync(p);
  } catch {
    return 0;
  }
  return names.reduce((n, name) => n + sizeOfTree(path.join(p, name), depth + 1), 0);
}

// ----------------------------------------------------------------------------------------- add

const add: Command = {
  ...describe('blob add'),
  async run(ctx) {
    const { positionals: positional, values } = parseCommandArgs(ctx, { tag: { type: 'string' } }, { min: 1 });
    const target = path.resolve(positional[0]!);
    const st = fs.statSync(target, { throwIfNoEntry: false });
    if (!st) throw new CliError(`${printable(positional[0]!)}: no such file or folder`);
    if (!st.isFile() && !st.isDirectory()) throw new CliError(`${printable(positional[0]!)}: not a regular file or folder`);
    const result = await withFs(ctx, { create: true }, async (bus) => {
      const bar = progressBar(ctx.stderr);
      const total = ctx.stderr.isTTY ? sizeOfTree(target) : 0;
      const progressId = randomBytes(8).toString('hex');
      const unsubscribe = bus.subscribe('fs.addProgress', (p) => {
        if (p.progressId === progressId) bar.update(p.bytes, total);
      });
      try {
        const r = await bus.request('fs', 'fs.addPath', { path: target, progressId, ...(values.tag !== undefined ? { tag: values.tag } : {}) }, { deadlineMs: ADD_DEADLINE_MS });
        bar.update(total, total);
        return r;
      } finally {
        unsubscribe();
        bar.done();
      }
    });
    // Said, not silently dropped: what a collection could not hold (sockets, FIFOs, odd names).
    for (const s of result.skipped) ctx.stderr.write(`alknet: skipped ${printable(s.name)}: ${printable(s.reason)}\n`);
    if (result.skippedCount > result.skipped.length) ctx.stderr.write(`alknet: skipped ${result.skippedCount - result.skipped.length} more\n`);
    const { hash, size, collection, files, links, dirs, skippedCount } = result;
    ctx.stdout.write(ctx.json ? `${JSON.stringify({ hash, size, collection, files, links, dirs, skipped: skippedCount })}\n` : `${hash}\n`);
  },
};

// ------------------------------------------------------------------------------------------ ls

const ls: Command = {
  ...describe('blob ls'),
  async run(ctx) {
    parseCommandArgs(ctx, {});
    const blobs = await withFs(ctx, {}, async (bus) => {
      const all: Array<{ hash: string; size: number; complete: boolean; groups: number; verifiedGroups: number; tags: string[] }> = [];
      let after: string | undefined;
      // Page by page (1000 per message); bounded by the store's own size.
      for (;;) {
        const page = await bus.request('fs', 'fs.list', { ...(after ? { after } : {}) }, D);
        all.push(...page.blobs);
        if (!page.more || page.blobs.length === 0) break;
        after = page.blobs[page.blobs.length - 1]!.hash;
      }
      return all;
    });
    if (ctx.json) {
      ctx.stdout.write(`${JSON.stringify(blobs.map(({ hash, size, complete, tags }) => ({ hash, size, complete, tags })))}\n`);
      return;
    }
    for (const b of blobs) {
      const tags = b.tags.length ? `  ${b.tags.map(printable).join(',')}` : '';
      ctx.stdout.write(`${b.hash}  ${formatBytes(b.size).padStart(10)}  ${b.complete ? 'complete' : `partial ${b.verifiedGroups}/${b.groups}`}${tags}\n`);
    }
  },
};

// ----------------------------------------------------------------------------------------- get

/** The content of a complete blob, in pieces of 4 MiB, the next one asked while this one is used. */
async function* readBlob(bus: FsBus, hash: string, size: number): AsyncGenerator<Uint8Array> {
  const read = (at: number): Promise<Uint8Array> =>
    bus.request('fs', 'fs.readBytes', { hash, ranges: [{ start: at, len: Math.min(READ_BYTES, size - at) }] }, D).then((r) => r.bytes);
  let next: Promise<Uint8Array> | undefined = size > 0 ? read(0) : undefined;
  for (let at = 0; at < size;) {
    const piece = await next!;
    at += piece.length;
    if (piece.length === 0) throw new CliError(`blob ${hash} is shorter than its size`);
    next = at < size ? read(at) : undefined;
    next?.catch(() => undefined);
    yield piece;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Text a terminal can show as is: UTF-8, no control characters but tab, newline and carriage return. */
function isText(bytes: Uint8Array): boolean {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return false;
  }
  return !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/.test(text);
}

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** A fresh name beside `target` (same folder, so a rename into place never crosses file systems). */
function besideTemp(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.alknet-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/**
 * Writes a blob to `file`: into a temp file beside it (fsynced), then into place. Without `force` an
 * existing file is never replaced: the temp is hard-linked to the name, which fails if the name
 * exists (no window between a check and the write).
 */
async function writeBlobFile(bus: FsBus, hash: string, size: number, file: string, opts: { force: boolean; executable?: boolean; mkdirs?: boolean }): Promise<void> {
  if (opts.mkdirs) fs.mkdirSync(path.dirname(file), { recursive: true });
  const temp = besideTemp(file);
  try {
    const fh = await fs.promises.open(temp, 'wx', opts.executable ? 0o777 : 0o666);
    try {
      for await (const piece of readBlob(bus, hash, size)) {
        let done = 0;
        while (done < piece.length) done += (await fh.write(piece, done, piece.length - done)).bytesWritten;
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (opts.force) {
      try {
        fs.renameSync(temp, file);
      } catch (err) {
        throw new CliError(`cannot write ${printable(file)}: ${errnoOf(err) === 'EISDIR' ? 'it is a folder' : errnoOf(err) ?? 'error'}`);
      }
      return;
    }
    try {
      fs.linkSync(temp, file);
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'EEXIST') throw new CliError(`${printable(file)} exists; use --force to replace it`);
      // A file system without hard links: check, then rename (a small window, said in the docs).
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV') throw new CliError(`cannot write ${printable(file)}: ${code ?? 'error'}`);
      if (fs.existsSync(file)) throw new CliError(`${printable(file)} exists; use --force to replace it`);
      fs.renameSync(temp, file);
    }
  } finally {
    fs.rmSync(temp, { force: true });
  }
}

interface CollectionReply {
  entries: Array<{ name: string; hash: string; executable?: boolean }>;
  links: Array<{ name: string; target: string }>;
  dirs: string[];
}

/**
 * What stops writing a collection into an existing folder: a file of the same name (unless
 * `force`), a folder where a file goes or a file where a folder goes, and a symbolic link on the
 * way (never written through, even with --force).
 */
function conflicts(target: string, coll: CollectionReply, force: boolean): string[] {
  const found: string[] = [];
  const check = (name: string, kind: 'file' | 'dir'): void => {
    const parts = name.split('/');
    for (let i = 0; i < parts.length; i++) {
      const p = path.join(target, ...parts.slice(0, i + 1));
      const st = fs.lstatSync(p, { throwIfNoEntry: false });
      if (!st) return; // the rest of the path is new
      const last = i === parts.length - 1;
      if (!last || kind === 'dir') {
        if (st.isSymbolicLink()) return void found.push(`${printable(p)} is a symbolic link (blob get never writes through one)`);
        if (!st.isDirectory()) return void found.push(`${printable(p)} is in the way (not a folder)`);
        continue;
      }
      if (st.isDirectory()) return void found.push(`${printable(p)} is a folder`);
      if (!force) return void found.push(`${printable(p)} exists; use --force to replace it`);
    }
  };
  for (const e of coll.entries) check(e.name, 'file');
  for (const l of coll.links) check(l.name, 'file');
  for (const d of coll.dirs) check(d, 'dir');
  return found;
}

/**
 * Writes a collection as a folder. Everything is written into a temp folder beside the target
 * first; a new target is that folder renamed into place at the end, so a failure leaves no half-
 * written folder. Into an existing folder, every conflict is found before anything is written,
 * and the entries are then moved in (renames in one file system).
 */
async function writeCollection(bus: FsBus, hash: string, target: string, force: boolean): Promise<void> {
  const coll: CollectionReply = await bus.request('fs', 'fs.readCollection', { hash }, D);
  const sizes = new Map<string, number>();
  for (const e of coll.entries) {
    if (sizes.has(e.hash)) continue;
    const stat = await bus.request('fs', 'fs.stat', { hash: e.hash }, D).catch(() => undefined);
    if (!stat?.complete) throw new CliError(`collection entry ${printable(e.name)} (${e.hash}) is not in the store`);
    sizes.set(e.hash, stat.size);
  }
  const existing = fs.lstatSync(target, { throwIfNoEntry: false });
  if (existing && !existing.isDirectory()) throw new CliError(`${printable(target)} exists and is not a folder`);
  if (existing) {
    const found = conflicts(target, coll, force);
    if (found.length > 0) throw new CliError(`${found[0]}${found.length > 1 ? ` (and ${found.length - 1} more)` : ''}; nothing was written`);
  }
  const temp = besideTemp(target);
  fs.mkdirSync(temp);
  try {
    // Names were checked on decode: relative, no "..", nothing below a file or a link.
    for (const d of coll.dirs) fs.mkdirSync(path.join(temp, ...d.split('/')), { recursive: true });
    for (const e of coll.entries) {
      await writeBlobFile(bus, e.hash, sizes.get(e.hash)!, path.join(temp, ...e.name.split('/')), { force: true, executable: e.executable === true, mkdirs: true });
    }
    for (const l of coll.links) {
      const at = path.join(temp, ...l.name.split('/'));
      fs.mkdirSync(path.dirname(at), { recursive: true });
      fs.symlinkSync(l.target, at);
    }
    if (!existing) {
      fs.renameSync(temp, target);
      return;
    }
    for (const d of coll.dirs) fs.mkdirSync(path.join(target, ...d.split('/')), { recursive: true });
    for (const item of [...coll.entries, ...coll.links]) {
      const to = path.join(target, ...item.name.split('/'));
      fs.mkdirSync(path.dirname(to), { recursive: true });
      fs.renameSync(path.join(temp, ...item.name.split('/')), to);
    }
  } finally {
    fs.rmSync(temp, { recursive: true, force: true });
  }
}

/** The file name a single blob gets inside a folder given as -o: its one file-safe tag, else its hash. */
function fileNameFor(tags: string[], hash: string): string {
  const safe = tags.filter((t) => !t.includes('/') && t !== '.' && t !== '..' && !t.startsWith('.adding') && Buffer.byteLength(t) <= 255);
  return safe.length === 1 ? safe[0]! : hash;
}

const get: Command = {
  ...describe('blob get'),
  async run(ctx) {
    const { positionals: positional, values } = parseCommandArgs(ctx, {
      output: { type: 'string', short: 'o' },
      from: { type: 'string', multiple: true },
      transport: { type: 'string' },
      verbose: { type: 'boolean', short: 'v' },
      force: { type: 'boolean', short: 'f' },
    }, { min: 1 });
    const hash = positional[0]!.toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(hash)) throw new UsageError('HASH is 64 hex characters');
    // auto: the node's TLS/TCP path for bulk data, QUIC if that cannot connect (-v says which was used).
    const transport = values.transport ?? 'auto';
    if (transport !== 'auto' && transport !== 'tls' && transport !== 'quic') throw new UsageError('--transport is auto, tls or quic');
    const from = values.from ?? [];
    const out = values.output;
    const force = values.force === true;
    await withFs(ctx, { create: from.length > 0 }, async (bus) => {
      if (from.length > 0) {
        const { fetchBlob } = await import('../../protocols/blobs/fetch.ts');
        const bar = progressBar(ctx.stderr);
        const onProgress = (p: FetchProgress): void => bar.update(p.bytes, p.size, p.blobsTotal > 1 ? `  blob ${p.blobsDone + 1}/${p.blobsTotal}` : '');
        try {
          await fetchBlob(hash, from, {
            bus, transport, knownNodesPath: path.join(ctx.home, 'known_nodes'), onProgress,
            ...(values.verbose ? { logger: verboseLogger(ctx) } : {}),
          });
        } catch (err) {
          // One line: which providers were asked and what each did (bad data names the provider's node id).
          throw new CliError(err instanceof Error ? err.message : String(err));
        } finally {
          bar.done();
        }
      }
      const stat = await bus.request('fs', 'fs.stat', { hash }, D).catch((err: unknown) => {
        if (err instanceof BusError && err.code === 'NOT_FOUND') throw new CliError(`blob ${hash} not found in ${ctx.home} (fetch it with --from ADDR)`);
        throw err;
      });
      if (!stat.complete) throw new CliError(`blob ${hash} is only partly here (${stat.verifiedGroups}/${stat.groups} groups); fetch the rest with --from ADDR`);
      const { collection } = await bus.request('fs', 'fs.isCollection', { hash }, D);
      if (typeof out !== 'string' || out === '-') {
        if (collection) throw new CliError('a collection is a folder: write it with -o DIR');
        await writeToStdout(ctx, bus, hash, stat.size);
        return;
      }
      const target = path.resolve(out);
      if (collection) return writeCollection(bus, hash, target, force);
      const st = fs.statSync(target, { throwIfNoEntry: false });
      // -o FOLDER: the blob goes into it, under its tag's name (or its hash).
      const file = st?.isDirectory() ? path.join(target, fileNameFor(stat.tags, hash)) : target;
      await writeBlobFile(bus, hash, stat.size, file, { force, mkdirs: !st });
    });
  },
};

/**
 * stdout: streamed as is into a pipe or a file; a terminal only gets text (UTF-8 without control
 * characters, at most 1 MiB, checked whole before the first byte is shown), never raw binary.
 */
async function writeToStdout(ctx: CommandContext, bus: FsBus, hash: string, size: number): Promise<void> {
  const write = async (bytes: Uint8Array): Promise<void> => {
    if (!ctx.stdout.write(bytes)) await new Promise((r) => ctx.stdout.once('drain', r));
  };
  if (ctx.stdout.isTTY) {
    const refuse = (why: string): CliError => new CliError(`blob ${hash} is ${why}; not shown on a terminal: use -o FILE or a pipe`);
    if (size > TTY_MAX_BYTES) throw refuse(`${formatBytes(size)}`);
    const parts: Uint8Array[] = [];
    for await (const piece of readBlob(bus, hash, size)) parts.push(piece);
    const bytes = Buffer.concat(parts);
    if (!isText(bytes)) throw refuse('not text');
    await write(bytes);
    return;
  }
  for await (const piece of readBlob(bus, hash, size)) await write(piece);
}

// ------------------------------------------------------------------------------ tag, untag, rm, gc

const tag: Command = {
  ...describe('blob tag'),
  async run(ctx) {
    const { positionals: positional } = parseCommandArgs(ctx, {}, { min: 2 });
    await withFs(ctx, { writable: true }, (bus) => bus.request('fs', 'fs.tag', { name: positional[0]!, hash: positional[1]!.toLowerCase() }, D));
  },
};

const untag: Command = {
  ...describe('blob untag'),
  async run(ctx) {
    const { positionals: positional } = parseCommandArgs(ctx, {}, { min: 1 });
    const { removed } = await withFs(ctx, { writable: true }, (bus) => bus.request('fs', 'fs.untag', { name: positional[0]! }, D));
    if (!removed) throw new CliError(`no tag ${printable(positional[0]!)}`);
  },
};

const rm: Command = {
  ...describe('blob rm'),
  async run(ctx) {
    const { positionals: positional } = parseCommandArgs(ctx, {}, { min: 1 });
    const { removed } = await withFs(ctx, { writable: true }, (bus) => bus.request('fs', 'fs.delete', { hash: positional[0]!.toLowerCase() }, D));
    if (!removed) throw new CliError(`blob ${printable(positional[0]!)} not found`);
  },
};

const gc: Command = {
  ...describe('blob gc'),
  async run(ctx) {
    parseCommandArgs(ctx, {});
    const result = await withFs(ctx, { writable: true }, (bus) => bus.request('fs', 'fs.gc', {}, { deadlineMs: ADD_DEADLINE_MS }));
    ctx.stdout.write(ctx.json ? `${JSON.stringify(result)}\n` : `removed ${result.removed.length}, kept ${result.kept}\n`);
  },
};

export const commands: Command[] = [add, ls, get, tag, untag, rm, gc];
