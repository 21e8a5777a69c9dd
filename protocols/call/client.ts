// The client side of alknet/call. Queries and mutations share one long-lived stream (calls
// multiplexed by id, sharedStream.ts); a subscription, and a call whose request frame is above
// BUDGET_FREE_BYTES, get a stream of their own, so a slow subscription consumer or a bulk upload
// holds only its own stream (back-pressure per call through the transport). `call` resolves with the
// single output of a query or mutation; `subscribe` yields every output of a subscription. A
// `call.error` becomes a thrown CallError with the server's code; aborting (signal, deadline, leaving
// the loop) sends call.aborted {id}, which aborts the handler on the server.
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import {
  BUDGET_FREE_BYTES,
  CallFrameDecoder,
  CallFrameError,
  DEFAULT_MAX_FRAME_BYTES,
  encodeFrame,
  STREAM_ERROR_ID,
  type CallEnvelope,
  type CallRequested,
} from './callFrameCodec.ts';
import { NotRunError, SharedCallStream } from './sharedStream.ts';
import { BusError, CallError } from '../../operations/errors.ts';

export interface CallOptions {
  /** Relative deadline sent to the server; the client also gives up shortly after it. */
  deadlineMs?: number;
  signal?: AbortSignal;
  /** A bearer token "alk_…" granting its scopes for this call. */
  authToken?: string;
}

export interface CallClientOptions {
  maxFrameBytes?: number;
  /** Used when a call gives no authToken. */
  authToken?: string;
  /** How long after its deadline the client waits for the server's own TIMEOUT answer. Default 500 ms. */
  deadlineGraceMs?: number;
  /**
   * Opens a stream of its own for a subscription or a bulk call. Default: the same `openStream`
   * that opens the shared stream (QUIC: a new stream; a TLS client passes a new connection here).
   */
  openDedicatedStream?: () => Promise<Duplex>;
}

/** Frames the client holds before it stops reading (back-pressure for a fast subscription). */
const HIGH_WATER_FRAMES = 32;

export class CallClient {
  readonly #openStream: () => Promise<Duplex>;
  readonly #openDedicated: () => Promise<Duplex>;
  readonly #options: CallClientOptions;
  readonly #maxFrameBytes: number;
  /** Call ids: a random prefix per client (they double as correlation ids in the server's logs) and a counter. */
  readonly #idPrefix = randomBytes(9).toString('base64url');
  #nextId = 0;
  #shared: SharedCallStream | undefined;
  #opening: Promise<SharedCallStream> | undefined;
  #closed = false;

