// Writing answers: JSON, problems, and Server-Sent Event streams, the same on HTTP/1.1 and h2
// (header names in lower case, no connection-specific headers on h2).
import type { ServerResponse } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';
import { stringifyJson } from './jsonSchema.ts';
import type { Problem } from './problem.ts';

export type AnyResponse = ServerResponse | Http2ServerResponse;

const COMMON = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };

export function sendBody(res: AnyResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, { ...COMMON, 'content-type': type, 'content-length': String(bytes.length), ...headers });
  res.end(bytes);
}

export function sendJson(res: AnyResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  sendBody(res, status, 'application/json; charset=utf-8', stringifyJson(value), headers);
}

export function sendProblem(res: AnyResponse, p: Problem, headers: Record<string, string> = {}): void {
  if (p.code === 'BUSY' || p.code === 'UNAVAILABLE') headers = { 'retry-after': '1', ...headers };
  sendBody(res, p.status, 'application/problem+json; charset=utf-8', JSON.stringify(p), headers);
}

/** Heartbeat comments keep idle streams (and the transport's idle timeout) alive. */
const HEARTBEAT_MS = 15_000;
/** A viewer with this much unread is cut off rather than allowed to grow the node's memory. */
const MAX_BACKLOG_BYTES = 8 * 1024 * 1024;

/** One Server-Sent Events stream. `send` resolves when the client has taken the bytes (back-pressure). */
export class EventStream {
  #closed = false;
  readonly #heartbeat: NodeJS.Timeout;
  readonly #onClose: Array<() => void> = [];

  constructor(private readonly res: AnyResponse) {
    res.writeHead(200, { ...COMMON, 'content-type': 'text/event-stream; charset=utf-8', 'x-accel-buffering': 'no' });
    (res as ServerResponse).write(': alknet event stream\n\n');
    this.#heartbeat = setInterval(() => this.#write(': keep-alive\n\n'), HEARTBEAT_MS);
    this.#heartbeat.unref();
    res.on('close', () => this.#finish());
  }

  get closed(): boolean {
    return this.#closed;
  }

  onClose(fn: () => void): void {
    if (this.#closed) fn();
    else this.#onClose.push(fn);
  }

  /** Writes one event; resolves once it is taken (or at once when the stream is gone). */
  send(event: string, data: unknown): Promise<void> {
    const text = `event: ${event}\ndata: ${typeof data === 'string' ? data : stringifyJson(data)}\n\n`;
    if (!this.#write(text)) return new Promise((resolve) => {
      const done = (): void => {
        this.res.off('drain', done);
        resolve();
      };
      this.res.on('drain', done);
      this.onClose(done);
    });
    return Promise.resolve();
  }

  /** Like send, but never waits: a viewer that falls too far behind is disconnected. */
  push(event: string, data: unknown): void {
    if (this.#closed) return;
    if (this.res.writableLength > MAX_BACKLOG_BYTES) {
      this.close();
      return;
    }
    this.#write(`event: ${event}\ndata: ${typeof data === 'string' ? data : stringifyJson(data)}\n\n`);
  }

  close(): void {
    if (this.#closed) return;
    this.res.end();
    this.#finish();
  }

  #write(text: string): boolean {
    if (this.#closed) return true;
    return (this.res as ServerResponse).write(text);
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    for (const fn of this.#onClose.splice(0)) fn();
  }
}
