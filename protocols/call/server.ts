// The server side of alknet/call on one stream (a QUIC stream, or a whole TLS socket). A stream
// carries any number of calls, interleaved by their envelope `id`: each call.requested starts a call,
// its answer is call.responded (one, or several for a subscription) then call.completed, or a single
// call.error, all carrying the request's id. A client stops one call with call.aborted {id}.
//
// The stream ends when the client ends its side and every call on it is answered, or when it has had
// no call in flight for `requestTimeoutMs`, or after a bad frame (framing cannot be resynchronised):
// then the offending frame is answered with call.error, every other call still in flight is aborted
// and answered UNAVAILABLE, and our side ends. Once our side has ended nothing more is run, so a
// client may send again, on a new stream, any call left without an answer by a clean end.
//
// Aborts: call.aborted, or the stream being destroyed/reset before the answer, aborts the handler's
// signal. A client that only half-closes (gRPC style) does not abort, unless the transport then can
// no longer carry our answer (TCP without half-open). Bad input never throws out of here.
import type { Duplex } from 'node:stream';
import {
  CallFrameDecoder,
  CallFrameError,
  DEFAULT_MAX_FRAME_BYTES,
  encodeFrame,
  STREAM_ERROR_ID,
  type CallEnvelope,
  type CallRequested,
} from './callFrameCodec.ts';
import { FrameWriter } from './frameWriter.ts';
import { CallError, toErrorShape } from '../../operations/errors.ts';
import type { Caller, OperationCatalogue } from '../../operations/catalogue.ts';
import type { BytesBudget } from '../../lib/byteBudget.ts';
import { CALL_ALPN } from './protocol.ts';

export interface CallLimits {
  /** Largest frame accepted or sent. Default 16 MiB. */
  maxFrameBytes?: number;
  /**
   * Largest request frame accepted on a stream, when smaller than maxFrameBytes: the protocol sets it
   * for connections whose caller is not a known peer, so an anonymous client cannot make the node
   * hold 16 MiB per stream before it is authorized (default: maxFrameBytes). It applies to every
   * frame of the stream, not only the first.
   */
  maxRequestBytes?: number;
  /**
   * How long a stream may have no call in flight: before its first call.requested (answered TIMEOUT)
   * and between calls (our side is ended quietly). Default 10 s.
   */
  requestTimeoutMs?: number;
  /** Time the client has to close after our side ended before the stream is destroyed. Default 5 s. */
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
  /** The connection's limiter; without one the stream's calls are not counted. */
  limiter?: CallLimiter;
  /** Told why a stream was refused or closed, for the node's log (never includes input or tokens). */
  onStreamError?(err: Error): void;
}

/** Serves every call this stream carries. Resolves once the stream is closed; never rejects. */
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

export { STREAM_ERROR_ID };

/** One call in flight on a stream. */
class ServedCall {
  readonly id: string;
  readonly request: CallRequested;
  readonly #abort = new AbortController();
  /** Set once the call has its answer (or was aborted): nothing more is written for it. */
  ended = false;
  acquired = false;

