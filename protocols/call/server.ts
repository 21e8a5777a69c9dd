// The server side of alknet/call on one stream (a QUIC stream, or a whole TLS socket): read one
// call.requested, run it through the registry, write call.responded (one, or several for a
// subscription) then call.completed, or a single call.error; then end the stream.
//
// Aborts: a call.aborted frame, or the stream being destroyed/reset before the answer, aborts the
// handler's signal. A client that only half-closes (ends its write side after the request, as gRPC
// clients do) does not abort, unless the transport then can no longer carry our answer.
// Bad input never throws out of here: it is answered with call.error where the stream can still
// carry one, else only this stream is destroyed.
import type { Duplex } from 'node:stream';
import {
  CallFrameDecoder,
  CallFrameError,
  DEFAULT_MAX_FRAME_BYTES,
  encodeFrame,
  type CallEnvelope,
  type CallRequested,
} from './callFrameCodec.ts';
import { CallError, toErrorShape } from '../../operations/errors.ts';
import type { Caller, OperationCatalogue } from '../../operations/catalogue.ts';
import type { BytesBudget } from '../../lib/byteBudget.ts';

export interface CallLimits {
  /** Largest frame accepted or sent. Default 16 MiB. */
  maxFrameBytes?: number;
  /**
   * Largest request frame accepted on a stream, when smaller than maxFrameBytes: the protocol sets it
   * for connections whose caller is not a known peer, so an anonymous client cannot make the node
   * hold 16 MiB per stream before it is authorized (default: maxFrameBytes).
   */
  maxRequestBytes?: number;
  /** Time a new stream has to deliver its call.requested. Default 10 s. */
  requestTimeoutMs?: number;
  /** Time the client has to close after our last frame before the stream is destroyed. Default 5 s. */
  closeTimeoutMs?: number;
}

/** Counts calls in flight on one connection; shared by all its streams. */
export interface CallLimiter {
  readonly max: number;
  readonly inFlight: number;
  tryAcquire(): boolean;
  release(): void;
}

export function createCallLimiter(max = 1000): CallLimiter {
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`the call limit must be a positive integer, got ${max}`);
  let inFlight = 0;
  return {
    max,
    get inFlight() {
      return inFlight;
    },
    tryAcquire() {
      if (inFlight >= max) return false;
      inFlight++;
      return true;
    },
    release() {
      if (inFlight > 0) inFlight--;
    },
  };
}

export interface ServeCallOptions {
  registry: OperationCatalogue;
  /** The caller, or a function naming it from the request's authToken (it may throw or reject FORBIDDEN). */
  caller: Caller | ((authToken: string | undefined) => Caller | Promise<Caller>);
  /** The node-wide budget of bytes buffered for clients (lib/byteBudget.ts); large frames take from it. */
  budget?: BytesBudget;
  limits?: CallLimits;
  /** The connection's limiter; without one the stream is not counted. */
  limiter?: CallLimiter;
  /** Told why a stream was refused or destroyed, for the node's log (never includes input or tokens). */
  onStreamError?(err: Error): void;
}

/** Serves exactly one call on this stream. Resolves once the stream is closed; never rejects. */
export function serveCallStream(stream: Duplex, options: ServeCallOptions): Promise<void> {
  return new Promise<void>((resolve) => {
    try {
      new CallStreamSession(stream, options, resolve).start();
    } catch (err) {
      options.onStreamError?.(err as Error);
      stream.destroy();
      resolve();
    }
  });
}

/** A connection's call server: every stream shares one in-flight limit (default 1,000). */
export function createConnectionCallServer(
  options: Omit<ServeCallOptions, 'limiter'> & { maxConcurrentCalls?: number },
): { serve(stream: Duplex): Promise<void>; readonly limiter: CallLimiter } {
  const limiter = createCallLimiter(options.maxConcurrentCalls ?? 1000);
  return { limiter, serve: (stream) => serveCallStream(stream, { ...options, limiter }) };
}

type Phase = 'awaiting-request' | 'running' | 'done';

/** Ids of our replies before a request id is known must still be valid envelope ids. */
const UNKNOWN_ID = '-';

class CallStreamSession {
  readonly #stream: Duplex;
  readonly #options: ServeCallOptions;
  readonly #resolve: () => void;
  readonly #decoder: CallFrameDecoder;
  readonly #maxFrameBytes: number;
  readonly #abort = new AbortController();
  #phase: Phase = 'awaiting-request';
  #id = UNKNOWN_ID;
  #acquired = false;
  #requestTimer: NodeJS.Timeout | undefined;
  #closeTimer: NodeJS.Timeout | undefined;
  #resolved = false;

