// When a tensor request stops: its deadline passed, its requester gave up (the bus settled the
// request: aborted, timed out or the caller went away, so `replyTo.settled` turned true), or the
// engine it runs on is going (actor stop, restart, device loss). Work checks this between kernels;
// the JS backend also checks the deadline inside a long kernel (a synchronous kernel cannot see a
// timer fire or an abort arrive, but it can read the clock).
import { BusError } from '../../bus/errors.ts';

export type StopReason = 'deadline' | 'abandoned' | 'engine-stopped';

/** Thrown where a request's work stops; the service turns it into the request's answer. */
export class RunStopped extends Error {
  override name = 'RunStopped';
  /** How far the work got, for the answer ("3 of 25 ops"). */
  constructor(readonly reason: StopReason, readonly progress = '0 ops') {
    super(`tensor work stopped (${reason}) after ${progress}`);
  }
}

export interface StopSources {
  /** Epoch ms; Infinity when none. */
  deadline: number;
  /** The request's reply port: settled once nobody waits for the answer any more. */
  port: { readonly settled: boolean };
  /** Aborted when the engine's service closes (stop, restart) or the serving actor is stopped. */
  signals: readonly AbortSignal[];
}

export class RunGuard {
  constructor(private readonly sources: StopSources, private readonly now: () => number = Date.now) {}

  /** Why the work should stop now, or null. */
  reason(): StopReason | null {
    if (this.sources.signals.some((s) => s.aborted)) return 'engine-stopped';
    // The deadline before the port: at the deadline the bus also settles the port, and "deadline"
    // says more than "abandoned".
    if (this.now() >= this.sources.deadline) return 'deadline';
    if (this.sources.port.settled) return 'abandoned';
    return null;
  }

  /** Throws RunStopped when the work should stop. Between kernels. */
  check(): void {
    const reason = this.reason();
    if (reason) throw new RunStopped(reason);
  }

  /** The check a synchronous kernel can make: only the clock can change while it runs. */
  readonly checkDeadline = (): void => {
    if (this.now() >= this.sources.deadline) throw new RunStopped('deadline');
  };
}

/** The answer for work that stopped; `progress` says how far it got ("3 of 25 ops"). */
export function stoppedError(reason: StopReason, what: string, progress: string): BusError {
  switch (reason) {
    case 'deadline':
      return new BusError('TIMEOUT', `${what}: the deadline passed after ${progress}; the rest was not run`);
    case 'abandoned':
      // Nobody reads this answer (the bus already settled the request); it exists for completeness.
      return new BusError('UNAVAILABLE', `${what}: the requester gave up after ${progress}`, { retryable: false });
    case 'engine-stopped':
      return new BusError('UNAVAILABLE', `${what}: the tensor engine stopped after ${progress} (restarting or shutting down); retry`);
  }
}
