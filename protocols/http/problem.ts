// Errors as `application/problem+json` (RFC 9457): `{type, title, status, detail, code, retryable,
// details?}` where `code` is the call error code (docs/call.md "Error codes") and `type` names it
// (`urn:alknet:error:FORBIDDEN`). A CallError keeps its code and message; anything else is INTERNAL
// with a generic text, since its message may carry paths or secrets.
import { STATUS_CODES } from 'node:http';
import { toErrorShape, type ErrorCode, type ErrorShape } from '../../operations/errors.ts';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  retryable: boolean;
  details?: unknown;
}

const STATUS_OF: Record<ErrorCode, number> = {
  NOT_FOUND: 404,
  FORBIDDEN: 403,
  INVALID_INPUT: 400,
  TIMEOUT: 504,
  BUSY: 503,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

export function statusOfCode(code: ErrorCode): number {
  return STATUS_OF[code] ?? 500;
}

export function problem(status: number, code: ErrorCode, detail: string, extra: { retryable?: boolean; details?: unknown } = {}): Problem {
  const p: Problem = {
    type: `urn:alknet:error:${code}`,
    title: STATUS_CODES[status] ?? 'Error',
    status,
    detail: detail.slice(0, 1024),
    code,
    retryable: extra.retryable ?? (code === 'TIMEOUT' || code === 'BUSY' || code === 'UNAVAILABLE'),
  };
  if (extra.details !== undefined) p.details = extra.details;
  return p;
}

/**
 * A thrown error as a problem. A FORBIDDEN for a caller that showed no credentials is 401 (it may
 * authenticate and try again); for one that did, 403.
 */
export function problemOf(err: unknown, authenticated = true): Problem {
  const shape: ErrorShape = toErrorShape(err);
  let status = statusOfCode(shape.code);
  if (shape.code === 'FORBIDDEN' && !authenticated) status = 401;
  return problem(status, shape.code, shape.message, { retryable: shape.retryable, ...(shape.details !== undefined ? { details: shape.details } : {}) });
}

/** A problem raised inside the HTTP layer itself (bad body, unknown route, too large). */
export class HttpProblem extends Error {
  override name = 'HttpProblem';
  constructor(readonly problem: Problem, readonly headers: Record<string, string> = {}) {
    super(problem.detail);
  }
}

export function httpProblem(status: number, code: ErrorCode, detail: string, extra: { details?: unknown; headers?: Record<string, string> } = {}): HttpProblem {
  return new HttpProblem(problem(status, code, detail, extra.details !== undefined ? { details: extra.details } : {}), extra.headers ?? {});
}
