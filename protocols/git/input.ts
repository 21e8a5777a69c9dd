// What a git session reads from: a stream (git://-style alknet/git, an SSH channel) or a whole
// request body (smart HTTP), as one pull interface. Reading waits for bytes with an idle limit
// (a client that stops sending is dropped), holds at most a bounded amount unread (the stream is
// paused above it), and reads pkt-lines (pktLine.ts) or raw bytes (the pack after a push's commands).
import type { Readable } from 'node:stream';
import { pktLength, PktLineError, type Pkt, MAX_PKT_LENGTH } from './pktLine.ts';

export class InputClosed extends Error {
  override name = 'InputClosed';
}

const HIGH_WATER = 4 * 1024 * 1024;

export class GitInput {
  private chunks: Buffer[] = [];
  private length = 0;
  private ended = false;
  private failure: Error | null = null;
  private readonly wakers = new Set<() => void>();
  private readonly stream: Readable | null;

  private constructor(stream: Readable | null, private readonly idleMs: number) {
    this.stream = stream;
  }

  static fromStream(stream: Readable, idleMs = 120_000): GitInput {
    const input = new GitInput(stream, idleMs);
    stream.on('data', (chunk: Buffer) => input.push(chunk));
    stream.on('end', () => input.end());
    stream.on('close', () => input.end());
    stream.on('error', (err: Error) => input.fail(err));
    return input;
  }

  static fromBuffer(buf: Buffer): GitInput {
    const input = new GitInput(null, 0);
    if (buf.length > 0) input.push(buf);
    input.end();
    return input;
  }

  private push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
    if (this.length > HIGH_WATER) this.stream?.pause();
    this.notify();
  }

  private end(): void {
    this.ended = true;
    this.notify();
  }

  private fail(err: Error): void {
    this.failure = err;
    this.notify();
  }

  private notify(): void {
    const all = [...this.wakers];
    this.wakers.clear();
    for (const w of all) w();
  }

  get buffered(): number {
    return this.length;
  }

  get atEnd(): boolean {
    return this.ended && this.length === 0;
  }

  /** Waits until at least `n` bytes are buffered (true) or the input ended first (false). */
  async ensure(n: number): Promise<boolean> {
    while (this.length < n) {
      if (this.failure) throw new InputClosed(`the connection failed: ${this.failure.message}`);
      if (this.ended) return false;
      this.stream?.resume();
      await new Promise<void>((resolve, reject) => {
        const waker = () => {
          if (timer) clearTimeout(timer);
          resolve();
        };
        const timer = this.idleMs > 0
          ? setTimeout(() => {
              this.wakers.delete(waker);
              reject(new InputClosed(`no data from the client for ${Math.round(this.idleMs / 1000)} s`));
            }, this.idleMs)
          : null;
        timer?.unref();
        this.wakers.add(waker);
      });
    }
    return true;
  }

  /** Waits for more bytes than are buffered now (false at the end). */
  async more(): Promise<boolean> {
    return this.ensure(this.length + 1);
  }

  /** The buffered bytes without taking them (one Buffer). */
  peekAll(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  take(n: number): Buffer {
    const all = this.peekAll();
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.length = rest.length;
    if (this.length < HIGH_WATER) this.stream?.resume();
    return out;
  }

  /** Every buffered byte, taken. */
  takeAll(): Buffer[] {
    const out = this.chunks;
    this.chunks = [];
    this.length = 0;
    this.stream?.resume();
    return out;
  }

  /** The next pkt-line; null when the input ends cleanly between packets. */
  async readPkt(maxLength = MAX_PKT_LENGTH): Promise<Pkt | null> {
    if (!(await this.ensure(4))) {
      if (this.length === 0) return null;
      throw new PktLineError('the input ended inside a pkt-line length');
    }
    const len = pktLength(this.peekAll().subarray(0, 4), maxLength);
    if (len === 0) {
      this.take(4);
      return { kind: 'flush' };
    }
    if (!(await this.ensure(len))) throw new PktLineError(`the input ended inside a pkt-line of ${len} bytes`);
    const data = Buffer.from(this.take(len).subarray(4));
    return { kind: 'data', data };
  }

  /** Whether the input has ended with nothing left (waits for the first byte or the end). */
  async isEof(): Promise<boolean> {
    return !(await this.ensure(1));
  }
}
