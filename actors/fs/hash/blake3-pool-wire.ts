// Messages between blake3-pool.ts and its worker threads (blake3-worker.ts).

/** Numbers per group in `PoolRequest.meta`: offset in `buf`, length, first chunk index, root flag (0/1). */
export const META_FIELDS = 4;

export interface PoolRequest {
  id: number;
  /** The groups' bytes back to back (transferred to the worker, and back with the reply). */
  buf: ArrayBuffer;
  /** A Float64Array's buffer, META_FIELDS numbers per group. */
  meta: ArrayBuffer;
}

export interface PoolReply {
  id: number;
  buf: ArrayBuffer;
  /** 32 bytes per group, in request order. */
  cvs?: ArrayBuffer;
  error?: string;
}
