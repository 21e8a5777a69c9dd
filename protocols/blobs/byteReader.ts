// Reads a byte stream (a node:stream Duplex, or any async iterable of bytes) by exact counts: frame
// headers, frame bodies, then a run of raw slice bytes handed on piece by piece. It holds at most
// one piece the transport delivered beyond what was asked for, and gives up when no byte arrives
// for `idleMs` (a silent peer must not hold a session forever).
import { BlobsWireError, FRAME_HEADER_LEN, frameLength } from './wire.ts';

export class StreamIdleError extends Error {
  override name = 'StreamIdleError';
}

export class ByteReader {
  readonly #source: AsyncIterator<Uint8Array>;
  readonly #idleMs: number;
  #rest: Uint8Array = new Uint8Array(0);
  #ended = false;

  constructor(source: AsyncIterable<Uint8Array>, opts: { idleMs?: number } = {}) {
    this.#source = source[Symbol.asyncIterator]();
    this.#idleMs = opts.idleMs ?? 30_000;
  }

  /** False once the stream ended and nothing is left. */
  async more(): Promise<boolean> {
    if (this.#rest.length > 0) return true;
    await this.#fill();
    return this.#rest.length > 0;
  }

  async #fill(): Promise<void> {
    if (this.#ended) return;
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StreamIdleError(`no data for ${this.#idleMs} ms`)), this.#idleMs);
    });
    try {
      const step = await Promise.race([this.#source.next(), idle]);
      if (step.done) this.#ended = true;
      else this.#rest = step.value instanceof Uint8Array ? step.value : new Uint8Array(step.value as ArrayBuffer);
    } finally {
      clearTimeout(timer);
    }
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

  /** Exactly `n` bytes as they arrive, in pieces (views; copy one to keep it). */
  async *pieces(n: number, what = 'slice'): AsyncGenerator<Uint8Array> {
    let left = n;
    while (left > 0) {
      if (this.#rest.length === 0) {
        await this.#fill();
        if (this.#rest.length === 0) throw new BlobsWireError(`the stream ended ${left} bytes short of the end of the ${what}`);
      }
      const take = Math.min(left, this.#rest.length);
      const piece = this.#rest.subarray(0, take);
      this.#rest = this.#rest.subarray(take);
      left -= take;
      yield piece;
    }
  }
}
