// The tensor actor: owns the engine (and with it the GPU device and every buffer). It starts the
// engine, watches for device loss and then fails, so that its supervisor restarts it with a fresh
// device; on stop it destroys the device (the process can then exit).
import { assign, fromCallback, fromPromise, setup, type ActorRefFrom, type SnapshotFrom } from 'xstate';
import { createEngine, type CreateEngineOptions } from './index.ts';
import type { Engine } from './engine.ts';
import { tensorOperations } from './operations.ts';
import type { OperationSpec } from '../../operations/catalogue.ts';

export interface TensorActorInput {
  backend?: CreateEngineOptions['backend'];
  flags?: string[];
  /** Called with every handle-owning engine that goes away, so the service can drop its handles. */
  onEngineGone?: (engine: Engine) => void;
  /** The node's operation registry: tensor/* are registered while the engine is ready. */
  operations?: { register(specs: OperationSpec[], owner?: string): () => void };
  /** Where `peer.disconnected` is published: a peer's handles are freed when its last connection closes. */
  events?: { subscribe(type: 'peer.disconnected', handler: (payload: { nodeId: string }) => void): () => void };
}

/** Registers tensor/* for the live engine; on exit unregisters them and frees every handle. */
const serveOperations = fromCallback<{ type: string }, { engine: Engine; input: TensorActorInput }>(({ input: { engine, input } }) => {
  if (!input.operations) return undefined;
  const service = tensorOperations(engine);
  const unregister = input.operations.register(service.operations, 'tensor');
  const unsubscribe = input.events?.subscribe('peer.disconnected', ({ nodeId }) => service.freeOwner(nodeId));
  return () => {
    unsubscribe?.();
    unregister();
    service.freeAll();
  };
});

export interface TensorContext {
  input: TensorActorInput;
  engine: Engine | null;
  lostReason: string | null;
}

/** STOP and the supervisor's `shutdown` both end the actor (its cleanup destroys the device). */
export type TensorEvent = { type: 'DEVICE_LOST'; reason: string } | { type: 'STOP' } | { type: 'shutdown' };

export class DeviceLostError extends Error {
  override name = 'DeviceLostError';
}

export const tensorMachine = setup({
  types: {
    context: {} as TensorContext,
    events: {} as TensorEvent,
    input: {} as TensorActorInput,
  },
  actors: {
    serveOperations,
    startEngine: fromPromise<Engine, TensorActorInput>(({ input }) =>
      createEngine({ backend: input.backend ?? 'auto', flags: input.flags })),
    // Lives exactly as long as the engine is in use: its cleanup destroys the device, whether the
    // actor stopped normally, failed, or was stopped by its parent.
    watchEngine: fromCallback<TensorEvent, { engine: Engine; onGone?: (e: Engine) => void }>(({ input, sendBack }) => {
      let active = true;
      input.engine.backend.lost?.then((reason) => {
        if (active) sendBack({ type: 'DEVICE_LOST', reason });
      });
      return () => {
        active = false;
        if (input.engine.isDestroyed) return;
        input.onGone?.(input.engine);
        input.engine.destroy();
      };
    }),
  },
  actions: {
    storeEngine: assign({ engine: (_, engine: Engine) => engine }),
    dropEngine: assign({ engine: null }),
    noteLost: assign({ lostReason: (_, reason: string) => reason }),
    failOnDeviceLost: ({ context }, reason: string) => {
      // Release the dead engine now (an erroring xstate actor does not stop its children first),
      // then throw: the actor fails, xstate reports it to the parent, the supervisor restarts it.
      if (context.engine) {
        context.input.onEngineGone?.(context.engine);
        context.engine.destroy();
      }
      throw new DeviceLostError(`tensor device lost (${reason})`);
    },
  },
}).createMachine({
  id: 'tensor',
  context: ({ input }) => ({ input, engine: null, lostReason: null }),
  initial: 'starting',
  on: { shutdown: '.stopped' },
  states: {
    starting: {
      invoke: {
        src: 'startEngine',
        input: ({ context }) => context.input,
        onDone: { target: 'ready', actions: { type: 'storeEngine', params: ({ event }) => event.output } },
        // No onError: a failed start fails the actor, and the supervisor decides.
      },
    },
    ready: {
      invoke: [
        { src: 'watchEngine', input: ({ context }) => ({ engine: context.engine!, onGone: context.input.onEngineGone }) },
        { src: 'serveOperations', input: ({ context }) => ({ engine: context.engine!, input: context.input }) },
      ],
      on: {
        DEVICE_LOST: {
          actions: [
            { type: 'noteLost', params: ({ event }) => event.reason },
            { type: 'failOnDeviceLost', params: ({ event }) => event.reason },
          ],
        },
        STOP: { target: 'stopped' },
        shutdown: { target: 'stopped' },
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
