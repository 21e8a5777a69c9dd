// The provider side of alknet/blobs: every stream a peer opens carries requests one after the other;
// each is answered with a response frame and, for a blob it has complete, the bao slice. Reads need
// no scope: naming the hash is the capability (DESIGN.md). The store is reached by message only:
// the slice is asked of the fs actor in windows (fs.readSlice, ~2 MiB each), the next window being
// read while the current one is sent, so a reply stays bounded and a slow reader holds back the
// reads (back-pressure) instead of filling memory. No file is held open between windows.
import type { Duplex } from 'node:stream';
import type { Bus } from '../../bus/bus.ts';
import { BusError } from '../../bus/errors.ts';
import { FS_SYSTEM_ID } from '../../actors/fs/messages.ts';
import type { Connection } from '../../actors/listener/connection.ts';
import type { ByteRange } from '../../actors/fs/hash/bao.ts';
import { sessionFromHandler, type ProtocolSpec } from '../protocol.ts';
import { ByteReader } from './byteReader.ts';
import {
  BLOBS_ALPN, BlobsWireError, MAX_REQUEST_BYTES, cutMessage, decodeRequest, encodeResponse, sliceLength, sliceOffsets,
} from './wire.ts';

/** Test-only faults (never set in a real node): they make the provider misbehave on purpose. */
export interface ProviderFaults {
  /** Flip one bit of this content byte wherever a slice carries it. */
  flipContentByte?: number;
  /** Close the connection right after this many groups of a slice were sent. */
  closeAfterGroups?: number;
}

export interface BlobsProviderOptions {
  /** How long a stream may sit without a request (default 60 s). */
  idleMs?: number;
  /** Content bytes asked of the fs actor per window (default 2 MiB). */
  windowBytes?: number;
  faults?: ProviderFaults;
}

export interface ServeStreamContext {
  /** The node's bus: slices are read by fs.readSlice requests to the fs actor. */
  bus: Pick<Bus, 'request'>;
  conn?: Pick<Connection, 'close'>;
  log?: { warn(obj: object, msg?: string): void };
}

/** Deadline of one window read; a restarting fs actor is waited for this long. */
const WINDOW_DEADLINE_MS = 10_000;
/** Tries of a window read the fs actor answered BUSY before the stream is given up (short waits). */
const BUSY_TRIES = 20;

function waitDrain(stream: Duplex): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      stream.off('drain', onDrain);
      stream.off('close', onClose);
      stream.off('error', onError);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = (): void => done();
    const onClose = (): void => done(new Error('the stream closed'));
    const onError = (err: Error): void => done(err);
    stream.on('drain', onDrain);
    stream.once('close', onClose);
    stream.once('error', onError);
  });
}

async function write(stream: Duplex, bytes: Uint8Array): Promise<void> {
  if (stream.destroyed || stream.writableEnded) throw new Error('the stream closed');
  if (!stream.write(bytes)) await waitDrain(stream);
}

function errorResponse(err: unknown): Uint8Array {
  if (err instanceof BusError) return encodeResponse({ type: 'error', code: err.code, message: cutMessage(err.message) });
  if (err instanceof BlobsWireError) return encodeResponse({ type: 'error', code: 'INVALID_INPUT', message: cutMessage(err.message) });
  // Anything else stays local: its text may hold a path.
  return encodeResponse({ type: 'error', code: 'INTERNAL', message: 'the provider failed to read the blob' });
}

type Window = { size: number; bytes: Uint8Array; nextGroup: number | null };
const EMPTY = new Uint8Array(0);

/** One window of the slice, by message; BUSY (the actor's mailbox is full) is retried a few times. */
async function readWindow(ctx: ServeStreamContext, hash: string, ranges: ByteRange[] | undefined, fromGroup: number, opts: BlobsProviderOptions): Promise<Window> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await ctx.bus.request(FS_SYSTEM_ID, 'fs.readSlice', {
        hash, fromGroup, ...(ranges ? { ranges } : {}), ...(opts.windowBytes ? { maxBytes: opts.windowBytes } : {}),
      }, { deadlineMs: WINDOW_DEADLINE_MS });
    } catch (err) {
      if (!(err instanceof BusError && err.code === 'BUSY') || attempt >= BUSY_TRIES) throw err;
      await new Promise((resolve) => setTimeout(resolve, 5 * attempt));
    }
  }
}

