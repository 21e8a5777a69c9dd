// OTP supervision on xstate v5. xstate stops a child that throws and tells its parent
// (`xstate.error.actor.<id>`), but never restarts it; this machine adds what an OTP supervisor does:
// ordered start, restart by strategy (one_for_one, one_for_all, rest_for_one), restart intensity with
// escalation, and reverse-ordered graceful shutdown with a per-child timeout.
//
// The decisions are pure functions in plan.ts; the machine sequences them. All time goes through
// xstate's clock (delayed raises), so a SimulatedClock drives it in tests. Every child instance gets
// its own actor id (`<id>#<generation>`), so a late event from an instance already replaced is
// recognised as stale and ignored.
import { assign, enqueueActions, setup } from 'xstate';
import type { AnyActorLogic, AnyActorRef, DoneActorEvent, ErrorActorEvent } from 'xstate';
import {
  exceedsIntensity,
  exitOf,
  markStopped,
  planRestart,
  planStopAll,
  shouldRestart,
  startQueued,
} from './plan.ts';
import type { BusRegistry, ChildRecord, ChildSpec, SupervisorContext, SupervisorInput, SupervisorSpec } from './types.ts';

export type { BusRegistry, ChildRecord, ChildSpec, Intensity, Restart, Strategy, SupervisorContext, SupervisorInput, SupervisorSpec } from './types.ts';

export const DEFAULT_INTENSITY = { maxRestarts: 3, withinMs: 5000 } as const;
export const DEFAULT_SHUTDOWN_MS = 5000;

export type SupervisorEvent =
  /** Sent by a parent supervisor to a child supervisor: shut down as a child would. */
  | { type: 'shutdown' }
  | { type: 'supervisor.shutdown' }
  /** Internal: a child's shutdownMs ran out. */
  | { type: 'supervisor.kill'; instance: string }
  /** Internal: one restart left the intensity window. */
  | { type: 'supervisor.restartExpired' }
  | ErrorActorEvent
  | DoneActorEvent;

/** The error a supervisor fails with when its restart intensity is exceeded. */
export class SupervisorEscalation extends Error {
  override name = 'SupervisorEscalation';
  constructor(
    readonly supervisorId: string,
    readonly childId: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`supervisor "${supervisorId}" gave up: ${reason}`, options);
  }
}

const KILL_TIMER = 'supervisor.kill';

// Kept outside contexts on purpose (contexts are shown by the inspector and must stay serialisable):
const supervisorLogics = new WeakSet<object>(); // which logics are supervisors (describeTree, bus hand-down)
const busOf = new WeakMap<AnyActorRef, BusRegistry>(); // supervisor actor → its bus
const unregisterOf = new WeakMap<AnyActorRef, () => void>(); // child actor → its bus unregister
const causeOf = new WeakMap<AnyActorRef, unknown>(); // supervisor actor → the error it escalates

export function isSupervisorLogic(logic: unknown): boolean {
  return typeof logic === 'object' && logic !== null && supervisorLogics.has(logic);
}

function validate(spec: SupervisorSpec): void {
  const ids = new Set<string>();
  const systemIds = new Set<string>();
  for (const child of spec.children) {
    if (!child.id) throw new Error(`supervisor "${spec.id}": a child has an empty id`);
    if (ids.has(child.id)) throw new Error(`supervisor "${spec.id}": duplicate child id "${child.id}"`);
    ids.add(child.id);
    if (child.systemId !== undefined) {
      if (systemIds.has(child.systemId)) {
        throw new Error(`supervisor "${spec.id}": duplicate systemId "${child.systemId}"`);
      }
      systemIds.add(child.systemId);
    }
    const ms = child.shutdownMs;
    if (ms !== undefined && !(ms >= 0)) throw new Error(`supervisor "${spec.id}": child "${child.id}" has a bad shutdownMs`);
  }
  const { maxRestarts, withinMs } = spec.intensity ?? DEFAULT_INTENSITY;
  if (!Number.isInteger(maxRestarts) || maxRestarts < 0 || !Number.isFinite(withinMs) || withinMs <= 0) {
    throw new Error(`supervisor "${spec.id}": intensity needs an integer maxRestarts >= 0 and a finite withinMs > 0`);
  }
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}

