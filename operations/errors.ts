// The error shape of alknet/call is the bus's: `{code, message, retryable, details?}` with the codes
// of bus/errors.ts. CallError is a BusError, so an error crosses between the bus and the call
// protocol unchanged in both directions.
import { BusError, fromErrorShape, isErrorCode, type BusErrorOptions, type ErrorCode, type ErrorShape } from '../bus/errors.ts';

export { BusError, ERROR_CODES, isErrorCode, type ErrorCode, type ErrorShape } from '../bus/errors.ts';

export class CallError extends BusError {
  override name = 'CallError';

  constructor(code: ErrorCode, message: string, options: BusErrorOptions = {}) {
    super(code, message, options);
  }

  toShape(): ErrorShape {
    const shape: ErrorShape = { code: this.code, message: this.message, retryable: this.retryable };
    if (this.details !== undefined) shape.details = this.details;
    return shape;
  }

  /** From a shape of unknown origin (a peer's call.error): an unknown code becomes INTERNAL, long text is cut. */
  static fromShape(shape: unknown): CallError {
    const checked = fromErrorShape(shape);
    return new CallError(checked.code, checked.message, { retryable: checked.retryable, details: checked.details });
  }
}

/** True for a BusError/CallError, or any error object carrying a known code, a message and `retryable`. */
export function hasErrorShape(err: unknown): err is ErrorShape {
  if (err instanceof BusError) return true;
  if (typeof err !== 'object' || err === null) return false;
  const e = err as Record<string, unknown>;
  return isErrorCode(e.code) && typeof e.message === 'string' && typeof e.retryable === 'boolean';
}

/**
 * Anything a handler throws → the wire shape. A coded error keeps its code and message; anything
 * else becomes INTERNAL with a generic message, because its text or stack may carry paths or secrets.
 */
export function toErrorShape(err: unknown): ErrorShape {
  if (hasErrorShape(err)) {
    const shape: ErrorShape = { code: err.code, message: err.message, retryable: err.retryable };
    if (err.details !== undefined) shape.details = err.details;
    return shape;
  }
  return { code: 'INTERNAL', message: 'internal error', retryable: false };
}
