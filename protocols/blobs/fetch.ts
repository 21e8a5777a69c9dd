// fetchBlob: gets a blob (and, for a collection, its children) from providers into the local store,
// verifying every 16 KiB group before it is written. A provider that sends a bad group is dropped at
// that group with an error naming its node id; what was verified stays, and the next provider is
// asked only for the missing ranges (the same resume works across runs: the partial blob persists).
// The store is reached by message only (the fs actor's fs.* requests on the bus): the slice is
// verified here with the bao decoder, and each run of verified groups (~2 MiB, views of the socket's
// pieces: no copy in one process) goes to the actor as fs.writeGroups, up to 4 at once.
import { BusError, type ErrorCode } from '../../bus/errors.ts';
import type { Bus } from '../../bus/bus.ts';
import { FS_SYSTEM_ID } from '../../actors/fs/messages.ts';
import { BaoDecoder, BaoVerifyError } from '../../actors/fs/hash/bao.ts';
import type { ByteRange, VerifiedGroup } from '../../actors/fs/hash/bao.ts';
import { PipelinedVerifier } from '../../actors/fs/hash/bao-verify.ts';
import { Blake3Pool, defaultHashWorkers } from '../../actors/fs/hash/blake3-pool.ts';
import { verifySlice, type GroupRun } from '../../actors/fs/hash/slice-runs.ts';
import { BlobsClient, ProviderRefusal, type BlobsClientOptions } from './client.ts';
import { BlobsWireError, CHUNK_GROUP_LOG, GROUP_LEN, firstRanges, sliceLength } from './wire.ts';

export interface FetchProgress {
  /** The blob being fetched now. */
  hash: string;
  /** Content bytes of it stored (verified) or in flight, and its size. */
  bytes: number;
  size: number;
  /** Blobs finished and known so far (a collection adds its children once it is read). */
  blobsDone: number;
  blobsTotal: number;
  /** The provider's node id. */
  provider: string;
}

export interface FetchOptions extends BlobsClientOptions {
  /**
   * The bus of the fs actor that receives the blob: a node's, or a process's own (startLocalFs in
   * actors/fs/local.ts, as `alknet blob get` does).
   */
  bus: Pick<Bus, 'request'>;
  /** Worker threads that hash received groups (default: ALKNET_HASH_WORKERS, else 1 from 4 cores, else 0). */
  hashWorkers?: number;
  onProgress?: (progress: FetchProgress) => void;
  /** Fetch a collection's children too (default true). */
  children?: boolean;
  /** Largest blob accepted (default 2^53 - 1): a provider cannot make us allocate a huge sparse file. */
  maxSize?: number;
}

export interface FetchResult {
  hash: string;
  size: number;
  collection: boolean;
  /** Blobs fetched or found complete (the root and, for a collection, its children). */
  blobs: number;
  /** Slice bytes received over the network (0 when everything was already here). */
  bytesReceived: number;
}

/** Why a fetch failed; `attempts` says what each provider did. */
export class BlobFetchError extends BusError {
  override name = 'BlobFetchError';
  constructor(code: ErrorCode, message: string, readonly attempts: string[] = []) {
    super(code, message);
  }
}

/** A provider broke the protocol or sent data that does not verify. */
class ProviderFault extends Error {
  constructor(readonly provider: string, message: string, readonly code: ErrorCode = 'INVALID_INPUT') {
    super(message);
  }
}

/** A slice that proves the size: the last group (a range starting past the end covers it). */
const SIZE_PROBE: ByteRange[] = [{ start: Number.MAX_SAFE_INTEGER, len: 0 }];
const PROBE_LIMIT = sliceLength(Number.MAX_SAFE_INTEGER, SIZE_PROBE);

/** Deadline of one request to the fs actor (a sync at 32 MiB may take a while on a slow disk). */
const FS_DEADLINE_MS = 60_000;
/** Runs of verified groups sent to the fs actor at once. */
const WRITES_IN_FLIGHT = 4;
/** Content bytes per run (one fs.writeGroups). */
const RUN_BYTES = 2 * 1024 * 1024;

interface Fetcher {
  bus: Pick<Bus, 'request'>;
  providers: string[];
  clients: Map<string, BlobsClient>;
  /** Providers that misbehaved: not asked again in this fetch. */
  dropped: Set<string>;
  opts: FetchOptions;
  pool: Blake3Pool | undefined;
  /** Reused for every slice of this fetch. */
  buffers: RunBuffers;
  received: number;
  done: number;
  total: number;
}

type Stat = { size: number; complete: boolean; groups: number; verifiedGroups: number };

const FS = { deadlineMs: FS_DEADLINE_MS };

