// The tensor actor: owns the engine (and with it the GPU device and every buffer) and serves the
// tensor.* bus messages (messages.ts) itself. starting (creates the engine; requests wait, bounded)
// → ready (each request runs as a plain promise that answers through event.replyTo exactly once
// and tells the actor when done; at most `maxInFlight` at a time, BUSY beyond) → stopped. The engine's service (service.ts)
// holds the handle table; it is closed with the engine, on stop, restart or device loss, which stops
// the work in flight (its requesters get a retryable UNAVAILABLE) and frees every handle.
// Device loss makes the actor fail, so that its supervisor restarts it with a fresh device.
import { assign, fromCallback, fromPromise, setup, type ActorRefFrom, type AnyActorRef, type SnapshotFrom } from 'xstate';
import { createEngine, type CreateEngineOptions } from './index.ts';
import type { Engine } from './engine.ts';
import { isTensorMessageType } from './messages.ts';
import { DEFAULT_TENSOR_LIMITS, TensorService, type Outcome, type RunRecord, type TensorLimits, type TensorRequestEvent } from './service.ts';

export interface TensorActorInput {
  backend?: CreateEngineOptions['backend'];
  flags?: string[];
  /** Where `peer.disconnected` is published: a peer's handles are freed when its last connection closes. */
  events?: { subscribe(type: 'peer.disconnected', handler: (payload: { nodeId: string }) => void): () => void };
  /** Overrides of DEFAULT_TENSOR_LIMITS (quota, element and op caps, the per-call cost budget). */
  limits?: Partial<TensorLimits>;
  /** Requests served at once; more are answered BUSY (default 64). */
  maxInFlight?: number;
  /** Requests held while the engine starts; more are answered BUSY (default 64). */
  maxPending?: number;
  /** Called with every engine that goes away, before it is destroyed. */
  onEngineGone?: (engine: Engine) => void;
  /** Told how every tensor.run ended (ops run, cost, why it stopped), e.g. for the node's log. */
  onRunEnd?: (record: RunRecord) => void;
}

/** A request parked while the engine starts: snapshots show its type and id, never its payload. */
export class QueuedTensorRequest {
  constructor(readonly event: TensorRequestEvent) {}
  toJSON(): { type: string; correlationId: string | undefined } {
    return { type: this.event.type, correlationId: this.event.meta?.correlationId };
  }
}

export interface TensorContext {
  input: TensorActorInput;
  engine: Engine | null;
  /** The live engine's service (handle table, work in flight); null unless ready. */
  service: TensorService | null;
  pending: readonly QueuedTensorRequest[];
  inFlight: number;
  maxInFlight: number;
  maxPending: number;
  /** Requests answered, by how they ended (since this instance started). */
  served: number;
  stopped: number;
  failed: number;
  lostReason: string | null;
}

type InternalEvent =
  | { type: 'tensor.served'; outcome: Outcome }
  | { type: 'tensor.peerDisconnected'; nodeId: string };

/** STOP and the supervisor's `shutdown` both end the actor (its cleanup destroys the device). */
export type TensorEvent = TensorRequestEvent | InternalEvent | { type: 'DEVICE_LOST'; reason: string } | { type: 'STOP' } | { type: 'shutdown' };

export class DeviceLostError extends Error {
  override name = 'DeviceLostError';
}

function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // A requester's reply port failing is its problem; the tensor actor keeps serving.
  }
}

function isRequest(event: { type: string }): event is TensorRequestEvent {
  return isTensorMessageType(event.type) && typeof (event as { replyTo?: unknown }).replyTo === 'object';
}

/** Releases an engine exactly once: its service closes (work stops, handles freed), then the device goes. */
function releaseEngine(engine: Engine, service: TensorService, why: string, onGone?: (e: Engine) => void): void {
  service.close(why);
  if (engine.isDestroyed) return;
  onGone?.(engine);
  engine.destroy();
}

/**
 * Serves one request as a plain promise and tells the actor when it is done (tensor.served). Not a
 * spawned actor per request: a finished child stays in the actor's children, so they grew by one
 * per request for the life of the node. Stopping work needs no per-request signal: closing the
 * service (stop, restart, device loss) stops every run in flight.
 */
