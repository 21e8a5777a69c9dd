// The pkarr actor: a supervised service that owns the store of signed packets (HOME/db/, LMDB), the
// node's Mainline DHT node (when [pkarr] dht is on) and the relay client, and answers the pkarr.*
// messages (messages.ts).
//
//   starting (opens the store, starts the DHT node; requests wait, bounded)
//     → ready (each request runs as a plain promise and answers through event.replyTo once; at most
//              maxInFlight at a time, BUSY beyond; republishes the node's packet when configured)
//     → closing (DHT node destroyed, store closed) → stopped
//
// A failed start (the store cannot open, the DHT port is taken) fails the actor, so its supervisor
// restarts it; requests waiting meanwhile get UNAVAILABLE.
import path from 'node:path';
import { assign, fromCallback, fromPromise, setup } from 'xstate';
import type { Bus } from '../../bus/bus.ts';
import type { BusRequestEvent } from '../../bus/events.ts';
import { BusError, toErrorShape } from '../../bus/errors.ts';
import type { RequestOf } from '../../bus/catalogue.ts';
import { isPkarrMessageType, REMOTE_PKARR_MESSAGES, type PkarrMessageType } from './messages.ts';
import { PkarrStore } from './store.ts';
import { PkarrDht } from './dht.ts';
import { PkarrService } from './service.ts';
import type { PkarrConfig } from '../../supervisors/config.ts';
import type { NodeKeyPair } from '../listener/tlsIdentity.ts';

export interface PkarrActorInput {
  home: string;
  bus: Pick<Bus, 'request'>;
  config: PkarrConfig;
  /** host:port addresses the node listens on (publishSelf's default when [pkarr] addresses is empty). */
  listenAddresses?: () => readonly string[];
  log?: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
  /** Requests served at once; more are answered BUSY (default 256). */
  maxInFlight?: number;
  /** Requests held while the actor starts (default 256); more are answered BUSY. */
  maxPending?: number;
  /** known_nodes for relays given as a bare host:port (default HOME/known_nodes). */
  knownNodesPath?: string;
  /** The key shown to alknet relays (the node's own, once the listener has it). */
  identity?: () => NodeKeyPair | undefined;
}

type PkarrRequest = BusRequestEvent<PkarrMessageType>;

