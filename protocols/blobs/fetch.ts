// fetchBlob: gets a blob (and, for a collection, its children) from providers into the local store,
// verifying every 16 KiB group before it is written. A provider that sends a bad group is dropped at
// that group with an error naming its node id; what was verified stays, and the next provider is
// asked only for the missing ranges (the same resume works across runs: the partial blob persists).
import path from 'node:path';
import { BusError, type ErrorCode } from '../../bus/errors.ts';
import { BaoDecoder, BaoVerifyError } from '../../actors/fs/hash/bao.ts';
import type { ByteRange } from '../../actors/fs/hash/bao.ts';
import { BlobStore, BlobStoreError, checkHash } from '../../actors/fs/store.ts';
import { BlobsClient, ProviderRefusal, type BlobsClientOptions } from './client.ts';
import { BlobsWireError, CHUNK_GROUP_LOG, firstRanges, sliceLength } from './wire.ts';

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
  /** The node home whose store receives the blob (opened and closed here)… */
  home?: string;
  /** …or an open store (left open). */
  store?: BlobStore;
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

interface Fetcher {
  store: BlobStore;
  providers: string[];
  clients: Map<string, BlobsClient>;
  /** Providers that misbehaved: not asked again in this fetch. */
  dropped: Set<string>;
  opts: FetchOptions;
  received: number;
  done: number;
  total: number;
}

async function clientFor(f: Fetcher, address: string): Promise<BlobsClient> {
  let client = f.clients.get(address);
  if (!client) {
    try {
      client = await BlobsClient.connect(address, {
        ...f.opts,
        knownNodesPath: f.opts.knownNodesPath ?? (f.opts.home ? path.join(f.opts.home, 'known_nodes') : undefined),
      });
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
 * Counts bytes and reports progress while the store consumes the slice: a plain iterator over the
 * body (one `then` per piece), not another async generator layer.
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

function verifiedBytes(store: BlobStore, hash: string, size: number): number {
  const missing = store.missingRanges(hash).reduce((n, r) => n + r.len, 0);
  return size - missing;
}

/** Brings one blob to complete from one provider, resuming whatever is already stored. */
async function fetchFrom(f: Fetcher, hash: string, client: BlobsClient): Promise<void> {
  const who = client.nodeId;
  const bad = (message: string): ProviderFault => new ProviderFault(client.address, `provider ${who} sent bad data: ${message}`);
  const store = f.store;
  if (!exists(store, hash)) {
    // The size a provider claims is only trusted once a slice with the last group verifies it.
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
    try {
      for (const _ of decoder.write(bytes)) void _;
      decoder.finish();
    } catch (err) {
      if (err instanceof BaoVerifyError) throw bad(err.message);
      throw err;
    }
    await store.beginPartial(hash, probe.size);
    await store.writeEncoded(hash, SIZE_PROBE, bytes);
  }
  for (let round = 0; ; round++) {
    const stat = store.stat(hash);
    if (stat.complete) return;
    const missing = firstRanges(store.missingRanges(hash));
    const before = stat.verifiedGroups;
    const base = verifiedBytes(store, hash, stat.size);
    const reply = await client.request(hash, missing);
    if (reply.size !== stat.size) {
      // Drain nothing: the client is dropped, its framing is not trusted any more.
      throw bad(`it says the blob is ${reply.size} bytes; its size proof said ${stat.size}`);
    }
    try {
      await store.writeEncoded(hash, missing, counted(f, reply.body, hash, stat.size, base, who));
    } catch (err) {
      if (err instanceof BlobStoreError && err.code === 'INVALID_INPUT') throw bad(err.message);
      if (err instanceof BlobsWireError) throw new ProviderFault(client.address, `provider ${who} stopped sending: ${err.message}`, 'UNAVAILABLE');
      throw err;
    }
    const after = store.stat(hash);
    if (!after.complete && after.verifiedGroups === before) throw bad('a slice added no group');
    if (round > 1_000_000) throw bad('too many rounds');
  }
}

function exists(store: BlobStore, hash: string): boolean {
  try {
    store.stat(hash);
    return true;
  } catch (err) {
    if (err instanceof BlobStoreError && err.code === 'NOT_FOUND') return false;
    throw err;
  }
}

/** Tries each provider in turn until the blob is complete. */
async function fetchOne(f: Fetcher, hash: string): Promise<number> {
  const attempts: string[] = [];
  let allNotFound = true;
  for (const address of f.providers) {
    if (f.store.has(hash)) break;
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
      allNotFound = false;
      const message = err instanceof ProviderFault ? err.message : `provider at ${address} failed: ${(err as Error).message}`;
      attempts.push(message);
      await dropClient(f, address, err instanceof ProviderFault && err.code === 'INVALID_INPUT' ? 'bad data' : 'failed');
    }
  }
  if (!f.store.has(hash)) {
    if (attempts.length === 0) throw new BlobFetchError('UNAVAILABLE', `blob ${hash}: no provider left to ask`);
    const code: ErrorCode = allNotFound ? 'NOT_FOUND' : attempts.some((a) => a.includes('sent bad data')) ? 'INVALID_INPUT' : 'UNAVAILABLE';
    const verified = exists(f.store, hash) ? ` (${f.store.stat(hash).verifiedGroups} verified groups kept for a resume)` : '';
    throw new BlobFetchError(code, `blob ${hash}: ${attempts.join('; ')}${verified}`, attempts);
  }
  return f.store.stat(hash).size;
}

/**
 * Fetches `hash` from `providers` (`[NODEID@]HOST:PORT`, tried in order) into the store of
 * `opts.home` (or `opts.store`). A collection's children are fetched too. Resolves once every blob
 * is complete and verified; rejects with BlobFetchError (NOT_FOUND when no provider has it,
 * INVALID_INPUT when a provider sent bad data, naming it; UNAVAILABLE otherwise).
 */
export async function fetchBlob(hash: string, providers: string[], opts: FetchOptions = {}): Promise<FetchResult> {
  try {
    checkHash(hash);
  } catch (err) {
    throw new BlobFetchError('INVALID_INPUT', (err as Error).message);
  }
  if (!opts.store && !opts.home) throw new BlobFetchError('INVALID_INPUT', 'fetchBlob needs a home or a store');
  const store = opts.store ?? (await BlobStore.open(opts.home!));
  const f: Fetcher = { store, providers: [...new Set(providers)], clients: new Map(), dropped: new Set(), opts, received: 0, done: 0, total: 1 };
  try {
    const size = await fetchOne(f, hash);
    f.done = 1;
    let blobs = 1;
    const collection = await store.isCollection(hash);
    if (collection && opts.children !== false) {
      // Children (and their children): a visited set bounds the walk even if collections nest oddly.
      const seen = new Set([hash]);
      const queue = [hash];
      while (queue.length > 0) {
        const parent = queue.shift()!;
        const entries = await store.readCollection(parent);
        const fresh = entries.map((e) => e.hash).filter((h) => !seen.has(h));
        for (const h of fresh) seen.add(h);
        f.total += fresh.length;
        for (const child of fresh) {
          await fetchOne(f, child);
          f.done++;
          blobs++;
          if (await store.isCollection(child)) queue.push(child);
        }
      }
    }
    return { hash, size, collection, blobs, bytesReceived: f.received };
  } finally {
    await Promise.allSettled([...f.clients.values()].map((c) => c.close()));
    if (!opts.store) await store.close();
  }
}
