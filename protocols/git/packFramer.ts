// Finds where a pushed pack ends on a stream. A pack has no length prefix: after its 12-byte header
// come N entries, each a small header and a zlib stream whose end is only known by inflating it,
// then a 20-byte checksum. So the framer inflates each entry as its bytes arrive (small ones in one
// go, retried when more bytes come; large ones through a streaming inflater, so a big blob is never
// inflated twice), counts the entries, and stops after the trailer. It checks only the framing; the
// git service indexes and verifies the whole pack before anything is stored.
import zlib from 'node:zlib';
import { GitFormatError } from '../../actors/git/objects.ts';
import { inflateBody, PACK_HEADER_BYTES, PACK_TRAILER_BYTES, readEntryHeader, readPackHeader } from '../../actors/git/packFormat.ts';
import type { GitInput } from './input.ts';

export interface FramerLimits {
  /** Largest pack accepted (bytes). */
  maxPackBytes: number;
  maxObjectBytes: number;
}

/** Entries at least this large (inflated) are inflated as a stream when their bytes are not all here yet. */
const STREAM_ABOVE = 512 * 1024;

class Growable {
  buf = Buffer.allocUnsafe(64 * 1024);
  len = 0;
  constructor(private readonly max: number) {}
  append(chunks: Buffer[]): void {
    let add = 0;
    for (const c of chunks) add += c.length;
    if (this.len + add > this.max) throw new GitFormatError(`the pack is larger than the limit of ${this.max} bytes`);
    if (this.len + add > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.min(Math.max(this.buf.length * 2, this.len + add), this.max + 64 * 1024));
      this.buf.copy(next, 0, 0, this.len);
      this.buf = next;
    }
    for (const c of chunks) {
      c.copy(this.buf, this.len);
      this.len += c.length;
    }
  }
  view(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

/** Reads one pack from `input` and returns its bytes (exactly the pack, trailer included). */
export async function readPack(input: GitInput, limits: FramerLimits): Promise<Buffer> {
  const data = new Growable(limits.maxPackBytes);
  const more = async (what: string): Promise<void> => {
    if (input.buffered === 0 && !(await input.more())) throw new GitFormatError(`the pack ended early (${what})`);
    data.append(input.takeAll());
  };
  data.append(input.takeAll());
  while (data.len < PACK_HEADER_BYTES) await more('in its header');
  const header = readPackHeader(data.view())!;
  let at = PACK_HEADER_BYTES;
  for (let n = 0; n < header.count; n++) {
    let h = readEntryHeader(data.view(), at, at, limits.maxObjectBytes);
    while (!h) {
      await more(`in entry ${n + 1} of ${header.count}`);
      h = readEntryHeader(data.view(), at, at, limits.maxObjectBytes);
    }
    const dataAt = at + h.headerLength;
    for (;;) {
      if (data.len > dataAt) {
        if (h.size >= STREAM_ABOVE && data.len - dataAt < h.size) {
          at = await streamEntry(input, data, dataAt, h.size, at);
          break;
        }
        const body = inflateBody(data.view(), dataAt, h.size, at);
        if (body !== 'more') {
          at = dataAt + body.consumed;
          break;
        }
      }
      await more(`in entry ${n + 1} of ${header.count}`);
    }
  }
  while (data.len < at + PACK_TRAILER_BYTES) await more('in its checksum');
  return Buffer.from(data.view().subarray(0, at + PACK_TRAILER_BYTES));
}

/** Inflates one large entry as its bytes arrive; returns where it ends. */
async function streamEntry(input: GitInput, data: Growable, dataAt: number, size: number, offset: number): Promise<number> {
  const inflater = zlib.createInflate();
  let produced = 0;
  let failure: Error | null = null;
  let ended = false;
  let wake: (() => void) | null = null;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  inflater.on('data', (chunk: Buffer) => {
    produced += chunk.length;
    if (produced > size) inflater.destroy(new GitFormatError(`pack entry at ${offset} inflates to more than its announced ${size} bytes`));
  });
  inflater.on('error', (err: Error) => {
    const code = (err as NodeJS.ErrnoException).code;
    failure = err instanceof GitFormatError ? err
      : code === 'Z_BUF_ERROR' ? new GitFormatError(`the pack ended early (in the entry at ${offset})`)
      : new GitFormatError(`pack entry at ${offset} has a corrupt zlib stream`);
    notify();
  });
  inflater.on('end', () => {
    ended = true;
    notify();
  });
  let fed = dataAt;
  const feed = () => {
    if (data.len > fed) {
      inflater.write(Buffer.from(data.view().subarray(fed, data.len)));
      fed = data.len;
    }
  };
  feed();
  let arriving: Promise<'data' | 'eof'> | null = null;
  while (!ended && !failure) {
    const wait = new Promise<'zlib'>((resolve) => (wake = () => resolve('zlib')));
    arriving ??= (input.buffered > 0 ? Promise.resolve(true) : input.more()).then((ok) => (ok ? 'data' : 'eof'));
    const which = await Promise.race([wait, arriving]);
    if (which === 'zlib') continue;
    arriving = null;
    if (which === 'data') {
      data.append(input.takeAll());
      feed();
    } else {
      // The client sent all it will: zlib finishes what it was given, or the entry is cut short.
      const settled = new Promise<void>((resolve) => (wake = resolve));
      inflater.end();
      if (!ended && !failure) await settled;
      if (!ended && !failure) throw new GitFormatError(`the pack ended early (in the entry at ${offset})`);
    }
  }
  arriving?.catch(() => {});
  if (failure) throw failure;
  if (produced !== size) throw new GitFormatError(`pack entry at ${offset} inflates to ${produced} bytes, announced ${size}`);
  return dataAt + inflater.bytesWritten;
}
