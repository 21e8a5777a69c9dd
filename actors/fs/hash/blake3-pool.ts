// A small pool of worker threads that hash bao groups (BLAKE3 chaining values) off the main thread,
// so a fetch keeps reading its socket and writing verified groups while the next groups hash.
// Only hashing happens here: the caller compares each value with the one the tree proves.
//
// Workers start on first use and are unref'd whenever they have nothing to do, so an idle pool
// never keeps the process alive; `close()` (BlobStore.close) terminates them.
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { META_FIELDS } from './blake3-pool-wire.ts';
import type { PoolReply, PoolRequest } from './blake3-pool-wire.ts';

const OUT_LEN = 32;
/** Worker failures (start or crash) after which the pool gives up and callers hash on their own thread. */
const MAX_FAILURES = 3;
/** Transfer buffers kept for reuse (each goes to a worker and comes back with its reply). */
const SPARE_BUFFERS = 8;

export interface HashJob {
  data: Uint8Array;
  /** Index of the group's first chunk (BLAKE3 chunk counter). */
  startChunk: number;
  isRoot: boolean;
}

export class Blake3PoolError extends Error {
  override name = 'Blake3PoolError';
}

interface Pending {
  count: number;
  resolve: (cvs: Uint8Array) => void;
  reject: (error: Error) => void;
}

interface PoolWorker {
  worker: Worker;
  pending: Map<number, Pending>;
}

/**
 * Worker threads a process's blob store uses: `ALKNET_HASH_WORKERS` if set (0 turns the pool off),
 * else 1 on machines with 4 or more cores, else 0. On 2 cores a worker measured no gain (the two
 * nodes' TLS and file work already fill both cores: docs/blobs-protocol.md "Third pass"), so small
 * machines keep hashing on the main thread.
 */
export function defaultHashWorkers(env: NodeJS.ProcessEnv = process.env): number {
  const configured = env.ALKNET_HASH_WORKERS;
  if (configured !== undefined && configured !== '') {
    const n = Number(configured);
    if (Number.isInteger(n) && n >= 0 && n <= 64) return n;
  }
  return os.availableParallelism() >= 4 ? 1 : 0;
}

export class Blake3Pool {
  readonly size: number;
  readonly #workers: PoolWorker[] = [];
  readonly #spare: ArrayBuffer[] = [];
  #nextId = 1;
  #next = 0;
  #failures = 0;
  #closed = false;

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`blake3-pool: size must be a positive integer, not ${size}`);
    this.size = size;
  }

  /** False once closed or after repeated worker failures: callers then hash on their own thread. */
  get usable(): boolean {
    return !this.#closed && this.#failures < MAX_FAILURES;
  }

  /**
   * The chaining values of `jobs` (32 bytes each, in order), hashed on a worker. The bytes are
   * copied into a transfer buffer, so the caller's views stay valid and untouched.
   * Rejects (Blake3PoolError) when the pool is closed or a worker failed; the caller may then
   * hash the same jobs itself.
   */
  hash(jobs: HashJob[]): Promise<Uint8Array> {
    if (!this.usable) return Promise.reject(new Blake3PoolError('blake3-pool: not available'));
    let total = 0;
    for (const job of jobs) total += job.data.length;
    const buf = this.#buffer(total);
    const bytes = new Uint8Array(buf);
    const meta = new Float64Array(jobs.length * META_FIELDS);
    let at = 0;
    jobs.forEach((job, i) => {
      bytes.set(job.data, at);
      meta[i * META_FIELDS] = at;
      meta[i * META_FIELDS + 1] = job.data.length;
      meta[i * META_FIELDS + 2] = job.startChunk;
      meta[i * META_FIELDS + 3] = job.isRoot ? 1 : 0;
      at += job.data.length;
    });
    let target: PoolWorker;
    try {
      target = this.#pick();
    } catch (error) {
      this.#failures++;
      return Promise.reject(new Blake3PoolError(`blake3-pool: cannot start a worker: ${(error as Error).message}`));
    }
    const id = this.#nextId++;
    const request: PoolRequest = { id, buf, meta: meta.buffer };
    return new Promise<Uint8Array>((resolve, reject) => {
      if (target.pending.size === 0) target.worker.ref();
      target.pending.set(id, { count: jobs.length, resolve, reject });
      target.worker.postMessage(request, [buf, meta.buffer]);
    });
  }

  /** Terminates the workers; hashes still pending are rejected. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const workers = this.#workers.splice(0);
    for (const w of workers) this.#fail(w, new Blake3PoolError('blake3-pool: closed'));
    await Promise.allSettled(workers.map((w) => w.worker.terminate()));
  }

  #buffer(len: number): ArrayBuffer {
    const index = this.#spare.findIndex((b) => b.byteLength >= len);
    if (index >= 0) return this.#spare.splice(index, 1)[0]!;
    return new ArrayBuffer(len);
  }

  /** The worker with the fewest pending batches (starting one while the pool is below its size). */
  #pick(): PoolWorker {
    let best: PoolWorker | undefined;
    for (const w of this.#workers) if (!best || w.pending.size < best.pending.size) best = w;
    if (best && (best.pending.size === 0 || this.#workers.length >= this.size)) return best;
    return this.#start();
  }

  #start(): PoolWorker {
    // No inherited flags: some are fatal in a worker (--input-type, --expose-gc), and the entry
    // registers tsx itself, so it needs none of the parent's.
    const worker = new Worker(new URL('./blake3-worker.mjs', import.meta.url), { execArgv: [] });
    worker.unref();
    const entry: PoolWorker = { worker, pending: new Map() };
    this.#workers.push(entry);
    worker.on('message', (reply: PoolReply) => {
      const pending = entry.pending.get(reply.id);
      if (!pending) return;
      entry.pending.delete(reply.id);
      if (entry.pending.size === 0) worker.unref();
      if (reply.buf.byteLength > 0 && this.#spare.length < SPARE_BUFFERS) this.#spare.push(reply.buf);
      if (reply.cvs && reply.cvs.byteLength === OUT_LEN * pending.count) pending.resolve(new Uint8Array(reply.cvs));
      else pending.reject(new Blake3PoolError(`blake3-pool: worker failed: ${reply.error ?? 'no values'}`));
    });
    const lost = (error: Error): void => {
      const index = this.#workers.indexOf(entry);
      if (index < 0) return;
      this.#workers.splice(index, 1);
      this.#failures++;
      this.#fail(entry, new Blake3PoolError(`blake3-pool: worker lost: ${error.message}`));
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(`exited with code ${code}`)));
    return entry;
  }

  #fail(entry: PoolWorker, error: Error): void {
    const pending = [...entry.pending.values()];
    entry.pending.clear();
    entry.worker.unref();
    for (const p of pending) p.reject(error);
  }
}
