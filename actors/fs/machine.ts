// The fs actor: opening → ready (→ error, so its supervisor restarts it) → closing → stopped. It is
// the only owner of its BlobStore and serves the fs.* bus messages: each request runs as a promise
// started by the transition that accepts it, answers through event.replyTo exactly once and then
// tells the actor (fs.served), so slow disk work never blocks the mailbox. At most `maxInFlight`
// requests run at once; more are answered BUSY. Requests that arrive while the store opens wait
// (bounded), and are failed UNAVAILABLE if opening fails. Operations of the node's catalogue
// (blobs/*) arrive here as plain local requests (actors/fs/operations.ts).
import fs from 'node:fs';
import path from 'node:path';
import { assign, fromCallback, fromPromise, setup, type ActorRefFrom, type AnyActorRef } from 'xstate';
import { validate } from '../../bus/catalogue.ts';
import { BusError } from '../../bus/errors.ts';
import { failWith, type BusRequestEvent } from '../../bus/events.ts';
import { MAX_FS_BYTES, MAX_LIST, isFsMessageType, type FsMessageType } from './messages.ts';
import { BlobStore, defaultTag } from './store.ts';
import { BlobStoreError, asStoreError } from './errors.ts';
import type { ByteRange } from './hash/bao.ts';

export type FsRequestEvent = BusRequestEvent<FsMessageType>;

/**
 * Messages another node may send: a blob is readable by whoever names its hash (DESIGN.md). Writes,
 * partial blobs and adds from a local path are for this node's own code only.
 */
const REMOTE_ALLOWED: ReadonlySet<FsMessageType> = new Set([
  'fs.stat', 'fs.has', 'fs.missingRanges', 'fs.readBytes', 'fs.readSlice', 'fs.isCollection', 'fs.readCollection',
]);

/** Where the actor publishes fs.addProgress events (a Bus fits). */
export interface FsEvents {
  publish(type: 'fs.addProgress', payload: { progressId: string; bytes: number }): void;
}

export interface FsInput {
  home: string;
  /** Requests served at once; more are answered BUSY (default 64). */
  maxInFlight?: number;
  /** Requests held while the store opens (default 256). */
  maxPending?: number;
  /** Our own node id: a request from it is local, not remote. */
  nodeId?: string;
  /** Hash worker threads of the store (default: BlobStore's). */
  hashWorkers?: number;
  /** Where fs.addPath reports progress; without it, no progress events. */
  events?: FsEvents;
}

/** A request parked while the store opens: snapshots show its type and id, never its payload. */
export class QueuedFsRequest {
  constructor(readonly event: FsRequestEvent) {}
  toJSON(): { type: string; correlationId: string | undefined } {
    return { type: this.event.type, correlationId: this.event.meta?.correlationId };
  }
}

/** The store in the context, shown in snapshots by its folder only. */
export class StoreRef {
  constructor(readonly store: BlobStore) {}
  toJSON(): { root: string } {
    return { root: this.store.root };
  }
}

export interface FsContext {
  home: string;
  nodeId: string | undefined;
  store: StoreRef | null;
  pending: readonly QueuedFsRequest[];
  inFlight: number;
  maxInFlight: number;
  maxPending: number;
  served: number;
  lastError: string | null;
  hashWorkers: number | undefined;
  events: FsEvents | undefined;
}

/** A request finished (answered or failed). */
type InternalEvent = { type: 'fs.served' };
type FsEvent = FsRequestEvent | InternalEvent | { type: 'shutdown' };

function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // A requester's reply port failing is its problem; the fs actor keeps serving.
  }
}

function isRemote(event: FsRequestEvent, nodeId: string | undefined): boolean {
  const from = event.meta?.from;
  return typeof from === 'object' && from !== null && from.node !== nodeId;
}

/** A local path given to fs.addPath: a file (tagged with its name by default) or a folder (a collection). */
async function addPath(store: BlobStore, p: Record<string, unknown>, events: FsEvents | undefined): Promise<unknown> {
  const file = p.path as string;
  if (!path.isAbsolute(file)) throw new BlobStoreError('INVALID_INPUT', 'fs.addPath needs an absolute path');
  const st = fs.statSync(file, { throwIfNoEntry: false });
  if (!st) throw new BlobStoreError('NOT_FOUND', 'no such file or folder');
  const progressId = p.progressId as string | undefined;
  const onProgress = progressId !== undefined && events ? (bytes: number) => events.publish('fs.addProgress', { progressId, bytes }) : undefined;
  const tag = p.tag as string | undefined;
  if (st.isDirectory()) {
    const r = await store.addDirectory(file, { tag, onProgress });
    return {
      hash: r.hash, size: r.size, collection: true, files: r.entries.length, links: r.links.length, dirs: r.dirs.length,
      skipped: r.skipped, skippedCount: r.skippedCount,
    };
  }
  if (!st.isFile()) throw new BlobStoreError('INVALID_INPUT', 'not a regular file or folder');
  const r = await store.add(file, { tag: tag ?? defaultTag(file), onProgress });
  return { hash: r.hash, size: r.size, collection: false, files: 1, links: 0, dirs: 0, skipped: [], skippedCount: 0 };
}

