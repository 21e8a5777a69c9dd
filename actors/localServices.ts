// Services on their own, for a process without a node (the CLI's `alknet blob|git|pkarr …`, tests,
// benchmarks): a fresh bus with each service actor registered on it under its system id. Callers
// talk to them exactly as a node's code does, by message; each actor stays the only owner of its
// state, and nothing but data crosses to the caller. fs/local.ts, git/local.ts and pkarr/local.ts
// say which services and with what input.
import { createActor, type AnyActorLogic, type AnyActorRef } from 'xstate';
import { createBus, type Bus } from '../bus/bus.ts';

export interface LocalServiceSpec {
  /** The bus address (FS_SYSTEM_ID, …). */
  id: string;
  logic: AnyActorLogic;
  /** The actor's input; it may need the bus (events, requests to the services started before it). */
  input(bus: Bus): unknown;
}

export interface LocalServices {
  bus: Bus;
  /** Shuts the services down in reverse order (each drains what it holds), then closes the bus. */
  stop(): Promise<void>;
}

/** Sends `shutdown` and waits for the actor to end (as a supervisor would), then stops it. */
async function shutdown(actor: AnyActorRef): Promise<void> {
  if (actor.getSnapshot().status === 'active') {
    const done = new Promise<void>((resolve) => {
      const sub = actor.subscribe({ complete: () => resolve(), error: () => resolve() });
      if (actor.getSnapshot().status !== 'active') {
        sub.unsubscribe();
        resolve();
      }
    });
    actor.send({ type: 'shutdown' });
    await done;
  }
  actor.stop();
}

/**
 * Starts `services` in order on a fresh bus. The bus subscribes to each actor's errors (a store
 * that cannot open), so xstate does not report them as unhandled: requests get UNAVAILABLE with the
 * reason in one line.
 */
export function startLocalServices(services: readonly LocalServiceSpec[]): LocalServices {
  const bus = createBus();
  const started: { actor: AnyActorRef; unregister: () => void }[] = [];
  for (const spec of services) {
    const actor = createActor(spec.logic, { input: spec.input(bus) });
    started.push({ actor, unregister: bus.register(spec.id, actor.start()) });
  }
  let stopping: Promise<void> | undefined;
  return {
    bus,
    stop() {
      stopping ??= (async () => {
        for (const { actor } of [...started].reverse()) await shutdown(actor);
        for (const { unregister } of started) unregister();
        bus.close();
      })();
      return stopping;
    },
  };
}
