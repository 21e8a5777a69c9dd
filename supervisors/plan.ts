// The supervisor's decisions as pure functions of its context: which event is a child's exit,
// whether that exit is restarted, which siblings a strategy takes down with it, and in which order
// children are stopped and started. The machine in supervisor.ts only sequences these.
import type { ChildRecord, Restart, Strategy, SupervisorContext } from './types.ts';

export type ExitKind = 'error' | 'done';

const ERROR_PREFIX = 'xstate.error.actor.';
const DONE_PREFIX = 'xstate.done.actor.';

/** The actor id of a child instance: `<child id>#<generation>`, unique for the supervisor's life. */
export function instanceName(childId: string, generation: number): string {
  return `${childId}#${generation}`;
}

/** Reads xstate's child-exit event type (`xstate.error.actor.<id>` / `xstate.done.actor.<id>`). */
export function parseExit(eventType: string): { kind: ExitKind; instance: string } | undefined {
  if (eventType.startsWith(ERROR_PREFIX)) return { kind: 'error', instance: eventType.slice(ERROR_PREFIX.length) };
  if (eventType.startsWith(DONE_PREFIX)) return { kind: 'done', instance: eventType.slice(DONE_PREFIX.length) };
  return undefined;
}

export interface Exit {
  child: ChildRecord;
  kind: ExitKind;
}

/** The child whose running instance sent this exit event; undefined for a stale or foreign event. */
export function exitOf(ctx: SupervisorContext, eventType: string): Exit | undefined {
  const parsed = parseExit(eventType);
  if (!parsed) return undefined;
  const child = ctx.children.find((c) => c.instance === parsed.instance);
  return child ? { child, kind: parsed.kind } : undefined;
}

/** OTP's restart types: permanent always, transient only after an abnormal exit, temporary never. */
export function shouldRestart(restart: Restart, kind: ExitKind): boolean {
  if (restart === 'permanent') return true;
  if (restart === 'transient') return kind === 'error';
  return false;
}

/** True when one more restart would exceed the intensity (more than maxRestarts in the window). */
export function exceedsIntensity(ctx: SupervisorContext): boolean {
  return ctx.restarts + 1 > ctx.maxRestarts;
}

/** The children a strategy restarts when `failedId` fails, in start order. */
export function restartGroup(strategy: Strategy, children: readonly ChildRecord[], failedId: string): ChildRecord[] {
  const index = children.findIndex((c) => c.id === failedId);
  if (index < 0) return [];
  switch (strategy) {
    case 'one_for_one':
      return [children[index]!];
    case 'one_for_all':
      return [...children];
    case 'rest_for_one':
      return children.slice(index);
  }
}

function byStartOrder(children: readonly ChildRecord[], ids: Iterable<string>, reverse: boolean): string[] {
  const wanted = new Set(ids);
  const ordered = children.filter((c) => wanted.has(c.id)).map((c) => c.id);
  return reverse ? ordered.reverse() : ordered;
}

/** The context after a child instance stopped: not running, no longer waiting to be stopped. */
export function markStopped(ctx: SupervisorContext, childId: string): Pick<SupervisorContext, 'children' | 'stopQueue'> {
  return {
    children: ctx.children.map((c) => (c.id === childId ? { ...c, instance: null } : c)),
    stopQueue: ctx.stopQueue.filter((id) => id !== childId),
  };
}

/**
 * Merges a restart of `failedId` into the queues: the running members of its group are stopped
 * (reverse start order), then every non-temporary member is started again (start order). Merging
 * lets a failure that arrives while a restart is in progress join it.
 */
export function planRestart(ctx: SupervisorContext, failedId: string): Pick<SupervisorContext, 'stopQueue' | 'startQueue'> {
  const group = restartGroup(ctx.strategy, ctx.children, failedId);
  const toStop = group.filter((c) => c.instance !== null && c.id !== ctx.current?.id).map((c) => c.id);
  const toStart = group.filter((c) => c.restart !== 'temporary').map((c) => c.id);
  return {
    stopQueue: byStartOrder(ctx.children, [...ctx.stopQueue, ...toStop], true),
    startQueue: byStartOrder(ctx.children, [...ctx.startQueue, ...toStart], false),
  };
}

/** Every running child, to be stopped in reverse start order (shutdown and escalation). */
export function planStopAll(ctx: SupervisorContext): Pick<SupervisorContext, 'stopQueue' | 'startQueue'> {
  const running = ctx.children.filter((c) => c.instance !== null && c.id !== ctx.current?.id).map((c) => c.id);
  return { stopQueue: byStartOrder(ctx.children, running, true), startQueue: [] };
}

/** The records after starting the queued children: each gets its next generation's instance. */
export function startQueued(ctx: SupervisorContext): ChildRecord[] {
  const queued = new Set(ctx.startQueue);
  return ctx.children.map((c) =>
    queued.has(c.id) ? { ...c, generation: c.generation + 1, instance: instanceName(c.id, c.generation + 1) } : c,
  );
}