  constructor(stream: Duplex, options: ServeCallOptions, resolve: () => void) {
    this.#stream = stream;
    this.#options = options;
    this.#resolve = resolve;
    this.#maxFrameBytes = options.limits?.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    const maxRequestBytes = Math.min(options.limits?.maxRequestBytes ?? this.#maxFrameBytes, this.#maxFrameBytes);
    this.#decoder = new CallFrameDecoder({ maxFrameBytes: maxRequestBytes, ...(options.budget ? { budget: options.budget } : {}) });
  }

  start(): void {
    const stream = this.#stream;
    stream.on('data', this.#onData);
    stream.on('end', this.#onEnd);
    stream.on('error', this.#onError);
    stream.on('close', this.#onClose);
    if (stream.destroyed) {
      this.#onClose();
      return;
    }
    const requestTimeoutMs = this.#options.limits?.requestTimeoutMs ?? 10_000;
    this.#requestTimer = setTimeout(() => {
      if (this.#phase !== 'awaiting-request') return;
      this.#options.onStreamError?.(new Error(`no call.requested within ${requestTimeoutMs} ms`));
      this.#replyErrorAndFinish(new CallError('TIMEOUT', `no call.requested within ${requestTimeoutMs} ms`));
    }, requestTimeoutMs);
  }

  readonly #onData = (chunk: unknown): void => {
    if (this.#phase === 'done') return; // discard: the answer is out, the stream is closing
    this.#decoder.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array));
    this.#drainFrames();
  };

  readonly #onEnd = (): void => {
    if (this.#phase === 'done') return;
    this.#decoder.end();
    this.#drainFrames();
    if (this.#phase === 'awaiting-request') {
      // Ended without asking anything: nothing to answer.
      this.#finish();
    } else if (this.#phase === 'running' && !this.#stream.writable) {
      // The transport closed our side together with theirs (TCP without half-open): nobody to answer.
      this.#abortCall('the client closed the stream');
      this.#finish();
    }
  };

  readonly #onError = (err: Error): void => {
    this.#options.onStreamError?.(err);
    this.#abortCall('the stream failed');
    this.#finish();
  };

  readonly #onClose = (): void => {
    this.#abortCall('the client closed the stream');
    this.#finish();
    this.#settle();
  };

  #drainFrames(): void {
    for (;;) {
      if (this.#phase === 'done') return;
      let envelope: CallEnvelope | undefined;
      try {
        envelope = this.#decoder.pull();
      } catch (err) {
        this.#onBadFrame(err as CallFrameError);
        return;
      }
      if (!envelope) return;
      this.#onEnvelope(envelope);
    }
  }

  #onBadFrame(err: CallFrameError): void {
    this.#options.onStreamError?.(err);
    if (this.#phase === 'awaiting-request' && err.id !== undefined) this.#id = err.id;
    this.#abortCall('protocol error');
    this.#replyErrorAndFinish(err.kind === 'busy' ? new CallError('BUSY', err.message) : new CallError('INVALID_INPUT', `bad frame: ${err.message}`));
  }

  #onEnvelope(envelope: CallEnvelope): void {
    if (this.#phase === 'awaiting-request') {
      if (envelope.type === 'call.requested') {
        this.#id = envelope.id;
        void this.#run(envelope);
      } else if (envelope.type === 'call.aborted') {
        this.#finish();
      } else {
        this.#id = envelope.id;
        this.#replyErrorAndFinish(new CallError('INVALID_INPUT', `a client may not send ${envelope.type}; expected call.requested`));
      }
      return;
    }
    // Running: the only thing a client may still say is "stop".
    if (envelope.type === 'call.aborted') {
      this.#abortCall(envelope.payload.reason ?? 'aborted by the client');
      this.#finish();
    } else {
      this.#abortCall('protocol error');
      this.#replyErrorAndFinish(
        new CallError('INVALID_INPUT', `unexpected ${envelope.type} while a call runs: one call per stream, only call.aborted may follow`),
      );
    }
  }

  async #run(request: CallRequested): Promise<void> {
    this.#phase = 'running';
    if (this.#requestTimer) clearTimeout(this.#requestTimer);
    const limiter = this.#options.limiter;
    if (limiter) {
      if (!limiter.tryAcquire()) {
        this.#replyErrorAndFinish(new CallError('BUSY', `too many calls in flight on this connection (limit ${limiter.max})`));
        return;
      }
      this.#acquired = true;
    }
    const { operationId, input, authToken, deadlineMs } = request.payload;
    try {
      const resolveCaller = this.#options.caller;
      const caller = typeof resolveCaller === 'function' ? await resolveCaller(authToken) : resolveCaller;
      if (this.#done()) return;
      const registry = this.#options.registry;
      const invokeOptions = { signal: this.#abort.signal, deadlineMs, correlationId: request.id };
      if (registry.get(operationId)?.type === 'subscription') {
        for await (const output of registry.subscribe(operationId, input, caller, invokeOptions)) {
          if (this.#done()) break;
          await this.#write({ type: 'call.responded', id: request.id, payload: { output } });
        }
      } else {
        const output = await registry.invoke(operationId, input, caller, invokeOptions);
        if (!this.#done()) await this.#write({ type: 'call.responded', id: request.id, payload: { output } });
      }
      if (this.#done()) return;
      await this.#write({ type: 'call.completed', id: request.id, payload: {} });
      this.#finish();
    } catch (err) {
      if (this.#done() || this.#abort.signal.aborted) {
        this.#finish();
        return;
      }
      const answer =
        err instanceof CallFrameError
          ? new CallError('INTERNAL', `the answer cannot be sent: ${err.message}`, { retryable: false })
          : err;
      this.#replyErrorAndFinish(answer);
    }
  }

  /** A method, not a field read, so TypeScript does not narrow the phase across awaits. */
  #done(): boolean {
    return this.#phase === 'done';
  }

  /** Writes one frame, waiting for the stream to drain if its buffer is full. Throws CallFrameError on encode. */
  async #write(envelope: CallEnvelope): Promise<void> {
    const frame = encodeFrame(envelope, this.#maxFrameBytes);
    const stream = this.#stream;
    if (stream.destroyed || !stream.writable) return;
    if (stream.write(frame)) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        stream.off('drain', done);
        stream.off('close', done);
        this.#abort.signal.removeEventListener('abort', done);
        resolve();
      };
      stream.on('drain', done);
      stream.on('close', done);
      this.#abort.signal.addEventListener('abort', done);
    });
  }

  #replyErrorAndFinish(err: unknown): void {
    if (this.#phase === 'done') return;
    const stream = this.#stream;
    if (!stream.destroyed && stream.writable) {
      try {
        stream.write(encodeFrame({ type: 'call.error', id: this.#id, payload: toErrorShape(err) }, this.#maxFrameBytes));
      } catch {
        // An error's own details did not fit the frame: send it without them.
        const shape = toErrorShape(err);
        delete shape.details;
        shape.message = shape.message.slice(0, 1024);
        stream.write(encodeFrame({ type: 'call.error', id: this.#id, payload: shape }, DEFAULT_MAX_FRAME_BYTES));
      }
    }
    this.#finish();
  }

  #abortCall(reason: string): void {
    if (this.#phase === 'running' && !this.#abort.signal.aborted) {
      this.#abort.abort(new CallError('UNAVAILABLE', `call aborted: ${reason}`, { retryable: false }));
    }
  }

  /** Ends our side once; the client then closes, or the stream is destroyed after closeTimeoutMs. */
  #finish(): void {
    if (this.#phase === 'done') return;
    this.#phase = 'done';
    this.#decoder.release();
    if (this.#requestTimer) clearTimeout(this.#requestTimer);
    if (this.#acquired) {
      this.#acquired = false;
      this.#options.limiter?.release();
    }
    const stream = this.#stream;
    if (stream.destroyed) {
      this.#settle();
      return;
    }
    if (!stream.writableEnded) stream.end();
    const closeTimeoutMs = this.#options.limits?.closeTimeoutMs ?? 5_000;
    this.#closeTimer = setTimeout(() => stream.destroy(), closeTimeoutMs);
  }

  #settle(): void {
    if (this.#resolved) return;
    this.#resolved = true;
    this.#decoder.release();
    if (this.#closeTimer) clearTimeout(this.#closeTimer);
    if (this.#requestTimer) clearTimeout(this.#requestTimer);
    const stream = this.#stream;
    stream.off('data', this.#onData);
    stream.off('end', this.#onEnd);
    stream.off('close', this.#onClose);
    // Keep an error listener: a late error on a closed stream must not crash the process.
    this.#resolve();
  }
}
