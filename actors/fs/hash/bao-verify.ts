// Verifies a bao slice with the group hashing on a worker pool, pipelined: the main thread keeps
// splitting the stream and checking parents (BaoDecoder.writeUnchecked) while a worker hashes the
// groups already received; each batch's values come back in order and are compared here with the
// values the verified parents proved. A group is handed out only after that comparison, so
// nothing unverified leaves this module, and the first bad group ends the stream at that group,
// exactly as BaoDecoder.write would (same error, groups before it still handed out).
import { checkGroup, groupMismatch, sameBytes, verifiedGroup } from './bao-decode.ts';
import type { BaoDecoder, BaoVerifyError, UncheckedGroup, VerifiedGroup } from './bao-decode.ts';
import type { Blake3Pool } from './blake3-pool.ts';
import { subtreeCV } from './blake3.ts';

export interface PipelinedVerifierOptions {
  /** Groups per batch sent to a worker (default 32: 512 KiB of 16 KiB groups). */
  batchGroups?: number;
  /** Batches being hashed at once before `write` waits for the oldest (default 4). */
  maxBatchesInFlight?: number;
  /** Content smaller than this is verified on this thread, with no worker round trip (default 1 MiB). */
  minPoolBytes?: number;
}

interface Batch {
  groups: UncheckedGroup[];
  /** The values, once the worker answered; undefined until then, or when it could not (hash here). */
  cvs?: Uint8Array;
  settled: boolean;
  done: Promise<void>;
}

export class PipelinedVerifier {
  readonly #decoder: BaoDecoder;
  readonly #pool: Blake3Pool | undefined;
  readonly #batchGroups: number;
  readonly #maxInFlight: number;
  readonly #minPoolBytes: number;
  /** Groups split off but not yet in a batch. */
  #pending: UncheckedGroup[] = [];
  readonly #batches: Batch[] = [];
  /** The decoder's own failure (parent, header, trailing), reported after the groups before it. */
  #decoderFailure: BaoVerifyError | undefined;
  #failure: BaoVerifyError | undefined;
  #pooled: boolean | undefined;

  constructor(decoder: BaoDecoder, pool: Blake3Pool | undefined, opts: PipelinedVerifierOptions = {}) {
    this.#decoder = decoder;
    this.#pool = pool;
    this.#batchGroups = opts.batchGroups ?? 32;
    this.#maxInFlight = opts.maxBatchesInFlight ?? 4;
    this.#minPoolBytes = opts.minPoolBytes ?? 1024 * 1024;
  }

  /**
   * True when groups of this stream go to the pool. Decided once, when the size header has been
   * read, so that results never overtake each other (a pool that fails later has its batches
   * hashed here, still in order).
   */
  get pooled(): boolean {
    if (this.#pooled === undefined) {
      const size = this.#decoder.size;
      if (size === undefined) return false;
      this.#pooled = this.#pool !== undefined && this.#pool.usable && size >= this.#minPoolBytes;
    }
    return this.#pooled;
  }

