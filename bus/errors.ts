// The one error type of the bus, shared with the call protocol's `call.error {code, message,
// retryable, details?}`. Anything else that is thrown is turned into INTERNAL with a generic
// message, so a stack trace, a path or a secret never crosses the bus or the wire.
import { Type as T, type Static } from '@sinclair/typebox';

export const ERROR_CODES = ['NOT_FOUND', 'FORBIDDEN', 'INVALID_INPUT', 'TIMEOUT', 'BUSY', 'UNAVAILABLE', 'INTERNAL'] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Codes a caller may retry as-is: the callee was slow, full or away, not wrong. */
const RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['TIMEOUT', 'BUSY', 'UNAVAILABLE']);

/** Longest message/details text kept from the wire, so a peer cannot make us hold megabytes of error text. */
const MAX_MESSAGE_LENGTH = 1024;

export const ErrorShapeSchema = T.Object({
  code: T.Union(ERROR_CODES.map((c) => T.Literal(c))),
  message: T.String({ maxLength: MAX_MESSAGE_LENGTH }),
  retryable: T.Boolean(),
  details: T.Optional(T.Unknown()),
});
export type ErrorShape = Static<typeof ErrorShapeSchema>;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

export interface BusErrorOptions {
  /** Defaults to true for TIMEOUT, BUSY and UNAVAILABLE, false otherwise. */
  retryable?: boolean;
  /** Small, non-secret, serialisable data for the caller (e.g. the invalid field). */
  details?: unknown;
  /** Local cause, kept for logs on this process only; never serialised. */
  cause?: unknown;
}

export class BusError extends Error {
  override name = 'BusError';
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details?: unknown;

  constructor(code: ErrorCode, message: string, options: BusErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? RETRYABLE.has(code);
    if (options.details !== undefined) this.details = options.details;
  }
}

export function isBusError(value: unknown): value is BusError {
  return value instanceof BusError;
}

/** The wire form of an error. A non-BusError becomes a generic INTERNAL: its text stays local. */
export function toErrorShape(err: unknown): ErrorShape {
  if (err instanceof BusError) {
    const shape: ErrorShape = { code: err.code, message: err.message, retryable: err.retryable };
    if (err.details !== undefined) shape.details = err.details;
    return shape;
  }
  return { code: 'INTERNAL', message: 'internal error', retryable: false };
}

/**
 * Rebuilds a BusError from a shape that came from elsewhere (possibly a hostile peer): an unknown
 * code becomes INTERNAL, a missing/overlong message is replaced or cut, `retryable` must be boolean.
 */
export function fromErrorShape(shape: unknown): BusError {
  if (typeof shape !== 'object' || shape === null) {
    return new BusError('INTERNAL', 'malformed error from peer', { retryable: false });
  }
  const s = shape as Record<string, unknown>;
  const code: ErrorCode = isErrorCode(s.code) ? s.code : 'INTERNAL';
  let message = typeof s.message === 'string' ? s.message : 'error without a message';
  if (message.length > MAX_MESSAGE_LENGTH) message = message.slice(0, MAX_MESSAGE_LENGTH) + '…';
  const retryable = typeof s.retryable === 'boolean' ? s.retryable : undefined;
  return new BusError(code, message, { retryable, details: s.details });
}