/** Live resources in the context, shown in snapshots by what they are only. */
class Resources {
  constructor(readonly store: PkarrStore, readonly dht: PkarrDht | null, readonly service: PkarrService) {}
  toJSON(): { dht: string | null } {
    return { dht: this.dht?.address() ?? null };
  }
  #closing: Promise<void> | null = null;
  /** Once, however many times it is called. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.dht?.destroy().catch(() => {});
      await this.store.close().catch(() => {});
    })();
    return this.#closing;
  }
}

class QueuedPkarrRequest {
  constructor(readonly event: PkarrRequest) {}
  toJSON(): { type: string } {
    return { type: this.event.type };
  }
}

interface PkarrContext {
  input: PkarrActorInput;
  resources: Resources | null;
  pending: readonly QueuedPkarrRequest[];
  inFlight: number;
  maxInFlight: number;
  maxPending: number;
}

type PkarrEvent = PkarrRequest | { type: 'pkarr.served' } | { type: 'shutdown' };

function isRequest(event: { type: string }): event is PkarrRequest {
  return isPkarrMessageType(event.type) && typeof (event as { replyTo?: unknown }).replyTo === 'object';
}

function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // A requester's reply port failing is its problem.
  }
}

const open = fromPromise<Resources, PkarrActorInput>(async ({ input, signal }) => {
  const c = input.config;
  const store = new PkarrStore(path.join(input.home, 'db'), { maxRecords: c.maxRecords });
  let dht: PkarrDht | null = null;
  try {
    if (c.dht) dht = await PkarrDht.start({ listen: c.dhtListen, bootstrap: c.dhtBootstrap });
  } catch (err) {
    await store.close();
    throw err;
  }
  const service = new PkarrService({
    store,
    dht,
    bus: input.bus,
    relays: c.relays,
    selfAddresses: () => (c.addresses.length > 0 ? c.addresses : input.listenAddresses?.() ?? []),
    relayClient: {
      knownNodesPath: input.knownNodesPath ?? path.join(input.home, 'known_nodes'),
      get identity() {
        return input.identity?.();
      },
    },
    ...(input.log ? { log: input.log } : {}),
  });
  const resources = new Resources(store, dht, service);
  // Stopped while it opened: nobody else would close what was opened.
  if (signal.aborted) {
    await resources.close();
    throw new Error('pkarr: stopped while starting');
  }
  if (dht) input.log?.info({ dht: dht.address(), bootstrap: c.dhtBootstrap }, 'pkarr: DHT node up');
  return resources;
});

const close = fromPromise<void, { resources: Resources | null }>(async ({ input }) => {
  await input.resources?.close();
});

/** Closes the resources when the actor is stopped from outside while ready; republishes when configured. */
const keeper = fromCallback<{ type: string }, { resources: Resources; input: PkarrActorInput }>(({ input }) => {
  const { config, log } = input.input;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  if (config.publish) {
    const publish = (): void => {
      input.resources.service.publishSelf({}).then(
        (r) => log?.info({ timestamp: r.timestamp, dht: r.dhtDetail, relays: r.relays }, 'pkarr: republished'),
        (err: Error) => log?.warn({ error: err.message }, 'pkarr: publishing the node packet failed'),
      ).finally(() => {
        if (!stopped) timer = setTimeout(publish, Math.max(1, config.republishMinutes) * 60_000);
      });
    };
    // The listener starts after the services: give it a moment to know its address.
    timer = setTimeout(publish, 1_000);
  }
  return () => {
    stopped = true;
    clearTimeout(timer);
    void input.resources.close();
  };
});

async function serve(service: PkarrService, event: PkarrRequest): Promise<void> {
  const port = event.replyTo as { reply(v: unknown): void; fail(code: string, message: string): void; settled: boolean };
  try {
    const from = event.meta?.from;
    if (typeof from === 'object' && from !== null && !REMOTE_PKARR_MESSAGES.has(event.type)) {
      throw new BusError('FORBIDDEN', `${event.type} is local only`);
    }
    let reply: unknown;
    switch (event.type) {
      case 'pkarr.put':
        reply = await service.put(event.payload as RequestOf<'pkarr.put'>);
        break;
      case 'pkarr.get':
        reply = service.get(event.payload as RequestOf<'pkarr.get'>);
        break;
      case 'pkarr.resolve':
        reply = await service.resolve(event.payload as RequestOf<'pkarr.resolve'>);
        break;
      case 'pkarr.publishSelf':
        reply = await service.publishSelf(event.payload as RequestOf<'pkarr.publishSelf'>);
        break;
      case 'pkarr.stats':
        reply = service.stats();
        break;
    }
    safely(() => port.reply(reply));
  } catch (err) {
    const shape = toErrorShape(err);
    safely(() => port.fail(shape.code, shape.message));
  }
}

export const pkarrMachine = setup({
  types: { input: {} as PkarrActorInput, context: {} as PkarrContext, events: {} as PkarrEvent },
  actors: { open, close, keeper },
  guards: {
    isRequest: ({ event }) => isRequest(event),
    pendingFull: ({ context, event }) => isRequest(event) && context.pending.length >= context.maxPending,
    busy: ({ context, event }) => isRequest(event) && context.inFlight >= context.maxInFlight,
  },
  actions: {
    queue: assign({ pending: ({ context, event }) => [...context.pending, new QueuedPkarrRequest(event as PkarrRequest)] }),
    rejectBusy: ({ event }) => safely(() => (event as PkarrRequest).replyTo.fail('BUSY', 'pkarr: too many requests at once')),
    serve: assign(({ context, event, self }) => {
      const service = context.resources!.service;
      void serve(service, event as PkarrRequest).finally(() => self.send({ type: 'pkarr.served' }));
      return { inFlight: context.inFlight + 1 };
    }),
    served: assign({ inFlight: ({ context }) => Math.max(0, context.inFlight - 1) }),
    servePending: assign(({ context, self }) => {
      const service = context.resources!.service;
      for (const q of context.pending) void serve(service, q.event).finally(() => self.send({ type: 'pkarr.served' }));
      return { pending: [], inFlight: context.inFlight + context.pending.length };
    }),
    failStart: ({ context, event }) => {
      const reason = (event as { error?: unknown }).error;
      const why = reason instanceof Error ? reason.message : String(reason);
      for (const q of context.pending) safely(() => q.event.replyTo.fail('UNAVAILABLE', `pkarr: could not start: ${why}`));
      throw new BusError('UNAVAILABLE', `pkarr: could not start: ${why}`);
    },
    failUnavailable: ({ event }) => safely(() => (event as PkarrRequest).replyTo.fail('UNAVAILABLE', 'pkarr: stopping')),
  },
}).createMachine({
  id: 'pkarr',
  context: ({ input }) => ({
    input,
    resources: null,
    pending: [],
    inFlight: 0,
    maxInFlight: input.maxInFlight ?? 256,
    maxPending: input.maxPending ?? 256,
  }),
  initial: 'starting',
  states: {
    starting: {
      invoke: {
        src: 'open',
        input: ({ context }) => context.input,
        onDone: { target: 'ready', actions: assign({ resources: ({ event }) => event.output }) },
        onError: { actions: 'failStart' },
      },
      on: {
        '*': [
          { guard: 'pendingFull', actions: 'rejectBusy' },
          { guard: 'isRequest', actions: 'queue' },
        ],
        shutdown: 'stopped',
      },
    },
    ready: {
      entry: 'servePending',
      invoke: { src: 'keeper', input: ({ context }) => ({ resources: context.resources!, input: context.input }) },
      on: {
        'pkarr.served': { actions: 'served' },
        shutdown: 'closing',
        '*': [
          { guard: 'busy', actions: 'rejectBusy' },
          { guard: 'isRequest', actions: 'serve' },
        ],
      },
    },
    closing: {
      invoke: { src: 'close', input: ({ context }) => ({ resources: context.resources }), onDone: 'stopped', onError: 'stopped' },
      on: { '*': { guard: 'isRequest', actions: 'failUnavailable' } },
    },
    stopped: { type: 'final' },
  },
});