/** Registers a just-spawned child on the supervisor's bus; unregisters when the child stops, however it stops. */
function attachToBus(supervisor: AnyActorRef, systemId: string, mailbox: number | undefined): void {
  const bus = busOf.get(supervisor);
  const child = supervisor.system.get(systemId) as AnyActorRef | undefined;
  if (!bus || !child) return;
  const unregister = once(bus.register(systemId, child, mailbox === undefined ? {} : { mailbox }));
  unregisterOf.set(child, unregister);
  child.subscribe({ complete: unregister, error: unregister });
}

/** Unregisters a child now (before a new instance may register the same systemId). */
function detachFromBus(supervisor: AnyActorRef, instance: string): void {
  const children = (supervisor.getSnapshot() as { children?: Record<string, AnyActorRef> }).children;
  const child = children?.[instance];
  if (child) unregisterOf.get(child)?.();
}

/** A nested supervisor shares its parent's bus unless its spec gives its own. */
function childInput(supervisor: AnyActorRef, spec: ChildSpec): unknown {
  const bus = busOf.get(supervisor);
  if (!bus || !isSupervisorLogic(spec.logic)) return spec.input;
  const given = (spec.input ?? {}) as SupervisorInput;
  return given.bus ? given : { ...given, bus };
}

interface StopEnqueuer {
  (action: () => void): void;
  stopChild(instance: string): void;
}

/**
 * Enqueues what ends one child instance (leave the bus, leave xstate's children map; stopping an
 * instance that already exited is a no-op) and returns the context fields that record it.
 */
function forget(enqueue: StopEnqueuer, self: AnyActorRef, ctx: SupervisorContext, child: ChildRecord) {
  const instance = child.instance;
  if (instance !== null) {
    enqueue(() => detachFromBus(self, instance));
    enqueue.stopChild(instance);
  }
  return markStopped(ctx, child.id);
}

