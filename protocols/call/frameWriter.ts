// Writes alknet/call frames to one stream, batched: every frame written while one job runs (an I/O
// callback and the promise callbacks it queues) leaves in a single `stream.write` after it. A multiplexed stream carries many
// small frames (64 calls in flight answer 128 frames); each write on a QUIC stream goes through a web
// stream, a lock and a js-quic event, and each write on a TLS socket is one record, so one write per
// job instead of one per frame is most of the difference between a stream and a fast stream.
import type { Duplex } from 'node:stream';

/** Past this many bytes waiting, the batch is written at once instead of after the job. */
const FLUSH_AT_BYTES = 64 * 1024;

export class FrameWriter {
  readonly #stream: Duplex;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #scheduled = false;
  #drainWait: Promise<void> | undefined;

  constructor(stream: Duplex) {
    this.#stream = stream;
  }

  /** False once the stream can carry nothing more (ended, destroyed). */
  get writable(): boolean {
    return !this.#stream.destroyed && this.#stream.writable;
  }

  /**
   * True while the stream's own buffer is above its high-water mark: a writer that can wait
   * (a subscription, the next frame of a call) should `await drained()` before writing more.
   */
  get full(): boolean {
    return this.#stream.writableNeedDrain;
  }

  /** Queues one frame for this job's write. A frame written to a stream that is gone is dropped. */
  write(frame: Uint8Array): void {
    if (!this.writable) return;
    this.#pending.push(frame);
    this.#pendingBytes += frame.length;
    if (this.#pendingBytes >= FLUSH_AT_BYTES) this.flush();
    else if (!this.#scheduled) {
      // Once the current job and the promise callbacks it queued have run: the frames of every call
      // answered (or started) by this job leave together, without waiting for another loop turn.
      this.#scheduled = true;
      process.nextTick(this.#flushLater);
    }
  }

  readonly #flushLater = (): void => {
    if (this.#scheduled) this.flush();
  };

  /** Writes what is queued now (before an `end()`, or when a batch is large). */
  flush(): void {
    this.#scheduled = false;
    if (this.#pending.length === 0) return;
    const frames = this.#pending;
    const bytes = this.#pendingBytes;
    this.#pending = [];
    this.#pendingBytes = 0;
    if (!this.writable) return;
    this.#stream.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames, bytes));
  }

  /** Flushes, then ends our side of the stream. */
  end(): void {
    this.flush();
    if (!this.#stream.destroyed && !this.#stream.writableEnded) this.#stream.end();
  }

  /** Drops what is queued (the stream is being destroyed). */
  discard(): void {
    this.#scheduled = false;
    this.#pending = [];
    this.#pendingBytes = 0;
  }

  /** Resolves once the stream's buffer has drained, or the stream is gone, or `signal` aborts. */
  drained(signal?: AbortSignal): Promise<void> {
    const stream = this.#stream;
    if (!stream.writableNeedDrain || stream.destroyed || signal?.aborted) return Promise.resolve();
    // One pair of listeners for every waiter: a thousand calls waiting must not add a thousand.
    const wait = (this.#drainWait ??= new Promise<void>((resolve) => {
      const done = (): void => {
        stream.off('drain', done);
        stream.off('close', done);
        this.#drainWait = undefined;
        resolve();
      };
      stream.on('drain', done);
      stream.on('close', done);
    }));
    if (!signal) return wait;
    return new Promise<void>((resolve) => {
      const onAbort = (): void => resolve();
      signal.addEventListener('abort', onAbort, { once: true });
      void wait.then(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }
}
