// The git service on its own, for a process without a node (the CLI's `alknet git init|ls`, tests,
// the benchmark): a local bus with the git actor registered on it. Callers talk to it by message,
// exactly as a node's code does.
import { createActor } from 'xstate';
import { createBus, type Bus } from '../../bus/bus.ts';
import { gitMachine } from './machine.ts';
import { GIT_SYSTEM_ID } from './messages.ts';

export interface LocalGit {
  bus: Bus;
  stop(): Promise<void>;
}

export function startLocalGit(home: string): LocalGit {
  const bus = createBus();
  const actor = createActor(gitMachine, { input: { home, drainMs: 5_000 } });
  const unregister = bus.register(GIT_SYSTEM_ID, actor.start());
  let stopping: Promise<void> | undefined;
  return {
    bus,
    stop() {
      stopping ??= (async () => {
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
        unregister();
        actor.stop();
        bus.close();
      })();
      return stopping;
    },
  };
}
