// Reads a byte stream (a node:stream Readable, or any async iterable of bytes) by exact counts: frame
// headers, frame bodies, then a run of raw slice bytes handed on piece by piece. It holds at most
// what the transport delivered beyond what was asked for, and gives up when no byte arrives for
// `idleMs` (a silent peer must not hold a session forever).
//
// Why not `for await (… of stream)` with a timer per read: a slice arrives in ~16 KiB TLS pieces,
// and a promise, a timer and a Promise.race per piece showed up in the fetch profile. Here the
// stream is read with `read()` on 'readable' (no promise while data is buffered), and there is one
// idle timer per reader, armed only while it waits and refreshed, never re-created.
import { Readable } from 'node:stream';
import { BlobsWireError, FRAME_HEADER_LEN, frameLength } from './wire.ts';

export class StreamIdleError extends Error {
  override name = 'StreamIdleError';
}

const EMPTY = new Uint8Array(0);

function isReadable(source: unknown): source is Readable {
  return typeof (source as Readable).read === 'function' && typeof (source as Readable).on === 'function';
}

export class ByteReader {
  readonly #stream: Readable;
  readonly #idleMs: number;
  #rest: Uint8Array = EMPTY;
  #ended = false;
  #error: Error | undefined;
  /** The pending wait's callbacks, while #fill waits for the stream. */
  #wake: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(source: Readable | AsyncIterable<Uint8Array>, opts: { idleMs?: number } = {}) {
    this.#stream = isReadable(source) ? source : Readable.from(source, { objectMode: true });
    this.#idleMs = opts.idleMs ?? 30_000;
    const wake = (): void => this.#wake?.();
    this.#stream.on('readable', wake);
    this.#stream.once('end', () => {
      this.#ended = true;
      wake();
    });
    // A stream destroyed without an end (a reset) reads as ended: the caller reports how many bytes
    // were missing, which says more than "premature close".
    this.#stream.once('close', () => {
      this.#ended = true;
      wake();
    });
    this.#stream.on('error', (err: Error) => {
      this.#error ??= err;
      wake();
    });
  }

  /** False once the stream ended and nothing is left. */
  async more(): Promise<boolean> {
    if (this.#rest.length > 0) return true;
    await this.#fill();
    return this.#rest.length > 0;
  }

  /** Takes whatever the stream has buffered (one piece, or several joined by the stream), waiting if none. */
  async #fill(): Promise<void> {
    for (;;) {
      if (this.#error) throw this.#error;
      const chunk: unknown = this.#stream.destroyed ? null : this.#stream.read();
      if (chunk !== null) {
        // Held as a plain view, not a Buffer: every piece and group cut from it is a subarray, and a
        // Buffer's subarray goes through its species constructor (several times slower).
        this.#rest = chunk instanceof Uint8Array
          ? new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)
          : new Uint8Array(chunk as ArrayBuffer);
        if (this.#rest.length > 0) return;
        continue;
      }
      if (this.#ended) return;
      await this.#wait();
    }
  }

  #wait(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.#timer) this.#timer.refresh().ref();
      else this.#timer = setTimeout(() => this.#onIdle(), this.#idleMs);
      this.#wake = () => {
        this.#wake = undefined;
        this.#idleFail = undefined;
        this.#timer?.unref();
        resolve();
      };
      this.#idleFail = (err: Error) => {
        this.#wake = undefined;
        this.#idleFail = undefined;
        reject(err);
      };
    });
  }

  #idleFail: ((err: Error) => void) | undefined;

  #onIdle(): void {
    // The timer is unref'd and left running while data flows; it only counts while a wait is pending.
    this.#idleFail?.(new StreamIdleError(`no data for ${this.#idleMs} ms`));
  }

  /** Exactly `n` bytes; throws if the stream ends first. */
  async readExact(n: number, what = 'data'): Promise<Uint8Array> {
    if (this.#rest.length >= n) {
      const out = this.#rest.subarray(0, n);
      this.#rest = this.#rest.subarray(n);
      return out;
    }
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      if (this.#rest.length === 0) {
        await this.#fill();
        if (this.#rest.length === 0) throw new BlobsWireError(`the stream ended ${n - got} bytes short of the end of the ${what}`);
      }
      const take = Math.min(n - got, this.#rest.length);
      out.set(this.#rest.subarray(0, take), got);
      this.#rest = this.#rest.subarray(take);
      got += take;
    }
    return out;
  }

  /** The next frame's body, or null when the stream ended cleanly before a frame began. */
  async readFrame(max: number, what: string): Promise<Uint8Array | null> {
    if (!(await this.more())) return null;
    const header = await this.readExact(FRAME_HEADER_LEN, `${what} header`);
    return this.readExact(frameLength(header, max), what);
  }

  /**
   * Exactly `n` bytes as they arrive, in pieces (views; copy one to keep it). One async iterator,
   * not a generator: `next()` settles at once while the stream has data buffered. `onEnd` runs
   * after the last piece was taken.
   */
  pieces(n: number, what = 'slice', onEnd?: () => void): AsyncIterableIterator<Uint8Array> {
    let left = n;
    if (n === 0) onEnd?.();
    const take = (): IteratorResult<Uint8Array> => {
      const size = Math.min(left, this.#rest.length);
      const piece = this.#rest.subarray(0, size);
      this.#rest = this.#rest.subarray(size);
      left -= size;
      if (left === 0) onEnd?.();
      return { value: piece, done: false };
    };
    const iterator: AsyncIterableIterator<Uint8Array> = {
      next: async (): Promise<IteratorResult<Uint8Array>> => {
        if (left === 0) return { value: undefined, done: true };
        if (this.#rest.length === 0) {
          await this.#fill();
          if (this.#rest.length === 0) throw new BlobsWireError(`the stream ended ${left} bytes short of the end of the ${what}`);
        }
        return take();
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /** Stops the idle timer (the reader is not used any more). */
  release(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
