// The HTTP front end's limits (config.toml [http]; docs/http.md "Limits"). Every value bounds what
// one client can make the node hold or wait for.
export interface HttpLimits {
  /** Largest request body, bytes; past it 413 (default 16 MiB). */
  maxBodyBytes: number;
  /** Largest request head (request line + headers), bytes; past it 431 (default 16 KiB). */
  maxHeaderBytes: number;
  /** A request head not complete within this is answered 408 and its connection closed, ms (default 10 s). */
  headersTimeoutMs: number;
  /** A whole request (head and body) not received within this is answered 408, ms (default 60 s). */
  requestTimeoutMs: number;
  /** Calls in one POST /batch or MCP `batch` (default 64). */
  maxBatchCalls: number;
  /** h2: streams one client may have open at once (default 100). */
  maxConcurrentStreams: number;
  /** Server-Sent Event streams (subscriptions, /debug) open at once per connection (default 16). */
  maxEventStreamsPerConnection: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  maxBodyBytes: 16 * 1024 * 1024,
  maxHeaderBytes: 16 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  maxBatchCalls: 64,
  maxConcurrentStreams: 100,
  maxEventStreamsPerConnection: 16,
};

/** Bytes an h2 client may make one session buffer (nghttp2's own accounting) before new streams are refused: 16 MiB + a body. */
export function h2SessionMemoryMb(limits: HttpLimits): number {
  return Math.max(10, Math.ceil((limits.maxBodyBytes + 16 * 1024 * 1024) / (1024 * 1024)));
}
