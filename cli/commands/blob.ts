// `alknet blob add FILE|DIR | ls | get HASH -o PATH | tag NAME HASH | untag NAME | rm HASH | gc`: the
// local blob store, opened directly (no running node needed: LMDB lets the node and the CLI share it).
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { CliError, UsageError, type Command, type CommandContext } from '../command.ts';
import type { BlobStore } from '../../actors/fs/store.ts';
import type { FetchProgress } from '../../protocols/blobs/fetch.ts';
import { describe } from './index.ts';
import { parseCommandArgs } from '../args.ts';
import { verboseLogger } from '../verbose.ts';

async function openStore(ctx: CommandContext): Promise<BlobStore> {
  const { BlobStore } = await import('../../actors/fs/store.ts');
  return BlobStore.open(ctx.home);
}

async function withStore<T>(ctx: CommandContext, fn: (store: BlobStore) => Promise<T>): Promise<T> {
  const store = await openStore(ctx);
  try {
    return await fn(store);
  } catch (err) {
    // Store errors carry a code and a one-line message; show it as a CLI failure.
    if (err instanceof Error && 'code' in err && typeof (err as { code: unknown }).code === 'string' && !(err instanceof UsageError)) {
      const code = (err as { code: string }).code;
      if (code === 'INVALID_INPUT' || code === 'NOT_FOUND') throw new CliError(err.message);
    }
    throw err;
  } finally {
    await store.close();
  }
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

/** A one-line progress bar, redrawn at most every 100 ms; only used when stderr is a TTY. */
function progressBar(ctx: CommandContext, total: number): { update(n: number): void; done(): void } {
  if (!ctx.stderr.isTTY) return { update() {}, done() {} };
  let last = 0;
  const draw = (n: number): void => {
    const width = 30;
    const fraction = total > 0 ? Math.min(1, n / total) : 1;
    const filled = Math.round(fraction * width);
    ctx.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${formatBytes(n)} / ${formatBytes(total)}`);
  };
  return {
    update(n) {
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      draw(n);
    },
    done() {
      draw(total);
      ctx.stderr.write('\n');
    },
  };
}

function sizeOfTree(p: string): number {
  const st = fs.statSync(p);
  if (st.isFile()) return st.size;
  if (!st.isDirectory()) return 0;
  return fs.readdirSync(p).reduce((n, name) => n + sizeOfTree(path.join(p, name)), 0);
}

const add: Command = {
  ...describe('blob add'),
  async run(ctx) {
    const { positionals: positional, values } = parseCommandArgs(ctx, { tag: { type: 'string' } }, { min: 1 });
    const target = path.resolve(positional[0]!);
    const st = fs.statSync(target, { throwIfNoEntry: false });
    if (!st) throw new CliError(`${positional[0]}: no such file or folder`);
    const tag = values.tag;
    const bar = progressBar(ctx, ctx.stderr.isTTY ? sizeOfTree(target) : 0);
    const result = await withStore(ctx, async (store) => {
      if (st.isDirectory()) {
        const r = await store.addDirectory(target, { tag, onProgress: (n) => bar.update(n) });
        return { hash: r.hash, size: r.size, collection: true, files: r.entries.length };
      }
      if (!st.isFile()) throw new CliError(`${positional[0]}: not a regular file or folder`);
      const r = await store.add(target, { tag: tag ?? path.basename(target), onProgress: (n) => bar.update(n) });
      return { hash: r.hash, size: r.size, collection: false, files: 1 };
    });
    bar.done();
    ctx.stdout.write(ctx.json ? `${JSON.stringify(result)}\n` : `${result.hash}\n`);
  },
};

const ls: Command = {
  ...describe('blob ls'),
  async run(ctx) {
    parseCommandArgs(ctx, {});
    const blobs = await withStore(ctx, async (store) => store.list());
    if (ctx.json) {
      ctx.stdout.write(`${JSON.stringify(blobs.map(({ hash, size, complete, tags }) => ({ hash, size, complete, tags })))}\n`);
      return;
    }
    for (const b of blobs) {
      ctx.stdout.write(`${b.hash}  ${formatBytes(b.size).padStart(10)}  ${b.complete ? 'complete' : `partial ${b.verifiedGroups}/${b.groups}`}${b.tags.length ? `  ${b.tags.join(',')}` : ''}\n`);
    }
  },
};

/** The fetch's progress on one line of a TTY stderr: the current blob's bytes and the blob count. */
function fetchBar(ctx: CommandContext): { update(p: FetchProgress): void; done(): void } {
  if (!ctx.stderr.isTTY) return { update() {}, done() {} };
  let last = 0;
  let drawn = false;
  return {
    update(p) {
      const now = Date.now();
      if (now - last < 100 && p.bytes < p.size) return;
      last = now;
      drawn = true;
      const width = 30;
      const filled = Math.round((p.size > 0 ? Math.min(1, p.bytes / p.size) : 1) * width);
      const count = p.blobsTotal > 1 ? `  blob ${p.blobsDone + 1}/${p.blobsTotal}` : '';
      ctx.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${formatBytes(p.bytes)} / ${formatBytes(p.size)}${count}\x1b[K`);
    },
    done() {
      if (drawn) ctx.stderr.write('\n');
    },
  };
}