  /** `openStream` opens the stream the calls share (again after it failed or ended). */
  constructor(openStream: () => Promise<Duplex>, options: CallClientOptions = {}) {
    this.#openStream = openStream;
    this.#openDedicated = options.openDedicatedStream ?? openStream;
    this.#options = options;
    this.#maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  }

  async call<T = unknown>(operation: string, input: unknown, options: CallOptions = {}): Promise<T> {
    options.signal?.throwIfAborted();
    const { request, frame } = this.#request(operation, input, options);
    if (frame.length > BUDGET_FREE_BYTES) return this.#callOnOwnStream<T>(request, frame, options);
    const graceMs = this.#options.deadlineGraceMs ?? 500;
    // One more try only for a call the server did not run (it ended the stream cleanly first).
    for (let attempt = 0; ; attempt++) {
      const shared = await this.#sharedStream();
      try {
        return (await shared.call(request.id, frame, { ...options, graceMs })) as T;
      } catch (err) {
        if (!(err instanceof NotRunError)) throw err;
        if (attempt >= 1 || this.#closed) throw new CallError('UNAVAILABLE', `the call was not run: ${err.message}`);
      }
    }
  }

  subscribe<T = unknown>(operation: string, input: unknown, options: CallOptions = {}): AsyncIterable<T> {
    return { [Symbol.asyncIterator]: () => this.#subscription<T>(operation, input, options) };
  }

  /** Ends the shared stream (calls in flight still get their answers). */
  close(): void {
    this.#closed = true;
    this.#shared?.end();
    this.#shared = undefined;
  }

  /** The shared stream, opened once and again after it went away. */
  async #sharedStream(): Promise<SharedCallStream> {
    if (this.#closed) throw new CallError('UNAVAILABLE', 'the client is closed');
    if (this.#shared?.usable) return this.#shared;
    this.#opening ??= (async () => {
      try {
        const shared = new SharedCallStream(await this.#open(this.#openStream), this.#maxFrameBytes);
        this.#shared = shared;
        return shared;
      } finally {
        this.#opening = undefined;
      }
    })();
    return this.#opening;
  }

  async #open(open: () => Promise<Duplex>): Promise<Duplex> {
    try {
      return await open();
    } catch (err) {
      if (err instanceof BusError) throw err;
      throw new CallError('UNAVAILABLE', `cannot open a stream: ${(err as Error).message}`);
    }
  }

  #request(operation: string, input: unknown, options: CallOptions): { request: CallRequested; frame: Uint8Array } {
    const payload: CallRequested['payload'] = {
      operationId: operation.startsWith('/') ? operation : `/${operation}`,
      input,
    };
    const authToken = options.authToken ?? this.#options.authToken;
    if (authToken !== undefined) payload.authToken = authToken;
    if (options.deadlineMs !== undefined) payload.deadlineMs = options.deadlineMs;
    const request: CallRequested = { type: 'call.requested', id: `${this.#idPrefix}.${(this.#nextId++).toString(36)}`, payload };
    try {
      return { request, frame: encodeFrame(request, this.#maxFrameBytes) };
    } catch (err) {
      throw new CallError('INVALID_INPUT', (err as Error).message);
    }
  }

  async #callOnOwnStream<T>(request: CallRequested, frame: Uint8Array, options: CallOptions): Promise<T> {
    const exchange = await this.#startExchange(request, frame, options);
    let finished = false;
    try {
      let output: unknown;
      let answered = false;
      for (;;) {
        const envelope = await exchange.next();
        if (envelope.type === 'call.responded' && !answered) {
          output = envelope.payload.output;
          answered = true;
        } else if (envelope.type === 'call.completed' && answered) {
          finished = true;
          return output as T;
        } else {
          throw exchange.unexpected(envelope);
        }
      }
    } finally {
      exchange.close(finished);
    }
  }

  async *#subscription<T>(operation: string, input: unknown, options: CallOptions): AsyncGenerator<T> {
    options.signal?.throwIfAborted();
    const { request, frame } = this.#request(operation, input, options);
    const exchange = await this.#startExchange(request, frame, options);
    let finished = false;
    try {
      for (;;) {
        const envelope = await exchange.next();
        if (envelope.type === 'call.responded') yield envelope.payload.output as T;
        else if (envelope.type === 'call.completed') {
          finished = true;
          return;
        } else throw exchange.unexpected(envelope);
      }
    } finally {
      // Leaving the loop early (break, throw) lands here unfinished: that aborts the call.
      exchange.close(finished);
    }
  }

  /** A call on a stream of its own: the stream ends with the call. */
  async #startExchange(request: CallRequested, frame: Uint8Array, options: CallOptions): Promise<Exchange> {
    const stream = await this.#open(this.#openDedicated);
    const exchange = new Exchange(stream, request.id, this.#maxFrameBytes);
    exchange.watch(options, this.#options.deadlineGraceMs ?? 500);
    stream.write(frame);
    return exchange;
  }
}

/** One call's stream: a queue of incoming envelopes, and the ways the call can end early. */
class Exchange {
  readonly #stream: Duplex;
  readonly #id: string;
  readonly #decoder: CallFrameDecoder;
  readonly #queue: CallEnvelope[] = [];
  #waiter: { resolve(e: CallEnvelope): void; reject(err: unknown): void } | undefined;
  #failure: unknown;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  #unwatchSignal: (() => void) | undefined;

  constructor(stream: Duplex, id: string, maxFrameBytes: number) {
    this.#stream = stream;
    this.#id = id;
    this.#decoder = new CallFrameDecoder({ maxFrameBytes });
    stream.on('data', this.#onData);
    stream.on('end', this.#onEnd);
    stream.on('error', this.#onError);
    stream.on('close', this.#onEnd);
  }

  watch(options: CallOptions, graceMs: number): void {
    const signal = options.signal;
    if (signal) {
      const onAbort = (): void => {
        this.#fail(signal.reason ?? new DOMException('the call was aborted', 'AbortError'), true);
        this.close(false, 'aborted by the caller');
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#unwatchSignal = () => signal.removeEventListener('abort', onAbort);
    }
    if (options.deadlineMs !== undefined) {
      const ms = Math.min(options.deadlineMs + graceMs, 2 ** 31 - 1);
      this.#timer = setTimeout(() => {
        this.#fail(new CallError('TIMEOUT', `no answer within the ${options.deadlineMs} ms deadline`), true);
        this.close(false, 'deadline passed');
      }, ms);
    }
  }

  next(): Promise<CallEnvelope> {
    const envelope = this.#queue.shift();
    if (envelope) {
      if (this.#queue.length < HIGH_WATER_FRAMES / 2 && this.#stream.isPaused()) this.#stream.resume();
      return Promise.resolve(envelope);
    }
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  /** The error for an envelope that does not fit here: the server's call.error, or a protocol error. */
  unexpected(envelope: CallEnvelope): Error {
    if (envelope.type === 'call.error') return CallError.fromShape(envelope.payload);
    return new CallError('INTERNAL', `protocol error: unexpected ${envelope.type} from the server`, { retryable: false });
  }

  /** Ends the exchange; unless it finished normally, tells the server to abort first. */
  close(finished: boolean, reason = 'the client stopped'): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#unwatchSignal?.();
    this.#fail(new CallError('UNAVAILABLE', 'the call was closed', { retryable: false }));
    const stream = this.#stream;
    if (stream.destroyed) return;
    if (!finished && stream.writable) {
      try {
        stream.write(encodeFrame({ type: 'call.aborted', id: this.#id, payload: { reason } }));
      } catch {
        /* the stream is going away anyway */
      }
    }
    stream.end();
    // Keep reading (and discarding) so the server's end arrives; destroy if it never does.
    stream.resume();
    const timer = setTimeout(() => stream.destroy(), finished ? 2_000 : 500);
    timer.unref();
    stream.once('close', () => clearTimeout(timer));
  }

  readonly #onData = (chunk: unknown): void => {
    if (this.#closed) return;
    this.#decoder.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array));
    this.#drain();
  };

  readonly #onEnd = (): void => {
    if (this.#closed) return;
    this.#decoder.end();
    this.#drain();
    this.#fail(new CallError('UNAVAILABLE', 'the server closed the stream before answering'));
  };

  readonly #onError = (err: Error): void => {
    this.#fail(new CallError('UNAVAILABLE', `the stream failed: ${err.message}`));
  };

  #drain(): void {
    for (;;) {
      let envelope: CallEnvelope | undefined;
      try {
        envelope = this.#decoder.pull();
      } catch (err) {
        const message = err instanceof CallFrameError ? err.message : String(err);
        this.#fail(new CallError('INTERNAL', `protocol error: bad frame from the server: ${message}`, { retryable: false }));
        this.#stream.destroy();
        return;
      }
      if (!envelope) return;
      // On a stream of its own, an error for no readable id ("-": the frame was refused from its
      // header, e.g. BUSY from the node's buffer budget) is this call's answer.
      if (envelope.id !== this.#id && !(envelope.type === 'call.error' && envelope.id === STREAM_ERROR_ID)) {
        this.#fail(new CallError('INTERNAL', 'protocol error: the server answered another call id', { retryable: false }));
        this.#stream.destroy();
        return;
      }
      if (this.#waiter) {
        const waiter = this.#waiter;
        this.#waiter = undefined;
        waiter.resolve(envelope);
      } else {
        this.#queue.push(envelope);
        if (this.#queue.length >= HIGH_WATER_FRAMES) this.#stream.pause();
      }
    }
  }

  /** Records the first failure; queued envelopes are still delivered before it unless `now`. */
  #fail(err: unknown, now = false): void {
    if (this.#failure !== undefined) return;
    this.#failure = err;
    if (now) this.#queue.length = 0;
    if (this.#waiter) {
      const waiter = this.#waiter;
      this.#waiter = undefined;
      waiter.reject(err);
    }
  }
}