  /**
   * Takes the next piece of the stream. Resolves with the groups verified so far (in stream order,
   * possibly from earlier pieces); waits only when too many batches are being hashed. Once a bad
   * node is found, the returned iterator yields the groups before it and then throws its
   * BaoVerifyError; iterate it fully.
   */
  async write(piece: Uint8Array): Promise<IterableIterator<VerifiedGroup>> {
    if (this.#failure || this.#decoderFailure) return this.#result([]);
    if (this.#direct) {
      // Hashed here as it is split (BaoDecoder.writeVerified): a group that spans pieces is hashed
      // from a reused scratch and handed out as views of the pieces, with no copy kept.
      const out: VerifiedGroup[] = [];
      this.#failure = this.#decoder.writeVerified(piece, out);
      return this.#result(out);
    }
    this.#decoderFailure = this.#decoder.writeUnchecked(piece, this.#pending);
    if (this.#decoderFailure) return this.#result(await this.#drain());
    if (!this.pooled) return this.#result(this.#checkPendingHere());
    while (this.#pending.length >= this.#batchGroups) this.#dispatch(this.#pending.splice(0, this.#batchGroups));
    const out: VerifiedGroup[] = [];
    this.#harvest(out);
    while (!this.#failure && this.#batches.length > this.#maxInFlight) {
      await this.#batches[0]!.done;
      this.#harvest(out);
    }
    return this.#result(out);
  }

  /**
   * Like `write`, for a loop that feeds many pieces: pushes the groups verified so far to `out` and
   * returns the failure that ends the stream (after pushing the groups before it), else undefined.
   * Synchronous (no promise, no iterator per piece) when the groups are hashed on this thread.
   */
  writeInto(piece: Uint8Array, out: VerifiedGroup[]): BaoVerifyError | undefined | Promise<BaoVerifyError | undefined> {
    const failure = this.#failure ?? this.#decoderFailure;
    if (failure) return failure;
    if (this.#direct) {
      this.#failure = this.#decoder.writeVerified(piece, out);
      return this.#failure;
    }
    return this.write(piece).then((groups) => {
      try {
        for (const group of groups) out.push(group);
      } catch (error) {
        return error as BaoVerifyError;
      }
      return undefined;
    });
  }

  /** At the end of the stream: the remaining verified groups; throws as BaoDecoder.finish does. */
  async finish(): Promise<IterableIterator<VerifiedGroup>> {
    const out = this.#failure || this.#decoderFailure ? [] : await this.#drain();
    const failure = this.#failure ?? this.#decoderFailure;
    const decoder = this.#decoder;
    return (function* () {
      yield* out;
      if (failure) throw failure;
      decoder.finish();
    })();
  }

  /**
   * The stream stopped early (cut off, not bad data): the groups received so far that verify, so
   * that they are kept for a resume. Never throws for a bad group; it just stops before it.
   */
  async settle(): Promise<VerifiedGroup[]> {
    return this.#failure || this.#decoderFailure ? [] : this.#drain();
  }

  /** No pool for this stream: every group is hashed on this thread as the decoder splits it. */
  get #direct(): boolean {
    return this.#pending.length === 0 && (this.#pool === undefined || (this.#decoder.size !== undefined && !this.pooled));
  }

  #result(out: VerifiedGroup[]): IterableIterator<VerifiedGroup> {
    const failure = this.#failure ?? this.#decoderFailure;
    return (function* () {
      yield* out;
      if (failure) throw failure;
    })();
  }

  /** Hashes the groups not yet batched on this thread (the tail, or a stream too small for the pool). */
  #checkPendingHere(): VerifiedGroup[] {
    const out: VerifiedGroup[] = [];
    const groups = this.#pending;
    this.#pending = [];
    for (const group of groups) {
      try {
        out.push(checkGroup(group));
      } catch (error) {
        this.#failure = error as BaoVerifyError;
        break;
      }
    }
    return out;
  }

  #dispatch(groups: UncheckedGroup[]): void {
    const batch: Batch = { groups, settled: false, done: Promise.resolve() };
    batch.done = this.#pool!.hash(groups.map((g) => ({ data: g.data, startChunk: g.startChunk, isRoot: g.isRoot }))).then(
      (cvs) => { batch.cvs = cvs; batch.settled = true; },
      // The worker could not (pool closed, worker lost): these groups are hashed here instead.
      () => { batch.settled = true; },
    );
    this.#batches.push(batch);
  }

  /** Compares every batch already answered, oldest first, stopping at the first one still hashing. */
  #harvest(out: VerifiedGroup[]): void {
    while (!this.#failure && this.#batches.length > 0 && this.#batches[0]!.settled) {
      const batch = this.#batches.shift()!;
      const { cvs } = batch;
      for (let i = 0; i < batch.groups.length; i++) {
        const group = batch.groups[i]!;
        const ok = cvs ? sameBytes(cvs.subarray(i * 32, i * 32 + 32), group.expected) : this.#checksHere(group);
        if (!ok) {
          this.#failure = groupMismatch(group);
          this.#batches.length = 0;
          return;
        }
        out.push(verifiedGroup(group));
      }
    }
  }

  #checksHere(group: UncheckedGroup): boolean {
    try {
      checkGroup(group);
      return true;
    } catch {
      return false;
    }
  }

  /** Hashes what is left: the unbatched tail here (while the workers finish), then every batch in order. */
  async #drain(): Promise<VerifiedGroup[]> {
    const tail = this.#pending;
    this.#pending = [];
    if (tail.length > 0) {
      // Hashed here while a worker finishes the batches before it; compared in order below.
      const cvs = new Uint8Array(tail.length * 32);
      tail.forEach((g, i) => cvs.set(subtreeCV(g.data, g.startChunk, g.isRoot), i * 32));
      this.#batches.push({ groups: tail, cvs, settled: true, done: Promise.resolve() });
    }
    const out: VerifiedGroup[] = [];
    while (!this.#failure && this.#batches.length > 0) {
      await this.#batches[0]!.done;
      this.#harvest(out);
    }
    return out;
  }
}
