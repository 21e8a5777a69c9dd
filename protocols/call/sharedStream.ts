// The client's multiplexed stream: one stream carrying many calls at once, told apart by their
// envelope id. A call writes its call.requested (batched with the other frames of the same turn),
// and its answer is routed back by id; aborting one call (its signal, its deadline) sends
// call.aborted {id} and leaves the others alone.
//
// When the stream goes away, the calls still on it fail, except in one case: the server ended the
// stream cleanly (FIN, no error) without answering them. A server never runs a call that arrives
// after it ended its side, so those calls can be sent again on a new stream (`NotRunError`).
import type { Duplex } from 'node:stream';
import { CallFrameDecoder, CallFrameError, encodeFrame, type CallEnvelope } from './callFrameCodec.ts';
import { FrameWriter } from './frameWriter.ts';
import { CallError } from '../../operations/errors.ts';

/** The server ended the stream before this call was answered, and did not run it: send it again. */
export class NotRunError extends Error {
  override name = 'NotRunError';
}

export interface SharedCallOptions {
  signal?: AbortSignal;
  deadlineMs?: number;
  /** How long after the deadline the client waits for the server's own TIMEOUT. */
  graceMs: number;
}

interface PendingCall {
  resolve(output: unknown): void;
  reject(err: unknown): void;
  output: unknown;
  answered: boolean;
  timer: NodeJS.Timeout | undefined;
  unwatch: (() => void) | undefined;
}

export class SharedCallStream {
  readonly #stream: Duplex;
  readonly #writer: FrameWriter;
  readonly #decoder: CallFrameDecoder;
  readonly #pending = new Map<string, PendingCall>();
  #dead = false;
  /** Why the server said the stream is over (a call.error for no call of ours), for the messages of calls that fail with it. */
  #serverReason: string | undefined;

  constructor(stream: Duplex, maxFrameBytes: number) {
    this.#stream = stream;
    this.#writer = new FrameWriter(stream);
    this.#decoder = new CallFrameDecoder({ maxFrameBytes });
    stream.on('data', this.#onData);
    stream.on('end', this.#onEnd);
    stream.on('error', this.#onError);
    stream.on('close', this.#onClose);
  }

  /** False once no new call may be started here (the stream ended, failed or is closing). */
  get usable(): boolean {
    return !this.#dead && this.#writer.writable;
  }

  /** Calls waiting for their answer on this stream. */
  get inFlight(): number {
    return this.#pending.size;
  }

  /** Sends one call.requested frame and resolves with the call's output. */
  call(id: string, frame: Uint8Array, options: SharedCallOptions): Promise<unknown> {
    if (!this.usable) return Promise.reject(new NotRunError('the stream is closed'));
    // Aborted while the stream was being opened: nothing was sent.
    if (options.signal?.aborted) return Promise.reject(options.signal.reason ?? new DOMException('the call was aborted', 'AbortError'));
    return new Promise<unknown>((resolve, reject) => {
      const pending: PendingCall = { resolve, reject, output: undefined, answered: false, timer: undefined, unwatch: undefined };
      this.#pending.set(id, pending);
      const signal = options.signal;
      if (signal) {
        const onAbort = (): void => this.#abort(id, 'aborted by the caller', signal.reason ?? new DOMException('the call was aborted', 'AbortError'));
        signal.addEventListener('abort', onAbort, { once: true });
        pending.unwatch = () => signal.removeEventListener('abort', onAbort);
      }
      if (options.deadlineMs !== undefined) {
        const deadlineMs = options.deadlineMs;
        pending.timer = setTimeout(
          () => this.#abort(id, 'deadline passed', new CallError('TIMEOUT', `no answer within the ${deadlineMs} ms deadline`)),
          Math.min(deadlineMs + options.graceMs, 2 ** 31 - 1),
        );
      }
      this.#writer.write(frame);
    });
  }

  /** Stops one call: the server is told (call.aborted), the caller gets `err`. */
  #abort(id: string, reason: string, err: unknown): void {
    const pending = this.#take(id);
    if (!pending) return;
    try {
      this.#writer.write(encodeFrame({ type: 'call.aborted', id, payload: { reason } }));
    } catch {
      /* the stream is going away anyway */
    }
    pending.reject(err);
  }

  /** Removes a call from the stream and stops its timer and signal watch. */
  #take(id: string): PendingCall | undefined {
    const pending = this.#pending.get(id);
    if (!pending) return undefined;
    this.#pending.delete(id);
    if (pending.timer) clearTimeout(pending.timer);
    pending.unwatch?.();
    return pending;
  }

  readonly #onData = (chunk: unknown): void => {
    if (this.#dead && this.#pending.size === 0) return;
    this.#decoder.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array));
    for (;;) {
      let envelope: CallEnvelope | undefined;
      try {
        envelope = this.#decoder.pull();
      } catch (err) {
        const message = err instanceof CallFrameError ? err.message : String(err);
        this.#failAll(new CallError('INTERNAL', `protocol error: bad frame from the server: ${message}`, { retryable: false }));
        this.#stream.destroy();
        return;
      }
      if (!envelope) return;
      this.#route(envelope);
    }
  };

  #route(envelope: CallEnvelope): void {
    const pending = this.#pending.get(envelope.id);
    if (!pending) {
      // Not a call of ours (any more): the late answer of an aborted call, or the server's reason for
      // ending the stream (a bad frame, no request in time), which the calls failing with it will name.
      if (envelope.type === 'call.error') this.#serverReason = `${envelope.payload.code}: ${envelope.payload.message.slice(0, 200)}`;
      return;
    }
    if (envelope.type === 'call.responded' && !pending.answered) {
      pending.output = envelope.payload.output;
      pending.answered = true;
    } else if (envelope.type === 'call.completed' && pending.answered) {
      this.#take(envelope.id);
      pending.resolve(pending.output);
    } else if (envelope.type === 'call.error') {
      this.#take(envelope.id);
      pending.reject(CallError.fromShape(envelope.payload));
    } else {
      this.#failAll(new CallError('INTERNAL', `protocol error: unexpected ${envelope.type} from the server`, { retryable: false }));
      this.#stream.destroy();
    }
  }

  readonly #onEnd = (): void => {
    // A clean end: the server runs nothing it receives after this, so unanswered calls were not run.
    this.#dead = true;
    this.#decoder.end();
    this.#failAll(new NotRunError(`the server ended the stream${this.#serverReason ? ` (${this.#serverReason})` : ''}`));
    this.#writer.end();
  };

  readonly #onError = (err: Error): void => {
    this.#dead = true;
    this.#failAll(new CallError('UNAVAILABLE', `the stream failed: ${err.message}`));
  };

  readonly #onClose = (): void => {
    this.#dead = true;
    this.#failAll(new CallError('UNAVAILABLE', `the stream closed before the answer${this.#serverReason ? ` (${this.#serverReason})` : ''}`));
  };

  #failAll(err: unknown): void {
    this.#dead = true;
    for (const id of [...this.#pending.keys()]) this.#take(id)?.reject(err);
  }

  /** No new calls here; the calls in flight keep their answers coming, then the stream ends. */
  end(): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#writer.end();
    if (this.#pending.size === 0) {
      // Keep reading so the server's end arrives; destroy if it never does.
      this.#stream.resume();
      const timer = setTimeout(() => this.#stream.destroy(), 2_000);
      timer.unref();
      this.#stream.once('close', () => clearTimeout(timer));
    }
  }

  /** Fails the calls in flight with `err` and drops the stream. */
  destroy(err: unknown): void {
    this.#failAll(err);
    this.#writer.discard();
    this.#stream.destroy();
  }
}
