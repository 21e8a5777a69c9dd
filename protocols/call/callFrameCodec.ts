// alknet/call framing: each frame is a 4-byte big-endian length followed by that many bytes of one
// msgpack envelope `{type, id, payload}`. Pure: no streams, no actors. The decoder is incremental
// (push chunks as they arrive, pull envelopes) and never keeps more than one incomplete frame of raw
// bytes, so a peer cannot make it buffer more than `maxFrameBytes + 4`.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { decode, encode } from '../../bus/codec.ts';
import type { ErrorCode } from '../../operations/errors.ts';
import type { BytesBudget } from '../../lib/byteBudget.ts';

/** Frames up to this size are buffered without asking the node-wide budget (small calls stay cheap). */
export const BUDGET_FREE_BYTES = 64 * 1024;

export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** The id of a server's call.error when the frame it answers had no readable id (refused from its header). */
export const STREAM_ERROR_ID = '-';
const HEADER_BYTES = 4;
/** The largest length the 4-byte header can express; also the largest configurable limit. */
const MAX_HEADER_LENGTH = 0xffff_ffff;

const Id = Type.String({ minLength: 1, maxLength: 128 });
const ErrorCodeText = Type.String({ pattern: '^[A-Z][A-Z_]{0,63}$' });

export const RequestedPayload = Type.Object({
  operationId: Type.String({ minLength: 1, maxLength: 256 }),
  input: Type.Optional(Type.Unknown()),
  authToken: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
  deadlineMs: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
});
export const RespondedPayload = Type.Object({ output: Type.Optional(Type.Unknown()) });
export const CompletedPayload = Type.Object({});
export const AbortedPayload = Type.Object({ reason: Type.Optional(Type.String({ maxLength: 4096 })) });
export const ErrorPayload = Type.Object({
  code: ErrorCodeText,
  message: Type.String({ maxLength: 65536 }),
  retryable: Type.Boolean(),
  details: Type.Optional(Type.Unknown()),
});

const PAYLOADS = {
  'call.requested': RequestedPayload,
  'call.responded': RespondedPayload,
  'call.completed': CompletedPayload,
  'call.aborted': AbortedPayload,
  'call.error': ErrorPayload,
} as const;

export type CallEnvelopeType = keyof typeof PAYLOADS;
export const CALL_ENVELOPE_TYPES = Object.keys(PAYLOADS) as CallEnvelopeType[];

type PayloadOf<T extends CallEnvelopeType> = Static<(typeof PAYLOADS)[T]>;

export type CallRequested = { type: 'call.requested'; id: string; payload: PayloadOf<'call.requested'> };
export type CallResponded = { type: 'call.responded'; id: string; payload: PayloadOf<'call.responded'> };
export type CallCompleted = { type: 'call.completed'; id: string; payload: PayloadOf<'call.completed'> };
export type CallAborted = { type: 'call.aborted'; id: string; payload: PayloadOf<'call.aborted'> };
/** `code` is one of ErrorCode when it comes from this version; a newer peer may send others. */
export type CallErrored = {
  type: 'call.error';
  id: string;
  payload: Omit<PayloadOf<'call.error'>, 'code'> & { code: ErrorCode | (string & {}) };
};
export type CallEnvelope = CallRequested | CallResponded | CallCompleted | CallAborted | CallErrored;

const checks = Object.fromEntries(
  Object.entries(PAYLOADS).map(([type, schema]) => [type, TypeCompiler.Compile(schema as TSchema)]),
) as Record<CallEnvelopeType, TypeCheck<TSchema>>;

export type CallFrameErrorKind = 'length' | 'truncated' | 'msgpack' | 'envelope' | 'encode' | 'busy';

/** A frame that cannot be read or written. `id` is set when the envelope was readable enough to have one. */
export class CallFrameError extends Error {
  override name = 'CallFrameError';
  readonly kind: CallFrameErrorKind;
  readonly id?: string;
  constructor(kind: CallFrameErrorKind, message: string, id?: string) {
    super(message);
    this.kind = kind;
    if (id !== undefined) this.id = id;
  }
}