function serveRequest(service: TensorService, event: TensorRequestEvent, parent: AnyActorRef): void {
  service.serve(event).then(
    (outcome) => parent.send({ type: 'tensor.served', outcome }),
    () => parent.send({ type: 'tensor.served', outcome: 'failed' }),
  );
}

/** Of the requests that waited for the engine: those to serve now, and those over maxInFlight (BUSY). */
function splitPending(context: TensorContext): { serve: TensorRequestEvent[]; busy: TensorRequestEvent[] } {
  const serve: TensorRequestEvent[] = [];
  const busy: TensorRequestEvent[] = [];
  for (const { event } of context.pending) {
    // A requester that gave up meanwhile is dropped, but a free is done even when nobody waits
    // (it may have been sent one-way).
    if (event.replyTo.settled && event.type !== 'tensor.free') continue;
    (context.inFlight + serve.length >= context.maxInFlight ? busy : serve).push(event);
  }
  return { serve, busy };
}

export const tensorMachine = setup({
  types: {
    context: {} as TensorContext,
    events: {} as TensorEvent,
    input: {} as TensorActorInput,
  },
  actors: {
    startEngine: fromPromise<Engine, TensorActorInput>(({ input }) =>
      createEngine({ backend: input.backend ?? 'auto', flags: input.flags })),
    // Lives exactly as long as the engine is in use: its cleanup closes the service and destroys the
    // device, whether the actor stopped normally or was stopped by its parent. xstate does not stop
    // the children of an actor that fails, so it also watches its parent for an error: a crash must
    // not leave the device, the handles and the runs in flight alive.
    watchEngine: fromCallback<TensorEvent, { engine: Engine; service: TensorService; parent: AnyActorRef; onGone?: (e: Engine) => void }>(
      ({ input, sendBack }) => {
        let active = true;
        const release = (why: string) => {
          if (!active) return;
          active = false;
          releaseEngine(input.engine, input.service, why, input.onGone);
        };
        input.engine.backend.lost?.then((reason) => {
          if (active) sendBack({ type: 'DEVICE_LOST', reason });
        });
        const watch = input.parent.subscribe({ error: () => release('crashed') });
        return () => {
          watch.unsubscribe();
          release('is shutting down');
        };
      },
    ),
    watchPeers: fromCallback<TensorEvent, { events?: TensorActorInput['events'] }>(({ input, sendBack }) =>
      input.events?.subscribe('peer.disconnected', ({ nodeId }) => sendBack({ type: 'tensor.peerDisconnected', nodeId }))),
  },
  guards: {
    isRequest: ({ event }) => isRequest(event),
    isUnknownRequest: ({ event }) => !isTensorMessageType(event.type) && typeof (event as { replyTo?: unknown }).replyTo === 'object',
    full: ({ context, event }) => isRequest(event) && context.inFlight >= context.maxInFlight,
    pendingFull: ({ context, event }) => isRequest(event) && context.pending.length >= context.maxPending,
  },
  actions: {
    startService: assign(({ context }, engine: Engine) => ({
      engine,
      service: new TensorService(engine, { ...DEFAULT_TENSOR_LIMITS, ...context.input.limits }, context.input.onRunEnd),
    })),
    dropEngine: assign({ engine: null, service: null }),
    rejectBusy: ({ event }) => {
      if (isRequest(event)) safely(() => event.replyTo.fail('BUSY', 'tensor: too many requests in flight; retry later'));
    },
    rejectUnknown: ({ event }) => {
      const port = (event as { replyTo?: { fail?: unknown } }).replyTo;
      if (port && typeof port.fail === 'function') {
        safely(() => (event as TensorRequestEvent).replyTo.fail('INVALID_INPUT', `tensor: unknown message "${String(event.type).slice(0, 64)}"`));
      }
    },
    queue: assign({
      pending: ({ context, event }) => (isRequest(event) ? [...context.pending, new QueuedTensorRequest(event)] : context.pending),
    }),
    /** Starts the request (a side effect outside the transition); `countServing` counts it. */
    serve: ({ context, event, self }) => {
      if (isRequest(event) && context.service) serveRequest(context.service, event, self);
    },
    countServing: assign({ inFlight: ({ context }) => context.inFlight + 1 }),
    /** What waited for the engine, oldest first; `countPending` counts what this starts. */
    servePending: ({ context, self }) => {
      if (!context.service) return;
      const { serve, busy } = splitPending(context);
      for (const event of busy) safely(() => event.replyTo.fail('BUSY', 'tensor: too many requests in flight; retry later'));
      for (const event of serve) serveRequest(context.service, event, self);
    },
    countPending: assign(({ context }) => (context.service ? { inFlight: context.inFlight + splitPending(context).serve.length, pending: [] } : {})),
    served: assign(({ context, event }) => {
      if (event.type !== 'tensor.served') return {};
      return {
        inFlight: Math.max(0, context.inFlight - 1),
        served: context.served + (event.outcome === 'ok' ? 1 : 0),
        stopped: context.stopped + (event.outcome === 'stopped' ? 1 : 0),
        failed: context.failed + (event.outcome === 'failed' ? 1 : 0),
      };
    }),
    freePeer: ({ context, event }) => {
      if (event.type === 'tensor.peerDisconnected') context.service?.handles.freeOwner(event.nodeId);
    },
    noteLost: assign({ lostReason: (_, reason: string) => reason }),
    failOnDeviceLost: ({ context }, reason: string) => {
      // Release the dead engine now (a failing xstate actor does not stop its children first),
      // then throw: the actor fails, xstate reports it to the parent, the supervisor restarts it.
      if (context.engine && context.service) {
        releaseEngine(context.engine, context.service, `lost its device (${reason})`, context.input.onEngineGone);
      }
      throw new DeviceLostError(`tensor device lost (${reason})`);
    },
  },
}).createMachine({
  id: 'tensor',
  context: ({ input }) => ({
    input,
    engine: null,
    service: null,
    pending: [],
    inFlight: 0,
    maxInFlight: input.maxInFlight ?? 64,
    maxPending: input.maxPending ?? 64,
    served: 0,
    stopped: 0,
    failed: 0,
    lostReason: null,
  }),
  initial: 'starting',
  on: { shutdown: '.stopped', STOP: '.stopped' },
  states: {
    starting: {
      invoke: {
        src: 'startEngine',
        input: ({ context }) => context.input,
        onDone: { target: 'ready', actions: { type: 'startService', params: ({ event }) => event.output } },
        // No onError: a failed start fails the actor (the bus answers what waited UNAVAILABLE), and
        // the supervisor decides.
      },
      on: {
        shutdown: '#tensor.stopped',
        STOP: '#tensor.stopped',
        '*': [
          { guard: 'pendingFull', actions: 'rejectBusy' },
          { guard: 'isRequest', actions: 'queue' },
          { guard: 'isUnknownRequest', actions: 'rejectUnknown' },
        ],
      },
    },
    ready: {
      entry: ['servePending', 'countPending'],
      invoke: [
        {
          src: 'watchEngine',
          input: ({ context, self }) => ({ engine: context.engine!, service: context.service!, parent: self, onGone: context.input.onEngineGone }),
        },
        { src: 'watchPeers', input: ({ context }) => ({ events: context.input.events }) },
      ],
      on: {
        'tensor.served': { actions: 'served' },
        'tensor.peerDisconnected': { actions: 'freePeer' },
        DEVICE_LOST: {
          actions: [
            { type: 'noteLost', params: ({ event }) => event.reason },
            { type: 'failOnDeviceLost', params: ({ event }) => event.reason },
          ],
        },
        shutdown: '#tensor.stopped',
        STOP: '#tensor.stopped',
        '*': [
          { guard: 'full', actions: 'rejectBusy' },
          { guard: 'isRequest', actions: ['serve', 'countServing'] },
          { guard: 'isUnknownRequest', actions: 'rejectUnknown' },
        ],
      },
      exit: 'dropEngine',
    },
    stopped: { type: 'final' },
  },
});

export type TensorActorRef = ActorRefFrom<typeof tensorMachine>;

/** The live engine of a tensor actor, or null while it starts, restarts or after it stopped. */
export function engineOf(snapshot: SnapshotFrom<typeof tensorMachine>): Engine | null {
  return snapshot.status === 'active' && snapshot.matches('ready') ? snapshot.context.engine : null;
}