/** Test faults, applied to the bytes at slice offset `at` (a copy is changed, never the store's). */
class FaultPlan {
  readonly #flipAt: number | undefined;
  readonly #stopAt: number | undefined;
  constructor(size: number, ranges: ByteRange[] | undefined, faults: ProviderFaults | undefined) {
    const { contentAt, afterGroups } = faults
      ? sliceOffsets(size, ranges, faults.flipContentByte, faults.closeAfterGroups)
      : { contentAt: undefined, afterGroups: undefined };
    this.#flipAt = contentAt;
    this.#stopAt = afterGroups;
  }
  apply(bytes: Uint8Array, at: number): { bytes: Uint8Array; stop: boolean } {
    let out = bytes;
    if (this.#flipAt !== undefined && this.#flipAt >= at && this.#flipAt < at + out.length) {
      out = out.slice();
      out[this.#flipAt - at]! ^= 0x01;
    }
    if (this.#stopAt !== undefined && at + out.length >= this.#stopAt) return { bytes: out.subarray(0, this.#stopAt - at), stop: true };
    return { bytes: out, stop: false };
  }
}

/**
 * Sends the slice window by window, the next one read while the current one is written. A window
 * that cannot be read once the response header is out loses the stream's framing: it is destroyed.
 */
async function sendSlice(
  stream: Duplex, ctx: ServeStreamContext, hash: string, ranges: ByteRange[] | undefined, first: Window, opts: BlobsProviderOptions,
): Promise<void> {
  const faults = opts.faults ? new FaultPlan(first.size, ranges, opts.faults) : undefined;
  const expected = sliceLength(first.size, ranges);
  let window = first;
  let at = 0;
  for (;;) {
    const next = window.nextGroup === null ? undefined : readWindow(ctx, hash, ranges, window.nextGroup, opts);
    next?.catch(() => undefined); // awaited below; a failure while this window is written is not unhandled
    const piece = faults ? faults.apply(window.bytes, at) : { bytes: window.bytes, stop: false };
    await write(stream, piece.bytes);
    // The bus reply (held by its settled promise) must not keep the window alive past its write.
    window.bytes = EMPTY;
    at += piece.bytes.length;
    if (piece.stop) {
      await ctx.conn?.close('test fault: provider stopped mid-slice');
      stream.destroy();
      throw new Error('test fault: stopped mid-slice');
    }
    if (!next) break;
    window = await next;
    if (window.size !== first.size) throw new Error('the blob changed size mid-slice');
  }
  if (at !== expected) throw new Error(`sent ${at} slice bytes of ${expected}`);
}

/**
 * Serves one stream until the peer ends it. A malformed request gets an INVALID_INPUT error frame,
 * then the stream is closed (its framing is lost); a NOT_FOUND leaves the stream open for the next.
 * A peer may end its side right after its last request (half-close): it still gets every answer.
 */
export async function serveBlobStream(stream: Duplex, ctx: ServeStreamContext, opts: BlobsProviderOptions = {}): Promise<void> {
  // The protocol has the fetcher end its side when done; a TLS socket would otherwise end ours at
  // once, before the answer to a request that came with the FIN was written (issue 16, point 2).
  stream.allowHalfOpen = true;
  const reader = new ByteReader(stream, { idleMs: opts.idleMs ?? 60_000 });
  stream.on('error', () => {}); // a reset by the peer ends this loop through the reader/writer below
  try {
    for (;;) {
      let request: { hash: string; ranges: ByteRange[] | undefined };
      try {
        const body = await reader.readFrame(MAX_REQUEST_BYTES, 'request');
        if (body === null) break;
        request = decodeRequest(body);
      } catch (err) {
        if (err instanceof BlobsWireError) await write(stream, errorResponse(err)).catch(() => {});
        break;
      }
      let first: Window;
      try {
        first = await readWindow(ctx, request.hash, request.ranges, 0, opts);
      } catch (err) {
        await write(stream, errorResponse(err));
        continue;
      }
      await write(stream, encodeResponse({ type: 'blob', size: first.size, len: sliceLength(first.size, request.ranges) }));
      await sendSlice(stream, ctx, request.hash, request.ranges, first, opts);
    }
    if (!stream.destroyed) stream.end();
  } catch (err) {
    ctx.log?.warn({ error: err instanceof Error ? err.message : 'failed' }, 'alknet/blobs stream ended');
    stream.destroy();
  } finally {
    reader.release();
  }
}

/** The alknet/blobs ProtocolSpec. `faults` is for tests only. */
export function blobsProtocol(opts: BlobsProviderOptions = {}): ProtocolSpec {
  return {
    alpn: BLOBS_ALPN,
    session: sessionFromHandler(({ conn, services }) => {
      const ctx: ServeStreamContext = { bus: services.bus, conn, log: services.log };
      conn.onStream((stream) => void serveBlobStream(stream, ctx, opts));
    }),
  };
}