function checkLimit(maxFrameBytes: number): number {
  if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 1 || maxFrameBytes > MAX_HEADER_LENGTH) {
    throw new RangeError(`maxFrameBytes must be an integer from 1 to ${MAX_HEADER_LENGTH}, got ${maxFrameBytes}`);
  }
  return maxFrameBytes;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || ArrayBuffer.isView(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Checks a decoded value is a well-formed envelope; throws CallFrameError('envelope') naming what is wrong. */
export function validateEnvelope(value: unknown): CallEnvelope {
  if (!isPlainObject(value)) throw new CallFrameError('envelope', 'envelope is not a map');
  const id = typeof value.id === 'string' && value.id.length > 0 && value.id.length <= 128 ? value.id : undefined;
  for (const key of Object.keys(value)) {
    if (key !== 'type' && key !== 'id' && key !== 'payload') {
      throw new CallFrameError('envelope', `envelope has an unknown field "${key.slice(0, 64)}"`, id);
    }
  }
  if (typeof value.type !== 'string') throw new CallFrameError('envelope', 'envelope field "type" must be a string', id);
  if (!Object.hasOwn(PAYLOADS, value.type)) {
    throw new CallFrameError('envelope', `unknown envelope type "${value.type.slice(0, 64)}"`, id);
  }
  if (id === undefined) throw new CallFrameError('envelope', 'envelope field "id" must be a string of 1 to 128 characters');
  const type = value.type as CallEnvelopeType;
  if (!isPlainObject(value.payload)) throw new CallFrameError('envelope', `${type}: "payload" must be a map`, id);
  const check = checks[type];
  if (!check.Check(value.payload)) {
    const first = check.Errors(value.payload).First();
    const where = first && first.path !== '' ? `payload${first.path}` : 'payload';
    throw new CallFrameError('envelope', `${type}: ${where}: ${first?.message ?? 'invalid'}`, id);
  }
  return { type, id, payload: value.payload } as CallEnvelope;
}

/** Envelope → length-prefixed frame. Throws CallFrameError('encode') if it does not fit the limit. */
export function encodeFrame(envelope: CallEnvelope, maxFrameBytes = DEFAULT_MAX_FRAME_BYTES): Uint8Array {
  checkLimit(maxFrameBytes);
  let body: Uint8Array;
  try {
    body = encode({ type: envelope.type, id: envelope.id, payload: envelope.payload });
  } catch (err) {
    throw new CallFrameError('encode', `cannot encode ${envelope.type}: ${(err as Error).message.split('\n')[0]}`, envelope.id);
  }
  if (body.length > maxFrameBytes) {
    throw new CallFrameError('encode', `${envelope.type} is ${body.length} bytes, above the ${maxFrameBytes}-byte frame limit`, envelope.id);
  }
  const frame = new Uint8Array(HEADER_BYTES + body.length);
  new DataView(frame.buffer).setUint32(0, body.length, false);
  frame.set(body, HEADER_BYTES);
  return frame;
}

/** One frame body (without its header) → envelope. */
export function decodeFrameBody(body: Uint8Array): CallEnvelope {
  let value: unknown;
  try {
    // bus/codec throws on trailing bytes after the first value, which is what we want here.
    value = decode(body);
  } catch (err) {
    const reason = (err as Error).message ?? String(err);
    const trailing = /end of buffer not reached/i.test(reason);
    throw new CallFrameError('msgpack', trailing ? 'frame has trailing bytes after its msgpack value' : 'frame is not valid msgpack');
  }
  return validateEnvelope(value);
}

/**
 * Incremental decoder. `push` never throws: complete frames are decoded at once and queued, and the
 * first bad frame is remembered and thrown by `pull` after the good frames before it, in order. After
 * an error the decoder is dead (framing cannot be resynchronised).
 */
export class CallFrameDecoder {
  readonly maxFrameBytes: number;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #expected = -1; // body length of the frame in progress, once its header is complete
  #ready: CallEnvelope[] = [];
  #error: CallFrameError | undefined;
  #ended = false;
  readonly #budget: BytesBudget | undefined;
  /** Bytes of the frame in progress taken from the budget. */
  #reserved = 0;

  /**
   * `budget`: the node-wide budget of bytes held for clients. A frame above BUDGET_FREE_BYTES takes
   * its announced length from it before any of its body is buffered, and gives it back once the
   * frame is complete or the decoder is released; when the budget is spent the frame is refused.
   */
  constructor(options: { maxFrameBytes?: number; budget?: BytesBudget } = {}) {
    this.maxFrameBytes = checkLimit(options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
    this.#budget = options.budget;
  }

  /** Gives back what the frame in progress took from the budget (call when the stream goes away). */
  release(): void {
    this.#budget?.give(this.#reserved);
    this.#reserved = 0;
  }

  /** Raw bytes held for the incomplete frame; never above maxFrameBytes + 4. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /** True once a bad frame was seen (pull will throw it when reached). */
  get failed(): boolean {
    return this.#error !== undefined;
  }

  push(chunk: Uint8Array): void {
    if (this.#error || this.#ended) return;
    let offset = 0;
    while (offset < chunk.length && !this.#error) {
      const want = this.#expected < 0 ? HEADER_BYTES - this.#buffered : HEADER_BYTES + this.#expected - this.#buffered;
      const take = Math.min(want, chunk.length - offset);
      // A piece that waits for more input is copied so it does not pin the caller's (larger) chunk.
      const piece = chunk.subarray(offset, offset + take);
      this.#chunks.push(take < want ? piece.slice() : piece);
      this.#buffered += take;
      offset += take;
      if (take < want) break;
      if (this.#expected < 0) {
        const header = this.#concat();
        const length = new DataView(header.buffer, header.byteOffset, HEADER_BYTES).getUint32(0, false);
        if (length === 0) this.#fail(new CallFrameError('length', 'frame length is 0'));
        else if (length > this.maxFrameBytes) {
          this.#fail(new CallFrameError('length', `frame length ${length} is above the ${this.maxFrameBytes}-byte limit`));
        } else if (length > BUDGET_FREE_BYTES && this.#budget && !this.#budget.tryTake(length)) {
          this.#fail(new CallFrameError('busy', `the node is holding too many bytes for clients; a ${length}-byte frame cannot be taken now`));
        } else {
          if (length > BUDGET_FREE_BYTES && this.#budget) this.#reserved = length;
          this.#chunks = [header.slice()];
          this.#expected = length;
        }
      } else {
        const frame = this.#concat();
        this.#chunks = [];
        this.#buffered = 0;
        this.#expected = -1;
        this.release();
        try {
          this.#ready.push(decodeFrameBody(frame.subarray(HEADER_BYTES)));
        } catch (err) {
          this.#fail(err as CallFrameError);
        }
      }
    }
  }

  /** Marks the end of input: an incomplete frame left over becomes a 'truncated' error. */
  end(): void {
    if (this.#ended || this.#error) return;
    this.#ended = true;
    if (this.#buffered > 0) {
      this.#fail(new CallFrameError('truncated', `stream ended inside a frame (${this.#buffered} bytes of an incomplete frame)`));
    }
  }

  /** The next envelope, or undefined when none is complete yet. Throws the first bad frame's error. */
  pull(): CallEnvelope | undefined {
    const next = this.#ready.shift();
    if (next) return next;
    if (this.#error) throw this.#error;
    return undefined;
  }

  #concat(): Uint8Array {
    if (this.#chunks.length === 1) return this.#chunks[0]!;
    const out = new Uint8Array(this.#buffered);
    let at = 0;
    for (const c of this.#chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }

  #fail(err: CallFrameError): void {
    this.#error = err;
    this.#chunks = [];
    this.#buffered = 0;
    this.release();
  }
}