const get: Command = {
  ...describe('blob get'),
  async run(ctx) {
    const { positionals: positional, values } = parseCommandArgs(ctx, {
      output: { type: 'string', short: 'o' },
      from: { type: 'string', multiple: true },
      transport: { type: 'string' },
      verbose: { type: 'boolean', short: 'v' },
    }, { min: 1 });
    const hash = positional[0]!.toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(hash)) throw new UsageError('HASH is 64 hex characters');
    // auto: the node's TLS/TCP path for bulk data, QUIC if that cannot connect (-v says which was used).
    const transport = values.transport ?? 'auto';
    if (transport !== 'auto' && transport !== 'tls' && transport !== 'quic') throw new UsageError('--transport is auto, tls or quic');
    const from = values.from ?? [];
    const out = values.output;
    await withStore(ctx, async (store) => {
      if (from.length > 0) {
        const { fetchBlob } = await import('../../protocols/blobs/fetch.ts');
        const bar = fetchBar(ctx);
        try {
          await fetchBlob(hash, from, {
            store, transport, knownNodesPath: path.join(ctx.home, 'known_nodes'), onProgress: (p) => bar.update(p),
            ...(values.verbose ? { logger: verboseLogger(ctx) } : {}),
          });
        } catch (err) {
          bar.done();
          // One line: which providers were asked and what each did (bad data names the provider's node id).
          throw new CliError(err instanceof Error ? err.message : String(err));
        }
        bar.done();
      }
      if (!store.has(hash)) throw new CliError(`blob ${hash} not found in ${ctx.home} (fetch it with --from ADDR)`);
      if (typeof out !== 'string' || out === '-') {
        for await (const piece of await store.get(hash)) if (!ctx.stdout.write(piece)) await new Promise((r) => ctx.stdout.once('drain', r));
        return;
      }
      const target = path.resolve(out);
      if (await store.isCollection(hash)) {
        // A collection becomes a folder; names were checked on decode (relative, no "..").
        for (const entry of await store.readCollection(hash)) {
          if (!store.has(entry.hash)) throw new CliError(`collection entry ${entry.name} (${entry.hash}) is not in the store`);
          const file = path.join(target, ...entry.name.split('/'));
          await writeBlobFile(store, entry.hash, file);
        }
        return;
      }
      await writeBlobFile(store, hash, target);
    });
  },
};

/** Writes a blob to `file` atomically (temp beside it, fsync, rename). */
async function writeBlobFile(store: BlobStore, hash: string, file: string): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temp = `${file}.alknet-tmp-${process.pid}`;
  try {
    const sink = fs.createWriteStream(temp, { flags: 'wx' });
    await pipeline(await store.createReadStream(hash), sink);
    const fd = fs.openSync(temp, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, file);
  } finally {
    fs.rmSync(temp, { force: true });
  }
}

const tag: Command = {
  ...describe('blob tag'),
  async run(ctx) {
    const { positionals: positional } = parseCommandArgs(ctx, {}, { min: 2 });
    await withStore(ctx, (store) => store.tag(positional[0]!, positional[1]!.toLowerCase()));
  },
};

const untag: Command = {
  ...describe('blob untag'),
  async run(ctx) {
    const { positionals: positional } = parseCommandArgs(ctx, {}, { min: 1 });
    if (!(await withStore(ctx, (store) => store.untag(positional[0]!)))) throw new CliError(`no tag ${positional[0]}`);
  },
};

const rm: Command = {
  ...describe('blob rm'),
  async run(ctx) {
    const { positionals: positional } = parseCommandArgs(ctx, {}, { min: 1 });
    if (!(await withStore(ctx, (store) => store.delete(positional[0]!.toLowerCase())))) throw new CliError(`blob ${positional[0]} not found`);
  },
};

const gc: Command = {
  ...describe('blob gc'),
  async run(ctx) {
    parseCommandArgs(ctx, {});
    const result = await withStore(ctx, (store) => store.gc());
    ctx.stdout.write(ctx.json ? `${JSON.stringify(result)}\n` : `removed ${result.removed.length}, kept ${result.kept}\n`);
  },
};

export const commands: Command[] = [add, ls, get, tag, untag, rm, gc];