  constructor(request: CallRequested) {
    this.id = request.id;
    this.request = request;
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  abort(reason: string): void {
    if (!this.#abort.signal.aborted) this.#abort.abort(new CallError('UNAVAILABLE', `call aborted: ${reason}`, { retryable: false }));
  }
}

class CallStreamSession {
  readonly #stream: Duplex;
  readonly #options: ServeCallOptions;
  readonly #resolve: () => void;
  readonly #decoder: CallFrameDecoder;
  readonly #writer: FrameWriter;
  readonly #maxFrameBytes: number;
  readonly #idleMs: number;
  readonly #calls = new Map<string, ServedCall>();
  /** Our side has ended (or the stream is gone): no frame is read or run any more. */
  #done = false;
  /** The client ended its side: once the calls in flight are answered, we end ours. */
  #inputEnded = false;
  #sawRequest = false;
  /** False while reading is paused because our answers are not being read. */
  #reading = true;
  #idleTimer: NodeJS.Timeout | undefined;
  #closeTimer: NodeJS.Timeout | undefined;
  #resolved = false;

  constructor(stream: Duplex, options: ServeCallOptions, resolve: () => void) {
    this.#stream = stream;
    this.#options = options;
    this.#resolve = resolve;
    this.#maxFrameBytes = options.limits?.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.#idleMs = options.limits?.requestTimeoutMs ?? 10_000;
    const maxRequestBytes = Math.min(options.limits?.maxRequestBytes ?? this.#maxFrameBytes, this.#maxFrameBytes);
    this.#decoder = new CallFrameDecoder({ maxFrameBytes: maxRequestBytes, ...(options.budget ? { budget: options.budget } : {}) });
    this.#writer = new FrameWriter(stream);
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
    this.#armIdleTimer();
  }

  /** Runs while no call is in flight: a silent new stream is answered TIMEOUT, an idle one is ended. */
  #armIdleTimer(): void {
    if (this.#idleTimer || this.#done) return;
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.#done || this.#calls.size > 0) return;
      if (this.#sawRequest) {
        this.#finish(); // idle between calls: end quietly, the client opens a new stream when it needs one
        return;
      }
      const message = `no call.requested within ${this.#idleMs} ms`;
      this.#options.onStreamError?.(new Error(message));
      this.#failStream(new CallError('TIMEOUT', message), STREAM_ERROR_ID, 'no request in time');
    }, this.#idleMs);
  }

  #disarmIdleTimer(): void {
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }

  readonly #onData = (chunk: unknown): void => {
    if (this.#done) return; // our side has ended: nothing more is run
    this.#decoder.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array));
    this.#drainFrames();
    this.#holdWhileFull();
  };

  /**
   * A client that sends requests but does not read its answers (BUSY ones cost it nothing) would
   * make our answers pile up in memory: while our side's buffer is above its high-water mark we stop
   * reading, so the transport's flow control stops the client instead.
   */
  #holdWhileFull(): void {
    if (this.#reading === false || this.#done || !this.#writer.full) return;
    this.#reading = false;
    this.#stream.pause();
    void this.#writer.drained().then(() => {
      this.#reading = true;
      if (!this.#done && !this.#stream.destroyed) this.#stream.resume();
    });
  }

  readonly #onEnd = (): void => {
    if (this.#done) return;
    this.#inputEnded = true;
    this.#decoder.end();
    this.#drainFrames();
    if (this.#done) return;
    if (!this.#writer.writable) {
      // The transport closed our side together with theirs (TCP without half-open): nobody to answer.
      this.#abortAll('the client closed the stream');
      this.#finish();
    } else if (this.#calls.size === 0) {
      this.#finish();
    }
  };

  readonly #onError = (err: Error): void => {
    this.#options.onStreamError?.(err);
    this.#abortAll('the stream failed');
    this.#finish();
  };

