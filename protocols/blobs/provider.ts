// The provider side of alknet/blobs: every stream a peer opens carries requests one after the other;
// each is answered with a response frame and, for a blob it has complete, the bao slice streamed
// from the store's files. Reads need no scope: naming the hash is the capability (DESIGN.md).
// The store is reached through the fs actor's local-only `fs.store` message, never imported.
import type { Duplex } from 'node:stream';
import type { Bus } from '../../bus/bus.ts';
import { BusError } from '../../bus/errors.ts';
import type { BlobStore } from '../../actors/fs/store.ts';
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
  /** Pieces are gathered into writes of about this size (default 256 KiB). */
  writeBytes?: number;
  faults?: ProviderFaults;
}

export interface ServeStreamContext {
  /** The blob store; asked per request, so a restarted fs actor's new store is used. */
  store(): Promise<BlobStore>;
  conn?: Pick<Connection, 'close'>;
  log?: { warn(obj: object, msg?: string): void };
}

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

/** Gathers small pieces (64-byte parents, 16 KiB groups) into fewer, larger writes. */
class Coalescer {
  #parts: Uint8Array[] = [];
  #bytes = 0;
  constructor(private readonly stream: Duplex, private readonly limit: number) {}
  async push(piece: Uint8Array): Promise<void> {
    this.#parts.push(piece);
    this.#bytes += piece.length;
    if (this.#bytes >= this.limit) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.#bytes === 0) return;
    const out = this.#parts.length === 1 ? this.#parts[0]! : Buffer.concat(this.#parts, this.#bytes);
    this.#parts = [];
    this.#bytes = 0;
    await write(this.stream, out);
  }
}

function errorResponse(err: unknown): Uint8Array {
  if (err instanceof BusError) return encodeResponse({ type: 'error', code: err.code, message: cutMessage(err.message) });
  if (err instanceof BlobsWireError) return encodeResponse({ type: 'error', code: 'INVALID_INPUT', message: cutMessage(err.message) });
  // Anything else stays local: its text may hold a path.
  return encodeResponse({ type: 'error', code: 'INTERNAL', message: 'the provider failed to read the blob' });
}

/** Sends the slice, applying the test faults if any. */
async function sendSlice(
  stream: Duplex, pieces: AsyncGenerator<Uint8Array>, size: number, ranges: ByteRange[] | undefined, opts: BlobsProviderOptions,
  conn: Pick<Connection, 'close'> | undefined,
): Promise<void> {
  const faults = opts.faults;
  const { contentAt: flipAt, afterGroups: stopAt } = faults
    ? sliceOffsets(size, ranges, faults.flipContentByte, faults.closeAfterGroups)
    : { contentAt: undefined, afterGroups: undefined };
  const out = new Coalescer(stream, opts.writeBytes ?? 256 * 1024);
  let at = 0;
  for await (let piece of pieces) {
    if (flipAt !== undefined && flipAt >= at && flipAt < at + piece.length) {
      piece = piece.slice();
      piece[flipAt - at]! ^= 0x01;
    }
    if (stopAt !== undefined && at + piece.length >= stopAt) {
      await out.push(piece.subarray(0, stopAt - at));
      await out.flush();
      await conn?.close('test fault: provider stopped mid-slice');
      stream.destroy();
      throw new Error('test fault: stopped mid-slice');
    }
    at += piece.length;
    await out.push(piece);
  }
  await out.flush();
}

/**
 * Serves one stream until the peer ends it. A malformed request gets an INVALID_INPUT error frame,
 * then the stream is closed (its framing is lost); a NOT_FOUND leaves the stream open for the next.
 */
export async function serveBlobStream(stream: Duplex, ctx: ServeStreamContext, opts: BlobsProviderOptions = {}): Promise<void> {
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
      let pieces: AsyncGenerator<Uint8Array>;
      let size: number;
      try {
        const store = await ctx.store();
        const stat = store.stat(request.hash);
        if (!stat.complete) throw new BusError('NOT_FOUND', `blob ${request.hash} is not complete here`);
        size = stat.size;
        pieces = await store.encoded(request.hash, request.ranges);
      } catch (err) {
        await write(stream, errorResponse(err));
        continue;
      }
      await write(stream, encodeResponse({ type: 'blob', size, len: sliceLength(size, request.ranges) }));
      await sendSlice(stream, pieces, size, request.ranges, opts, ctx.conn);
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
      const bus = services.bus as Bus;
      const ctx: ServeStreamContext = {
        store: async () => (await bus.request('fs', 'fs.store', {}, { deadlineMs: 10_000 })).store,
        conn,
        log: services.log,
      };
      conn.onStream((stream) => void serveBlobStream(stream, ctx, opts));
    }),
  };
}
