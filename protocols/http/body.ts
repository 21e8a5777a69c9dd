// Request bodies: read up to a limit (413 past it, from Content-Length before a byte is read, or as
// the bytes arrive), then parsed as JSON (400 with where it broke). A body is only read where a
// route takes one.
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import { httpProblem } from './problem.ts';

export type AnyRequest = IncomingMessage | Http2ServerRequest;

export function readBody(req: AnyRequest, maxBytes: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) {
    return Promise.reject(tooLarge(maxBytes, `Content-Length ${Number(declared)}`));
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let done = false;
    const finish = (err: Error | null, body?: Buffer): void => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
      if (err) reject(err);
      else resolve(body!);
    };
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > maxBytes) {
        chunks.length = 0;
        // Stop taking bytes; the 413 is answered and the connection (h1) or stream (h2) closed after it.
        req.pause();
        finish(tooLarge(maxBytes, 'the body'));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => finish(null, Buffer.concat(chunks, total));
    const onError = (err: Error): void => finish(httpProblem(400, 'INVALID_INPUT', `the request body could not be read: ${err.message.slice(0, 200)}`));
    const onAborted = (): void => finish(httpProblem(400, 'INVALID_INPUT', 'the request was aborted'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}

function tooLarge(maxBytes: number, what: string) {
  return httpProblem(413, 'INVALID_INPUT', `${what} is above the ${maxBytes}-byte limit of a request body`, { details: { maxBytes } });
}

/** The body as JSON. Content-Type, when given, must be JSON (`application/json` or `…+json`). */
export function parseJsonBody(req: AnyRequest, body: Buffer, options: { emptyAs?: unknown } = {}): unknown {
  const type = req.headers['content-type'];
  if (type !== undefined && !/^application\/([a-z0-9.+-]*\+)?json\s*(;.*)?$/i.test(type)) {
    throw httpProblem(415, 'INVALID_INPUT', `the body must be JSON (Content-Type: application/json), not ${JSON.stringify(type.slice(0, 100))}`);
  }
  if (body.length === 0 && 'emptyAs' in options) return options.emptyAs;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw httpProblem(400, 'INVALID_INPUT', `the body is not JSON: ${(err as Error).message.slice(0, 200)}`);
  }
}
