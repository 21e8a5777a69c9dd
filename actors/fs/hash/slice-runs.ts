// Verifies a received bao slice and hands on its groups in runs: groups that follow each other in
// the content, gathered (as views, no copy) up to a byte limit, with the chaining value each
// group's verified parents prove. A writer puts one run into one writev; the receiving side of
// alknet/blobs sends one run per fs.writeGroups message. Pure: the only waiting is on `onRun`.
import { BaoVerifyError, type VerifiedGroup } from './bao-decode.ts';
import type { PipelinedVerifier } from './bao-verify.ts';

/** Bytes of one chaining value. */
const CV_LEN = 32;

export interface GroupRun {
  /** Index of the run's first group, and how many groups follow it. */
  firstGroup: number;
  groupCount: number;
  /** Byte offset of the run in the content, and its length. */
  offset: number;
  bytes: number;
  /** The run's bytes, in order, as views of the slice's pieces (a split group gives its parts). */
  data: Uint8Array[];
  /** 32 bytes per group: each group's proven chaining value; undefined when the blob is one group. */
  cvs: Uint8Array | undefined;
  /** With `copyInto`: the buffer the run was copied into (`data` is one view of it), to give back. */
  buffer?: Uint8Array;
}

/** Gathers verified groups into runs of consecutive groups, at most `runBytes` each (one group may exceed it). */
export class GroupRunBuilder {
  readonly #runBytes: number;
  #run: GroupRun | undefined;
  #cvs: Uint8Array;
  #cvCount = 0;

  readonly #copyInto: (() => Uint8Array) | undefined;

  /**
   * `copyInto`: copy each group, as it comes, into a buffer from this source (at least runBytes +
   * groupLen long) instead of keeping views of the pieces it came in; the pieces can then be
   * dropped at once (they are the socket's, and views kept for a whole run made them outlive the
   * young generation).
   */
  constructor(runBytes: number, groupLen: number, copyInto?: () => Uint8Array) {
    this.#runBytes = runBytes;
    this.#cvs = new Uint8Array((Math.ceil(runBytes / groupLen) + 1) * CV_LEN);
    this.#copyInto = copyInto;
  }

  /** Adds a group; returns the run it closed, if it does not continue the current one or that one is full. */
  add(group: VerifiedGroup): GroupRun | undefined {
    let done: GroupRun | undefined;
    const run = this.#run;
    if (run && (group.group !== run.firstGroup + run.groupCount || run.bytes >= this.#runBytes)) done = this.take();
    if (!this.#run) {
      this.#run = { firstGroup: group.group, groupCount: 0, offset: group.offset, bytes: 0, data: [], cvs: undefined };
      if (this.#copyInto) this.#run.buffer = this.#copyInto();
    }
    const current = this.#run;
    if (current.buffer) {
      let at = current.bytes;
      for (const part of group.parts ?? [group.data]) {
        current.buffer.set(part, at);
        at += part.length;
      }
    } else if (group.parts) current.data.push(...group.parts);
    else current.data.push(group.data);
    current.bytes += group.length;
    current.groupCount++;
    if (group.cv) {
      if (this.#cvCount * CV_LEN >= this.#cvs.length) this.#grow();
      this.#cvs.set(group.cv, CV_LEN * this.#cvCount++);
    }
    return done;
  }

  /** Ends the current run and returns it (undefined when none is open). */
  take(): GroupRun | undefined {
    const run = this.#run;
    if (!run) return undefined;
    this.#run = undefined;
    if (run.buffer) run.data = [run.buffer.subarray(0, run.bytes)];
    // A fresh array per run: the taker may keep the values while the next run is built.
    run.cvs = this.#cvCount > 0 ? this.#cvs.slice(0, this.#cvCount * CV_LEN) : undefined;
    this.#cvCount = 0;
    return run;
  }

  #grow(): void {
    const bigger = new Uint8Array(this.#cvs.length * 2);
    bigger.set(this.#cvs);
    this.#cvs = bigger;
  }
}

export interface VerifySliceOptions {
  /** Bytes gathered into one run (default 1 MiB). */
  runBytes?: number;
  /** Copy runs into buffers from here (see GroupRunBuilder) instead of handing on views. */
  copyInto?: () => Uint8Array;
  /** Bytes per group (the store's: 16 KiB). */
  groupLen: number;
  /** Groups to leave out (already stored); none by default. */
  skip?: (group: number) => boolean;
}

/**
 * Feeds the slice to `verifier` and calls `onRun` for every run of verified groups, in order. Ends
 * with the last run handed on; then returns the failure, if any: a BaoVerifyError for bad data
 * (the groups before it were handed on), or the error that cut the source off (every group that
 * arrived and verifies was handed on, so a resume skips it). Never hands on an unverified byte.
 */
export async function verifySlice(
  verifier: PipelinedVerifier, source: Uint8Array | AsyncIterable<Uint8Array>, onRun: (run: GroupRun) => Promise<void> | void,
  opts: VerifySliceOptions,
): Promise<unknown> {
  const runs = new GroupRunBuilder(opts.runBytes ?? 1024 * 1024, opts.groupLen, opts.copyInto);
  // A failing writer ends the loop; its error is the result and no run is handed on after it.
  let sinkFailure: { error: unknown } | undefined;
  const hand = async (run: GroupRun): Promise<void> => {
    if (sinkFailure) throw sinkFailure.error;
    try {
      await onRun(run);
    } catch (error) {
      sinkFailure = { error };
      throw error;
    }
  };
  const take = async (groups: Iterable<VerifiedGroup>): Promise<void> => {
    for (const group of groups) {
      if (opts.skip?.(group.group)) continue;
      const done = runs.add(group);
      if (done) await hand(done);
    }
  };
  let failure: unknown;
  try {
    // One loop over the pieces, the decoder fed synchronously (no async generator per layer): a
    // slice arrives in ~16 KiB pieces, and each async layer cost promises per piece. Verified on
    // this thread (no pool), a piece costs no promise and no iterator.
    const pieces = source instanceof Uint8Array ? [source] : source;
    const verified: VerifiedGroup[] = [];
    for await (const piece of pieces as AsyncIterable<Uint8Array>) {
      const outcome = verifier.writeInto(piece, verified);
      const bad = outcome instanceof Promise ? await outcome : outcome;
      if (verified.length > 0) {
        await take(verified);
        verified.length = 0;
      }
      if (bad) throw bad;
    }
    await take(await verifier.finish());
  } catch (err) {
    failure = err;
    // Cut off (not bad data, not our writer): what arrived and verifies is kept, so a resume skips it.
    if (!(err instanceof BaoVerifyError) && !sinkFailure) {
      try {
        await take(await verifier.settle());
      } catch {
        // The groups the verifier still held are lost; they are fetched again.
      }
    }
  }
  if (sinkFailure) return sinkFailure.error;
  const last = runs.take();
  if (last) {
    try {
      await hand(last);
    } catch (error) {
      return error;
    }
  }
  return failure;
}