  readonly #onClose = (): void => {
    this.#abortAll('the client closed the stream');
    this.#finish();
    this.#settle();
  };

  #drainFrames(): void {
    while (!this.#done) {
      let envelope: CallEnvelope | undefined;
      try {
        envelope = this.#decoder.pull();
      } catch (err) {
        const bad = err as CallFrameError;
        this.#options.onStreamError?.(bad);
        const answer = bad.kind === 'busy' ? new CallError('BUSY', bad.message) : new CallError('INVALID_INPUT', `bad frame: ${bad.message}`);
        this.#failStream(answer, bad.id ?? STREAM_ERROR_ID, `bad frame: ${bad.message}`);
        return;
      }
      if (!envelope) return;
      this.#onEnvelope(envelope);
    }
  }

  #onEnvelope(envelope: CallEnvelope): void {
    if (envelope.type === 'call.requested') {
      if (this.#calls.has(envelope.id)) {
        this.#failStream(
          new CallError('INVALID_INPUT', `call id "${envelope.id.slice(0, 64)}" is already in flight on this stream`),
          envelope.id,
          'a call id was reused',
        );
        return;
      }
      this.#startCall(envelope);
    } else if (envelope.type === 'call.aborted') {
      // An id not in flight is a call that was answered while the abort was on its way: nothing to do.
      const call = this.#calls.get(envelope.id);
      if (call) {
        call.abort(envelope.payload.reason ?? 'aborted by the client');
        this.#endCall(call);
      }
    } else {
      this.#failStream(
        new CallError('INVALID_INPUT', `a client may not send ${envelope.type}; expected call.requested or call.aborted`),
        envelope.id,
        `the client sent ${envelope.type}`,
      );
    }
  }

  #startCall(request: CallRequested): void {
    this.#sawRequest = true;
    const limiter = this.#options.limiter;
    if (limiter && !limiter.tryAcquire()) {
      this.#sendError(request.id, new CallError('BUSY', `too many calls in flight on this connection (limit ${limiter.max})`));
      return;
    }
    const call = new ServedCall(request);
    call.acquired = limiter !== undefined;
    this.#calls.set(call.id, call);
    this.#disarmIdleTimer();
    void this.#run(call);
  }

  async #run(call: ServedCall): Promise<void> {
    const { operationId, input, authToken, deadlineMs } = call.request.payload;
    try {
      const resolveCaller = this.#options.caller;
      const caller = typeof resolveCaller === 'function' ? await resolveCaller(authToken) : resolveCaller;
      if (call.ended) return;
      const registry = this.#options.registry;
      const invokeOptions = { signal: call.signal, deadlineMs, correlationId: call.id, via: CALL_ALPN };
      if (registry.get(operationId)?.type === 'subscription') {
        for await (const output of registry.subscribe(operationId, input, caller, invokeOptions)) {
          if (call.ended) break;
          // Back-pressure: a client that does not read stops the subscription, not our memory.
          if (this.#writer.full) await this.#writer.drained(call.signal);
          if (call.ended) break;
          this.#writer.write(encodeFrame({ type: 'call.responded', id: call.id, payload: { output } }, this.#maxFrameBytes));
        }
      } else {
        const output = await registry.invoke(operationId, input, caller, invokeOptions);
        if (call.ended) return;
        this.#writer.write(encodeFrame({ type: 'call.responded', id: call.id, payload: { output } }, this.#maxFrameBytes));
      }
      if (call.ended) return;
      this.#writer.write(encodeFrame({ type: 'call.completed', id: call.id, payload: {} }, this.#maxFrameBytes));
      this.#endCall(call);
    } catch (err) {
      if (call.ended || call.signal.aborted) {
        this.#endCall(call);
        return;
      }
      const answer =
        err instanceof CallFrameError
          ? new CallError('INTERNAL', `the answer cannot be sent: ${err.message}`, { retryable: false })
          : err;
      this.#sendError(call.id, answer);
      this.#endCall(call);
    }
  }

  /** The call has its answer or was aborted: free its slot; the last one out of an ended stream ends ours. */
  #endCall(call: ServedCall): void {
    if (call.ended) return;
    call.ended = true;
    this.#calls.delete(call.id);
    if (call.acquired) {
      call.acquired = false;
      this.#options.limiter?.release();
    }
    if (this.#done || this.#calls.size > 0) return;
    if (this.#inputEnded) this.#finish();
    else this.#armIdleTimer();
  }

  #sendError(id: string, err: unknown): void {
    let frame: Uint8Array;
    try {
      frame = encodeFrame({ type: 'call.error', id, payload: toErrorShape(err) }, this.#maxFrameBytes);
    } catch {
      // An error's own details did not fit the frame: send it without them.
      const shape = toErrorShape(err);
      delete shape.details;
      shape.message = shape.message.slice(0, 1024);
      frame = encodeFrame({ type: 'call.error', id, payload: shape }, DEFAULT_MAX_FRAME_BYTES);
    }
    this.#writer.write(frame);
  }

  /**
   * Nothing more can be read here: answer the offending frame, abort and answer every other call
   * still in flight, and end our side.
   */
  #failStream(answer: CallError, id: string, reason: string): void {
    if (this.#done) return;
    this.#sendError(id, answer);
    for (const call of [...this.#calls.values()]) {
      if (call.id === id) continue;
      call.abort(reason);
      this.#sendError(call.id, new CallError('UNAVAILABLE', `call aborted: the stream was closed (${reason})`, { retryable: false }));
      this.#endCall(call);
    }
    this.#finish();
  }

  #abortAll(reason: string): void {
    for (const call of [...this.#calls.values()]) {
      call.abort(reason);
      this.#endCall(call);
    }
  }

  /** Ends our side once; the client then closes, or the stream is destroyed after closeTimeoutMs. */
  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#disarmIdleTimer();
    this.#decoder.release();
    this.#abortAll('the stream is closing');
    const stream = this.#stream;
    if (stream.destroyed) {
      this.#writer.discard();
      this.#settle();
      return;
    }
    this.#writer.end();
    if (!this.#reading) this.#stream.resume(); // discard what comes, so the client's end arrives
    const closeTimeoutMs = this.#options.limits?.closeTimeoutMs ?? 5_000;
    this.#closeTimer = setTimeout(() => stream.destroy(), closeTimeoutMs);
  }

  #settle(): void {
    if (this.#resolved) return;
    this.#resolved = true;
    this.#decoder.release();
    this.#writer.discard();
    this.#disarmIdleTimer();
    if (this.#closeTimer) clearTimeout(this.#closeTimer);
    const stream = this.#stream;
    stream.off('data', this.#onData);
    stream.off('end', this.#onEnd);
    stream.off('close', this.#onClose);
    // Keep an error listener: a late error on a closed stream must not crash the process.
    this.#resolve();
  }
}
