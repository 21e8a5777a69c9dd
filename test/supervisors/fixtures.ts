// Tiny child machines for the supervisor tests. Each writes to a journal (the side channel the
// tests read): `start <instance>` on start, `shutdown <instance>` when asked to shut down.
import { createActor, setup, SimulatedClock } from 'xstate';
import type { AnyActorLogic, AnyActorRef } from 'xstate';
import type { SupervisorLogic } from '../../supervisors/supervisor.ts';
import type { SupervisorInput } from '../../supervisors/types.ts';

export interface ChildOptions {
  /** Ignores `shutdown` (never drains), so only the supervisor's timeout ends it. */
  stubborn?: boolean;
}

/**
 * Events: `crash` throws (abnormal exit), `finish` reaches the final state (normal exit),
 * `shutdown` reaches the final state unless stubborn, `ping` replies `pong` to the sender.
 */
export function testChild(journal: string[], options: ChildOptions = {}): AnyActorLogic {
  return setup({
    types: { events: {} as { type: 'crash' } | { type: 'finish' } | { type: 'shutdown' } | { type: 'ping' } },
    actions: {
      recordStart: ({ self }) => void journal.push(`start ${self.id}`),
      recordShutdown: ({ self }) => void journal.push(`shutdown ${self.id}`),
      crash: ({ self }) => {
        throw new Error(`crash of ${self.id}`);
      },
    },
  }).createMachine({
    entry: 'recordStart',
    initial: 'up',
    states: {
      up: {
        on: {
          crash: { actions: 'crash' },
          finish: 'down',
          shutdown: options.stubborn ? { actions: 'recordShutdown' } : { target: 'down', actions: 'recordShutdown' },
        },
      },
      down: { type: 'final' },
    },
  });
}

export interface Started {
  actor: ReturnType<typeof createActor<SupervisorLogic>>;
  clock: SimulatedClock;
  errors: unknown[];
  /** The live child actor under a systemId (throws if there is none). */
  get(systemId: string): AnyActorRef;
}

export function startSupervisor(logic: SupervisorLogic, input?: SupervisorInput): Started {
  const clock = new SimulatedClock();
  const actor = createActor(logic, { clock, ...(input ? { input } : {}) });
  const errors: unknown[] = [];
  actor.subscribe({ error: (err) => void errors.push(err) });
  actor.start();
  return {
    actor,
    clock,
    errors,
    get(systemId) {
      const ref = actor.system.get(systemId) as AnyActorRef | undefined;
      if (!ref) throw new Error(`no actor registered as ${systemId}`);
      return ref;
    },
  };
}

/** Journal lines that start with `prefix`. */
export function lines(journal: readonly string[], prefix: string): string[] {
  return journal.filter((line) => line.startsWith(prefix));
}