async function statOf(f: Fetcher, hash: string): Promise<Stat | undefined> {
  try {
    return await f.bus.request(FS_SYSTEM_ID, 'fs.stat', { hash }, FS);
  } catch (err) {
    if (err instanceof BusError && err.code === 'NOT_FOUND') return undefined;
    throw err;
  }
}

async function has(f: Fetcher, hash: string): Promise<boolean> {
  return (await f.bus.request(FS_SYSTEM_ID, 'fs.has', { hash }, FS)).has;
}

async function missingRanges(f: Fetcher, hash: string): Promise<ByteRange[]> {
  return (await f.bus.request(FS_SYSTEM_ID, 'fs.missingRanges', { hash }, FS)).ranges;
}

async function clientFor(f: Fetcher, address: string): Promise<BlobsClient> {
  let client = f.clients.get(address);
  if (!client) {
    try {
      client = await BlobsClient.connect(address, f.opts);
    } catch (err) {
      throw new ProviderFault(address, `could not connect: ${(err as Error).message}`, 'UNAVAILABLE');
    }
    f.clients.set(address, client);
  }
  return client;
}

async function dropClient(f: Fetcher, address: string, reason: string): Promise<void> {
  const client = f.clients.get(address);
  f.clients.delete(address);
  f.dropped.add(address);
  await client?.close(reason.slice(0, 200), { abort: true });
}

/**
 * Counts bytes and reports progress while the slice is verified: a plain iterator over the body
 * (one `then` per piece), not another async generator layer.
 */