/**
 * Runs one fs.* request against the store and returns the reply payload. Throws BusError (or a
 * BlobStoreError, which is one) for anything the caller should see.
 */
export async function handleFsRequest(store: BlobStore, type: FsMessageType, payload: unknown, events?: FsEvents): Promise<unknown> {
  const checked = validate(type, 'request', payload);
  if (checked instanceof BusError) throw checked;
  const p = checked as Record<string, unknown>;
  switch (type) {
    case 'fs.stat':
      return store.stat(p.hash as string);
    case 'fs.has':
      return { has: store.has(p.hash as string) };
    case 'fs.list': {
      const limit = (p.limit as number | undefined) ?? MAX_LIST;
      const blobs = store.list({ after: p.after as string | undefined, limit: limit + 1 });
      return { blobs: blobs.slice(0, limit), more: blobs.length > limit };
    }
    case 'fs.tags':
      return { tags: store.tags() };
    case 'fs.tag':
      await store.tag(p.name as string, p.hash as string);
      return { ok: true };
    case 'fs.untag':
      return { removed: await store.untag(p.name as string) };
    case 'fs.delete':
      return { removed: await store.delete(p.hash as string) };
    case 'fs.gc':
      return store.gc();
    case 'fs.missingRanges':
      return { ranges: store.missingRanges(p.hash as string) };
    case 'fs.addBytes':
      return store.add(p.bytes as Uint8Array, { tag: p.tag as string | undefined });
    case 'fs.readBytes':
      return { bytes: await store.getBytes(p.hash as string, { ranges: p.ranges as ByteRange[] | undefined, maxBytes: MAX_FS_BYTES }) };
    case 'fs.readSlice':
      return store.readSlice(p.hash as string, p.ranges as ByteRange[] | undefined, p.fromGroup as number | undefined, p.maxBytes as number | undefined);
    case 'fs.beginPartial':
      return store.beginPartial(p.hash as string, p.size as number);
    case 'fs.writeGroups':
      return store.writeGroups(p.hash as string, p.firstGroup as number, p.data as Uint8Array[], p.cvs as Uint8Array | undefined, { sync: p.sync as boolean | undefined });
    case 'fs.isCollection':
      return { collection: await store.isCollection(p.hash as string) };
    case 'fs.readCollection':
      return store.readCollection(p.hash as string);
    case 'fs.addPath':
      return addPath(store, p, events);
  }
}

/**
 * Serves one request as a plain promise and tells the actor when it is done (fs.served). Not a
 * spawned actor per request: an actor per request cost an actor, its snapshots and an abort
 * signal each, and that garbage made the ~1 MiB slice windows outlive the young generation, so
 * every window had to wait for a full collection (measured: the provider at half speed).
 */
async function serveRequest(store: BlobStore, event: FsRequestEvent, parent: AnyActorRef, events: FsEvents | undefined): Promise<void> {
  try {
    if (event.meta?.deadline !== undefined && Date.now() > event.meta.deadline) {
      safely(() => event.replyTo.fail('TIMEOUT', `${event.type}: the deadline passed before the fs actor served it`));
      return;
    }
    const result = await handleFsRequest(store, event.type, event.payload, events);
    safely(() => event.replyTo.reply(result as never));
  } catch (err) {
    // Out of descriptors is UNAVAILABLE (retry later), whichever call ran into it.
    safely(() => failWith(event, asStoreError(err)));
  } finally {
    parent.send({ type: 'fs.served' });
  }
}

const openStore = fromPromise<BlobStore, { home: string; hashWorkers: number | undefined }>(async ({ input, signal }) => {
  const store = await BlobStore.open(input.home, input.hashWorkers === undefined ? {} : { hashWorkers: input.hashWorkers });
  // Stopped while it opened: nobody will close it otherwise.
  if (signal.aborted) {
    await store.close();
    throw new Error('fs: stopped while the store was opening');
  }
  return store;
});

/** The graceful stop: the store closes (pending group bits synced, index closed) before `stopped`. */
const closeStore = fromPromise<void, { store: BlobStore | undefined }>(async ({ input }) => {
  await input.store?.close();
});

/** Closes the store when the actor is stopped from outside while `ready` (no graceful shutdown). */
const storeCloser = fromCallback<{ type: string }, { store: BlobStore }>(({ input }) => () => {
  void input.store.close();
});

