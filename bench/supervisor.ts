// Restart latency: from a child's crash to the new instance running, in µs, over N crashes.
// Side by side: the supervisor (one_for_one; rest_for_one restarting 4 children) against a bare
// xstate parent that only respawns the child on `xstate.error.actor.*` (the least a restart costs
// in xstate: no strategy, no intensity, no ordered drain).
//
//   node --import tsx bench/supervisor.ts [N]
import { createActor, enqueueActions, setup, SimulatedClock, spawnChild } from 'xstate';
import type { AnyActorRef } from 'xstate';
import { createSupervisor } from '../supervisors/supervisor.ts';

// --short: a quick run (CI smoke); a number: crashes per case.
const N = process.argv.includes('--short') ? 200 : Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 5000);
const WARMUP = 500;

let startedAt = 0n;
/** A child that records when it starts (the side channel) and crashes on demand. */
const child = setup({
  actions: {
    started: () => {
      startedAt = process.hrtime.bigint();
    },
    crash: () => {
      throw new Error('bench crash');
    },
  },
}).createMachine({
  entry: 'started',
  initial: 'up',
  states: { up: { on: { crash: { actions: 'crash' }, shutdown: 'down' } }, down: { type: 'final' } },
});

/** The baseline: on an error, drop the dead child and spawn a fresh one; nothing else. */
const bare = setup({ types: { context: {} as { n: number } } }).createMachine({
  context: { n: 0 },
  entry: spawnChild(child, { systemId: 'target', id: 'c0' } as never),
  on: {
    'xstate.error.actor.*': {
      actions: enqueueActions(({ context, enqueue }) => {
        const n = context.n + 1;
        enqueue.stopChild(`c${context.n}`);
        enqueue.spawnChild(child, { systemId: 'target', id: `c${n}` } as never);
        enqueue.assign({ n });
      }),
    },
  },
});

interface Row {
  name: string;
  samples: number[];
}

/**
 * Between crashes (outside the timed part) the simulated clock moves on by `stepMs`, as it would
 * in a real node, so the intensity window holds only a few pending timers.
 */
function measure(name: string, actor: AnyActorRef, clock: SimulatedClock, stepMs: number): Row {
  const samples: number[] = [];
  for (let i = 0; i < WARMUP + N; i++) {
    const target = actor.system.get('target') as AnyActorRef;
    const t0 = process.hrtime.bigint();
    target.send({ type: 'crash' });
    const fresh = actor.system.get('target') as AnyActorRef | undefined;
    if (!fresh || fresh === target || (fresh.getSnapshot() as { status: string }).status !== 'active' || startedAt < t0) {
      throw new Error(`${name}: the child is not running again after crash ${i}`);
    }
    if (i >= WARMUP) samples.push(Number(startedAt - t0) / 1000);
    clock.increment(stepMs);
  }
  return { name, samples };
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

// default intensity (3 in 5 s); one crash every 2 s of simulated time stays below it
const intensity = { maxRestarts: 3, withinMs: 5000 };
const STEP_MS = 2000;
const rows: Row[] = [];

{
  const clock = new SimulatedClock();
  const actor = createActor(bare, { clock }).start();
  rows.push(measure('bare xstate respawn (baseline)', actor, clock, STEP_MS));
  actor.stop();
}
{
  const sup = createSupervisor({
    id: 'bench',
    strategy: 'one_for_one',
    intensity,
    children: [{ id: 'target', systemId: 'target', logic: child, restart: 'permanent' }],
  });
  const clock = new SimulatedClock();
  const actor = createActor(sup, { clock }).start();
  rows.push(measure('supervisor one_for_one', actor, clock, STEP_MS));
  actor.stop();
}
{
  const drainer = setup({}).createMachine({ initial: 'up', states: { up: { on: { shutdown: 'down' } }, down: { type: 'final' } } });
  const sup = createSupervisor({
    id: 'bench',
    strategy: 'rest_for_one',
    intensity,
    children: [
      { id: 'target', systemId: 'target', logic: child, restart: 'permanent' },
      { id: 'b', logic: drainer, restart: 'permanent' },
      { id: 'c', logic: drainer, restart: 'permanent' },
      { id: 'd', logic: drainer, restart: 'permanent' },
    ],
  });
  const clock = new SimulatedClock();
  const actor = createActor(sup, { clock }).start();
  rows.push(measure('supervisor rest_for_one (4 children)', actor, clock, STEP_MS));
  actor.stop();
}

console.log(`restart latency, crash → child running again, N=${N} (after ${WARMUP} warm-up), node ${process.version}`);
console.log('case                                    mean µs   p50 µs   p99 µs   max µs');
for (const { name, samples } of rows) {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  const cells = [mean, quantile(sorted, 0.5), quantile(sorted, 0.99), sorted[sorted.length - 1]!].map((v) => v.toFixed(1).padStart(8));
  console.log(`${name.padEnd(38)}${cells.join(' ')}`);
}