function counted(f: Fetcher, body: AsyncIterator<Uint8Array>, hash: string, size: number, base: number, provider: string): AsyncIterableIterator<Uint8Array> {
  let got = 0;
  let last = 0;
  const count = (step: IteratorResult<Uint8Array>): IteratorResult<Uint8Array> => {
    if (step.done) return step;
    const piece = step.value;
    got += piece.length;
    f.received += piece.length;
    if (f.opts.onProgress && (got - last >= 256 * 1024 || got === piece.length)) {
      last = got;
      f.opts.onProgress({ hash, bytes: Math.min(size, base + got), size, blobsDone: f.done, blobsTotal: f.total, provider });
    }
    return step;
  };
  const iterator: AsyncIterableIterator<Uint8Array> = {
    next: () => body.next().then(count),
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}

/**
 * Buffers the verified groups are copied into (one run each), reused once the fs actor has written
 * them. Why a copy: runs kept as views held the socket's pieces for a whole run plus the request,
 * and with the bus's per-request garbage those pieces outlived the young generation, so each one
 * waited for a full collection (measured: 25 mark-compacts per 128 MiB fetch instead of 4, and
 * ~130 ms more CPU). One memcpy into a reused buffer costs less, and the pieces die young.
 */
export class RunBuffers {
  readonly #free: Uint8Array[] = [];
  constructor(readonly size: number) {}
  take(): Uint8Array {
    return this.#free.pop() ?? new Uint8Array(this.size);
  }
  give(buf: Uint8Array): void {
    if (this.#free.length < WRITES_IN_FLIGHT + 1) this.#free.push(buf);
  }
}

/**
 * Hands runs of verified groups to the fs actor (fs.writeGroups), up to WRITES_IN_FLIGHT at once so
 * verifying the next run overlaps writing this one; `finish` waits for them and asks for the sync
 * that makes them durable and sets their bits.
 */
class GroupSender {
  readonly #inFlight: Promise<unknown>[] = [];
  #failure: { error: unknown } | undefined;
  constructor(private readonly bus: Pick<Bus, 'request'>, private readonly hash: string, private readonly buffers: RunBuffers) {}

  async send(run: GroupRun): Promise<void> {
    if (this.#failure) throw this.#failure.error;
    while (this.#inFlight.length >= WRITES_IN_FLIGHT) await this.#inFlight.shift();
    const writing = this.bus.request(FS_SYSTEM_ID, 'fs.writeGroups', {
      hash: this.hash, firstGroup: run.firstGroup, data: run.data, ...(run.cvs ? { cvs: run.cvs } : {}),
    }, FS);
    // The buffer goes back only once the actor answered (it has written it); after a failure (a
    // deadline: the actor may still be writing from it) it is never reused.
    const done = writing.then(() => {
      if (run.buffer) this.buffers.give(run.buffer);
    }, (error: unknown) => {
      this.#failure ??= { error };
    });
    this.#inFlight.push(done);
  }

  /** Every run sent is written, synced and marked; resolves with the blob's progress after it. */
  async finish(): Promise<Stat> {
    await Promise.all(this.#inFlight);
    const stat = await this.bus.request(FS_SYSTEM_ID, 'fs.writeGroups', { hash: this.hash, firstGroup: 0, data: [], sync: true }, FS);
    if (this.#failure) throw this.#failure.error;
    return stat;
  }
}

/**
 * Verifies a received slice of `ranges` of a partial blob (begun already) and stores what verifies
 * through the fs actor on `bus`. Resolves with the blob's progress after the final sync and the
 * failure that stopped the slice, if any (a BaoVerifyError for bad data: the groups before it are
 * stored; or the error that cut the source off). Rejects only when the store fails.
 */
export async function storeVerifiedSlice(
  bus: Pick<Bus, 'request'>, hash: string, size: number, ranges: ByteRange[] | undefined, source: Uint8Array | AsyncIterable<Uint8Array>,
  opts: { pool?: Blake3Pool; buffers?: RunBuffers } = {},
): Promise<{ stat: Stat; failure: unknown }> {
  const decoder = new BaoDecoder(Buffer.from(hash, 'hex'), size, { chunkGroupLog: CHUNK_GROUP_LOG, ranges: ranges && ranges.length > 0 ? ranges : undefined });
  const buffers = opts.buffers ?? new RunBuffers(RUN_BYTES + GROUP_LEN);
  const sender = new GroupSender(bus, hash, buffers);
  // Small blobs (under a run) are not worth a reused buffer: their runs stay views.
  const failure = await verifySlice(new PipelinedVerifier(decoder, opts.pool), source, (run) => sender.send(run), {
    runBytes: RUN_BYTES, groupLen: GROUP_LEN, ...(size >= RUN_BYTES ? { copyInto: () => buffers.take() } : {}),
  });
  // What verified is kept whatever happened after it: written, synced, marked.
  const stat = await sender.finish();
  return { stat, failure };
}

/** Verifies the size proof (the last group) in memory; then the partial blob is begun and the group stored. */
async function proveSize(f: Fetcher, hash: string, client: BlobsClient, bad: (message: string) => ProviderFault): Promise<void> {
  const probe = await client.request(hash, SIZE_PROBE);
  if (probe.len > PROBE_LIMIT) throw bad(`a ${probe.len}-byte size proof is too long`);
  const maxSize = f.opts.maxSize ?? Number.MAX_SAFE_INTEGER;
  if (probe.size > maxSize) throw new ProviderFault(client.address, `blob ${hash} is ${probe.size} bytes, over the ${maxSize}-byte limit`, 'INVALID_INPUT');
  const bytes = new Uint8Array(probe.len);
  let at = 0;
  for await (const piece of probe.body) {
    bytes.set(piece, at);
    at += piece.length;
  }
  f.received += at;
  const decoder = new BaoDecoder(Buffer.from(hash, 'hex'), probe.size, { chunkGroupLog: CHUNK_GROUP_LOG, ranges: SIZE_PROBE });
  const groups: VerifiedGroup[] = [];
  try {
    for (const group of decoder.write(bytes)) groups.push(group);
    decoder.finish();
  } catch (err) {
    if (err instanceof BaoVerifyError) throw bad(err.message);
    throw err;
  }
  await f.bus.request(FS_SYSTEM_ID, 'fs.beginPartial', { hash, size: probe.size }, FS);
  for (const g of groups) {
    await f.bus.request(FS_SYSTEM_ID, 'fs.writeGroups', { hash, firstGroup: g.group, data: [g.data], ...(g.cv ? { cvs: g.cv } : {}), sync: true }, FS);
  }
}

/** Brings one blob to complete from one provider, resuming whatever is already stored. */
async function fetchFrom(f: Fetcher, hash: string, client: BlobsClient): Promise<void> {
  const who = client.nodeId;
  const bad = (message: string): ProviderFault => new ProviderFault(client.address, `provider ${who} sent bad data: ${message}`);
  // The size a provider claims is only trusted once a slice with the last group verifies it.
  if (!(await statOf(f, hash))) await proveSize(f, hash, client, bad);
  for (let round = 0; ; round++) {
    const stat = (await statOf(f, hash))!;
    if (stat.complete) return;
    const allMissing = await missingRanges(f, hash);
    const missing = firstRanges(allMissing);
    const base = stat.size - allMissing.reduce((n, r) => n + r.len, 0);
    const reply = await client.request(hash, missing);
    if (reply.size !== stat.size) {
      // Drain nothing: the client is dropped, its framing is not trusted any more.
      throw bad(`it says the blob is ${reply.size} bytes; its size proof said ${stat.size}`);
    }
    const { stat: after, failure } = await storeVerifiedSlice(f.bus, hash, stat.size, missing, counted(f, reply.body, hash, stat.size, base, who), { pool: f.pool, buffers: f.buffers });
    if (failure instanceof BaoVerifyError) throw bad(failure.message);
    if (failure instanceof BlobsWireError) throw new ProviderFault(client.address, `provider ${who} stopped sending: ${failure.message}`, 'UNAVAILABLE');
    if (failure) throw failure;
    if (!after.complete && after.verifiedGroups === stat.verifiedGroups) throw bad('a slice added no group');
    if (round > 1_000_000) throw bad('too many rounds');
  }
}

/** Tries each provider in turn until the blob is complete. */
async function fetchOne(f: Fetcher, hash: string): Promise<number> {
  const attempts: string[] = [];
  let allNotFound = true;
  for (const address of f.providers) {
    if (await has(f, hash)) break;
    if (f.dropped.has(address)) continue;
    try {
      const client = await clientFor(f, address);
      await fetchFrom(f, hash, client);
    } catch (err) {
      if (err instanceof ProviderRefusal) {
        attempts.push(`${f.clients.get(address)?.nodeId ?? address}: ${err.code}: ${err.message}`);
        if (err.code !== 'NOT_FOUND') allNotFound = false;
        continue;
      }
      // The local store failing is not the provider's fault: stop here with its error.
      if (err instanceof BusError) throw new BlobFetchError(err.code, `blob ${hash}: the local store failed: ${err.message}`, attempts);
      allNotFound = false;
      const message = err instanceof ProviderFault ? err.message : `provider at ${address} failed: ${(err as Error).message}`;
      attempts.push(message);
      await dropClient(f, address, err instanceof ProviderFault && err.code === 'INVALID_INPUT' ? 'bad data' : 'failed');
    }
  }
  const stat = await statOf(f, hash);
  if (!stat?.complete) {
    if (attempts.length === 0) throw new BlobFetchError('UNAVAILABLE', `blob ${hash}: no provider left to ask`);
    const code: ErrorCode = allNotFound ? 'NOT_FOUND' : attempts.some((a) => a.includes('sent bad data')) ? 'INVALID_INPUT' : 'UNAVAILABLE';
    const verified = stat ? ` (${stat.verifiedGroups} verified groups kept for a resume)` : '';
    throw new BlobFetchError(code, `blob ${hash}: ${attempts.join('; ')}${verified}`, attempts);
  }
  return stat.size;
}

/**
 * Fetches `hash` from `providers` (`[NODEID@]HOST:PORT`, tried in order) into the store of the fs
 * actor on `opts.bus`. A collection's children are fetched too. Resolves once every blob is complete
 * and verified; rejects with BlobFetchError (NOT_FOUND when no provider has it, INVALID_INPUT when a
 * provider sent bad data, naming it; UNAVAILABLE otherwise; the local store's own code when it fails).
 */
export async function fetchBlob(hash: string, providers: string[], opts: FetchOptions): Promise<FetchResult> {
  if (typeof hash !== 'string' || !/^[0-9a-f]{64}$/.test(hash)) throw new BlobFetchError('INVALID_INPUT', 'a blob hash is 64 lower-case hex characters');
  if (!opts?.bus) throw new BlobFetchError('INVALID_INPUT', 'fetchBlob needs the bus of an fs actor');
  const workers = opts.hashWorkers ?? defaultHashWorkers();
  const f: Fetcher = {
    bus: opts.bus, providers: [...new Set(providers)], clients: new Map(), dropped: new Set(), opts,
    pool: workers > 0 ? new Blake3Pool(workers) : undefined, buffers: new RunBuffers(RUN_BYTES + GROUP_LEN), received: 0, done: 0, total: 1,
  };
  try {
    const size = await fetchOne(f, hash);
    f.done = 1;
    let blobs = 1;
    const { collection } = await f.bus.request(FS_SYSTEM_ID, 'fs.isCollection', { hash }, FS);
    if (collection && opts.children !== false) {
      // Children (and their children): a visited set bounds the walk even if collections nest oddly.
      const seen = new Set([hash]);
      const queue = [hash];
      while (queue.length > 0) {
        const parent = queue.shift()!;
        const { entries } = await f.bus.request(FS_SYSTEM_ID, 'fs.readCollection', { hash: parent }, FS);
        const fresh = [...new Set(entries.map((e) => e.hash))].filter((h) => !seen.has(h));
        for (const h of fresh) seen.add(h);
        f.total += fresh.length;
        for (const child of fresh) {
          await fetchOne(f, child);
          f.done++;
          blobs++;
          if ((await f.bus.request(FS_SYSTEM_ID, 'fs.isCollection', { hash: child }, FS)).collection) queue.push(child);
        }
      }
    }
    return { hash, size, collection, blobs, bytesReceived: f.received };
  } finally {
    await Promise.allSettled([...f.clients.values()].map((c) => c.close()));
    await f.pool?.close();
  }
}