export const fsMachine = setup({
  types: {
    context: {} as FsContext,
    input: {} as FsInput,
    events: {} as FsEvent,
  },
  actors: { openStore, closeStore, storeCloser },
  guards: {
    isFsRequest: ({ event }) => isFsMessageType(event.type),
    forbiddenRemote: ({ context, event }) =>
      isFsMessageType(event.type) && isRemote(event as FsRequestEvent, context.nodeId) && !REMOTE_ALLOWED.has(event.type),
    full: ({ context, event }) => isFsMessageType(event.type) && context.inFlight >= context.maxInFlight,
    isUnknownRequest: ({ event }) => !isFsMessageType(event.type) && typeof (event as { replyTo?: unknown }).replyTo === 'object',
    pendingFull: ({ context, event }) => isFsMessageType(event.type) && context.pending.length >= context.maxPending,
  },
  actions: {
    rejectForbidden: ({ event }) => {
      if (!('replyTo' in event)) return;
      safely(() => event.replyTo.fail('FORBIDDEN', `${event.type} is not served to other nodes`));
    },
    rejectClosing: ({ event }) => {
      const port = (event as { replyTo?: { fail?: unknown } }).replyTo;
      if (port && typeof port.fail === 'function') safely(() => (event as FsRequestEvent).replyTo.fail('UNAVAILABLE', 'fs: the blob store is closing'));
    },
    rejectBusy: ({ event }) => {
      if (!('replyTo' in event)) return;
      safely(() => event.replyTo.fail('BUSY', `fs: too many requests in flight; retry later`));
    },
    rejectUnknown: ({ event }) => {
      const port = (event as { replyTo?: { fail?: unknown } }).replyTo;
      if (port && typeof port.fail === 'function') safely(() => (event as FsRequestEvent).replyTo.fail('INVALID_INPUT', `fs: unknown message "${String(event.type).slice(0, 64)}"`));
    },
    queue: assign({
      pending: ({ context, event }) => (!('replyTo' in event) ? context.pending : [...context.pending, new QueuedFsRequest(event)]),
    }),
    /** Starts the request (a side effect outside the transition); `countServing` counts it. */
    serve: ({ context, event, self }) => {
      if (!('replyTo' in event) || !context.store) return;
      void serveRequest(context.store.store, event, self, context.events);
    },
    countServing: assign({ inFlight: ({ context }) => context.inFlight + 1 }),
    servePending: ({ context, self }) => {
      if (!context.store) return;
      for (const q of context.pending) void serveRequest(context.store.store, q.event, self, context.events);
    },
    countPending: assign({ inFlight: ({ context }) => context.inFlight + context.pending.length, pending: () => [] }),
    served: assign({ inFlight: ({ context }) => Math.max(0, context.inFlight - 1), served: ({ context }) => context.served + 1 }),
    failPending: ({ context }) => {
      for (const q of context.pending) safely(() => q.event.replyTo.fail('UNAVAILABLE', `fs: the blob store could not be opened: ${context.lastError ?? 'unknown error'}`));
    },
    crash: ({ context }) => {
      // Thrown on purpose: the supervisor sees xstate.error.actor and restarts the fs actor.
      throw new Error(`fs: the blob store could not be opened: ${context.lastError ?? 'unknown error'}`);
    },
  },
}).createMachine({
  id: 'fs',
  context: ({ input }) => ({
    home: input.home,
    nodeId: input.nodeId,
    store: null,
    pending: [],
    inFlight: 0,
    maxInFlight: input.maxInFlight ?? 64,
    maxPending: input.maxPending ?? 256,
    served: 0,
    lastError: null,
    hashWorkers: input.hashWorkers,
    events: input.events,
  }),
  initial: 'opening',
  // The supervisor's graceful stop: the store is closed (awaited) in `closing`, then `stopped`.
  on: { shutdown: '.stopped' },
  states: {
    stopped: { type: 'final' },
    closing: {
      invoke: {
        src: 'closeStore',
        input: ({ context }) => ({ store: context.store?.store }),
        onDone: { target: 'stopped', actions: assign({ store: null }) },
        onError: { target: 'stopped', actions: assign({ store: null }) },
      },
      on: {
        shutdown: {},
        'fs.served': { actions: 'served' },
        '*': { actions: 'rejectClosing' },
      },
    },
    opening: {
      invoke: {
        src: 'openStore',
        input: ({ context }) => ({ home: context.home, hashWorkers: context.hashWorkers }),
        onDone: { target: 'ready', actions: assign({ store: ({ event }) => new StoreRef(event.output) }) },
        onError: {
          target: 'failed',
          actions: assign({ lastError: ({ event }) => (event.error instanceof Error ? event.error.message.split('\n')[0]! : 'unknown error') }),
        },
      },
      on: {
        shutdown: '#fs.stopped',
        '*': [
          { guard: 'forbiddenRemote', actions: 'rejectForbidden' },
          { guard: 'pendingFull', actions: 'rejectBusy' },
          { guard: 'isFsRequest', actions: 'queue' },
          { guard: 'isUnknownRequest', actions: 'rejectUnknown' },
        ],
      },
    },
    ready: {
      entry: ['servePending', 'countPending'],
      invoke: { src: 'storeCloser', input: ({ context }) => ({ store: context.store!.store }) },
      on: {
        'fs.served': { actions: 'served' },
        shutdown: '#fs.closing',
        '*': [
          { guard: 'forbiddenRemote', actions: 'rejectForbidden' },
          { guard: 'full', actions: 'rejectBusy' },
          { guard: 'isFsRequest', actions: ['serve', 'countServing'] },
          { guard: 'isUnknownRequest', actions: 'rejectUnknown' },
        ],
      },
    },
    failed: {
      entry: ['failPending', 'crash'],
    },
  },
});

export type FsActorRef = ActorRefFrom<typeof fsMachine>;