/** Creates the actor logic of one supervisor. */
export function createSupervisor(spec: SupervisorSpec) {
  validate(spec);
  const specs = new Map(spec.children.map((c) => [c.id, c] as const));
  const { maxRestarts, withinMs } = spec.intensity ?? DEFAULT_INTENSITY;
  const shutdownMsOf = (childId: string): number => specs.get(childId)?.shutdownMs ?? DEFAULT_SHUTDOWN_MS;

  const initialContext: SupervisorContext = {
    id: spec.id,
    strategy: spec.strategy,
    maxRestarts,
    withinMs,
    children: spec.children.map((c) => ({
      id: c.id,
      ...(c.systemId === undefined ? {} : { systemId: c.systemId }),
      restart: c.restart,
      instance: null,
      generation: 0,
    })),
    restarts: 0,
    stopQueue: [],
    current: null,
    startQueue: spec.children.map((c) => c.id),
    escalation: null,
  };

  const machineSetup = setup({
    types: {
      context: {} as SupervisorContext,
      events: {} as SupervisorEvent,
      // `void`, not `undefined`: setup's inference drops `undefined`, and the input is optional.
      input: {} as SupervisorInput | void,
    },
    guards: {
      isStaleExit: ({ context, event }) => !exitOf(context, event.type),
      isCurrentExit: ({ context, event }) => {
        const exit = exitOf(context, event.type);
        return !!exit && exit.child.id === context.current?.id;
      },
      isQueuedExit: ({ context, event }) => {
        const exit = exitOf(context, event.type);
        return !!exit && context.stopQueue.includes(exit.child.id);
      },
      exitNeedsRestart: ({ context, event }) => {
        const exit = exitOf(context, event.type);
        return !!exit && shouldRestart(exit.child.restart, exit.kind);
      },
      exitExceedsIntensity: ({ context, event }) => {
        const exit = exitOf(context, event.type);
        return !!exit && shouldRestart(exit.child.restart, exit.kind) && exceedsIntensity(context);
      },
      isStopping: ({ context }) => context.current !== null,
      nothingToStop: ({ context }) => context.stopQueue.length === 0,
      isKillForCurrent: ({ context, event }) =>
        event.type === 'supervisor.kill' && event.instance === context.current?.instance,
    },
    actions: {
      /** A child instance exited and is not restarted: drop it from the children map and the bus. */
      forgetExit: enqueueActions(({ context, event, enqueue, self }) => {
        const exit = exitOf(context, event.type);
        if (exit) enqueue.assign(forget(enqueue, self, context, exit.child));
      }),
      /** A child instance exited and is restarted: count it and merge its group into the queues. */
      restartExit: enqueueActions(({ context, event, enqueue, self }) => {
        const exit = exitOf(context, event.type);
        if (!exit) return;
        const after = { ...context, ...forget(enqueue, self, context, exit.child), restarts: context.restarts + 1 };
        enqueue.assign({ ...after, ...planRestart(after, exit.child.id) });
        enqueue.raise({ type: 'supervisor.restartExpired' }, { delay: context.withinMs });
      }),
      /** One restart too many: stop every child, then fail (see `failed`). */
      escalateExit: enqueueActions(({ context, event, enqueue, self }) => {
        const exit = exitOf(context, event.type);
        if (!exit) return;
        if ('error' in event) causeOf.set(self, event.error);
        const after = { ...context, ...forget(enqueue, self, context, exit.child) };
        enqueue.assign({
          ...after,
          ...planStopAll(after),
          escalation: {
            childId: exit.child.id,
            reason: `child "${exit.child.id}" needed more than ${context.maxRestarts} restarts within ${context.withinMs} ms`,
          },
        });
      }),
      expireRestart: assign({ restarts: ({ context }) => Math.max(0, context.restarts - 1) }),
      planShutdown: assign(({ context }) => planStopAll(context)),
      /** Asks the next child in stopQueue to shut down and arms its kill timer. */
      beginStop: enqueueActions(({ context, enqueue }) => {
        const [childId, ...rest] = context.stopQueue;
        const instance = context.children.find((c) => c.id === childId)?.instance;
        if (childId === undefined || !instance) {
          enqueue.assign({ stopQueue: rest });
          return;
        }
        enqueue.assign({ stopQueue: rest, current: { id: childId, instance } });
        enqueue.sendTo(instance, { type: 'shutdown' });
        const ms = shutdownMsOf(childId);
        if (Number.isFinite(ms)) enqueue.raise({ type: 'supervisor.kill', instance }, { delay: ms, id: KILL_TIMER });
      }),
      /** The current child exited (or ran out of time): make sure it is stopped, then move on. */
      endStop: enqueueActions(({ context, enqueue, self }) => {
        const current = context.current;
        if (!current) return;
        const child = context.children.find((c) => c.id === current.id);
        enqueue.cancel(KILL_TIMER);
        enqueue.assign({ ...(child ? forget(enqueue, self, context, child) : {}), current: null });
      }),
      /** Starts the queued children in order, each under its next instance id. */
      startQueued: enqueueActions(({ context, enqueue, self }) => {
        const children = startQueued(context);
        for (const childId of context.startQueue) {
          const childSpec = specs.get(childId);
          const instance = children.find((c) => c.id === childId)?.instance;
          if (!childSpec || !instance) continue;
          // xstate's types forbid an `id` for inline logic, but its runtime takes one; the id is
          // what makes exits of old instances recognisable (see plan.ts instanceName).
          const options = {
            id: instance,
            ...(childSpec.systemId === undefined ? {} : { systemId: childSpec.systemId }),
            input: childInput(self, childSpec),
          };
          enqueue.spawnChild(childSpec.logic as AnyActorLogic, options as Omit<typeof options, 'id'>);
          const systemId = childSpec.systemId;
          if (systemId !== undefined) enqueue(() => attachToBus(self, systemId, childSpec.mailbox));
        }
        enqueue.assign({ children, startQueue: [] });
      }),
      escalate: ({ context, self }) => {
        const escalation = context.escalation ?? { childId: '?', reason: 'restart intensity exceeded' };
        throw new SupervisorEscalation(context.id, escalation.childId, escalation.reason, { cause: causeOf.get(self) });
      },
    },
  });

  // The drain: stop stopQueue's children one at a time (shutdown, then wait for the exit or the
  // timeout), then go to `done`. Restart, shutdown and escalation all use it.
  const drain = (done: string) => ({
    initial: 'next' as const,
    states: {
      next: {
        always: [
          { guard: 'isStopping' as const, target: 'waiting' },
          { guard: 'nothingToStop' as const, target: done },
          { target: 'waiting', actions: 'beginStop' as const },
        ],
      },
      waiting: {
        on: {
          'xstate.error.actor.*': { guard: 'isCurrentExit' as const, target: 'next', actions: 'endStop' as const },
          'xstate.done.actor.*': { guard: 'isCurrentExit' as const, target: 'next', actions: 'endStop' as const },
          'supervisor.kill': { guard: 'isKillForCurrent' as const, target: 'next', actions: 'endStop' as const },
        },
      },
    },
  });

  const onExitWhileRunning = [
    { guard: 'isStaleExit' as const },
    { guard: 'exitExceedsIntensity' as const, target: '#escalating', actions: 'escalateExit' as const },
    { guard: 'exitNeedsRestart' as const, target: '#restarting', actions: 'restartExit' as const },
    { actions: 'forgetExit' as const },
  ];
  // While restarting, a new failure joins the restart in progress (no target: the drain goes on).
  const onExitWhileRestarting = [
    { guard: 'isStaleExit' as const },
    { guard: 'isQueuedExit' as const, actions: 'forgetExit' as const },
    { guard: 'exitExceedsIntensity' as const, target: '#escalating', actions: 'escalateExit' as const },
    { guard: 'exitNeedsRestart' as const, actions: 'restartExit' as const },
    { actions: 'forgetExit' as const },
  ];
  const onShutdown = { target: '#shuttingDown', actions: 'planShutdown' as const };

  const machine = machineSetup.createMachine({
    id: spec.id,
    context: ({ input, self }) => {
      const bus = (input as SupervisorInput | undefined)?.bus;
      if (bus) busOf.set(self, bus);
      return structuredClone(initialContext);
    },
    initial: 'starting',
    // Every child exit must be handled somewhere: an unhandled `xstate.error.actor.*` would fail
    // the supervisor itself. Here: stale ones are ignored, others just recorded.
    on: {
      'xstate.error.actor.*': [{ guard: 'isStaleExit' }, { actions: 'forgetExit' }],
      'xstate.done.actor.*': [{ guard: 'isStaleExit' }, { actions: 'forgetExit' }],
      'supervisor.restartExpired': { actions: 'expireRestart' },
    },
    states: {
      starting: { id: 'starting', entry: 'startQueued', always: { target: 'running' } },
      running: {
        on: {
          'xstate.error.actor.*': onExitWhileRunning,
          'xstate.done.actor.*': onExitWhileRunning,
          shutdown: onShutdown,
          'supervisor.shutdown': onShutdown,
        },
      },
      restarting: {
        id: 'restarting',
        on: {
          'xstate.error.actor.*': onExitWhileRestarting,
          'xstate.done.actor.*': onExitWhileRestarting,
          shutdown: onShutdown,
          'supervisor.shutdown': onShutdown,
        },
        ...drain('#starting'),
      },
      shuttingDown: { id: 'shuttingDown', ...drain('#stopped') },
      escalating: { id: 'escalating', ...drain('#failed') },
      failed: { id: 'failed', entry: 'escalate' },
      stopped: { id: 'stopped', type: 'final' },
    },
  });
  supervisorLogics.add(machine);
  return machine;
}

export type SupervisorLogic = ReturnType<typeof createSupervisor>;
