// Bus request/reply throughput next to a bare xstate `actor.send` to the same machine, measured in
// the same run. Run: node --import tsx bench/bus.ts [--short | messages]
// A benchmark never fails: it prints a table and exits 0. `measureBus` is also run by
// bench/transport.ts, so one run prints every figure.
import { pathToFileURL } from 'node:url';
import { createActor } from 'xstate';
import { Bus } from '../bus/index.ts';
import { echoMachine } from '../test/bus/fixtures/machine.ts';
import '../test/bus/fixtures/messages.ts';

const BATCH = 256;
/** Messages per row of a full run and of a short one (CI smoke). */
export const BUS_MESSAGES = { full: 200_000, short: 10_000 } as const;

export interface BusRow {
  name: string;
  messages: number;
  ms: number;
}

const discardPort = { reply() {}, fail() {}, settled: false };

function bareSend(n: number): BusRow {
  const actor = createActor(echoMachine).start();
  const meta = { correlationId: 'x', deadline: 0 };
  const started = performance.now();
  for (let i = 0; i < n; i++) actor.send({ type: 'bustest.add', payload: { a: i, b: 1 }, meta, replyTo: discardPort });
  const ms = performance.now() - started;
  actor.stop();
  return { name: 'xstate actor.send (no bus, no reply awaited)', messages: n, ms };
}

async function busSequential(n: number): Promise<BusRow> {
  const bus = new Bus();
  const actor = createActor(echoMachine).start();
  bus.register('echo', actor);
  const started = performance.now();
  for (let i = 0; i < n; i++) await bus.request('echo', 'bustest.add', { a: i, b: 1 });
  const ms = performance.now() - started;
  actor.stop();
  bus.close();
  return { name: 'bus.request, one at a time (await each)', messages: n, ms };
}

async function busPipelined(n: number): Promise<BusRow> {
  const bus = new Bus();
  const actor = createActor(echoMachine).start();
  bus.register('echo', actor);
  const started = performance.now();
  for (let i = 0; i < n; i += BATCH) {
    const batch: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(n, i + BATCH); j++) batch.push(bus.request('echo', 'bustest.add', { a: j, b: 1 }));
    await Promise.all(batch);
  }
  const ms = performance.now() - started;
  actor.stop();
  bus.close();
  return { name: `bus.request, ${BATCH} in flight`, messages: n, ms };
}

function busSend(n: number): BusRow {
  const bus = new Bus();
  const actor = createActor(echoMachine).start();
  bus.register('echo', actor);
  const started = performance.now();
  for (let i = 0; i < n; i++) bus.send('echo', 'bustest.add', { a: i, b: 1 });
  const ms = performance.now() - started;
  actor.stop();
  bus.close();
  return { name: 'bus.send (fire-and-forget)', messages: n, ms };
}

async function handlerPipelined(n: number): Promise<BusRow> {
  const bus = new Bus();
  bus.registerHandler('math', { 'bustest.add': ({ a, b }) => ({ sum: a + b }) });
  const started = performance.now();
  for (let i = 0; i < n; i += BATCH) {
    const batch: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(n, i + BATCH); j++) batch.push(bus.request('math', 'bustest.add', { a: j, b: 1 }));
    await Promise.all(batch);
  }
  const ms = performance.now() - started;
  bus.close();
  return { name: `bus.request to an async handler, ${BATCH} in flight`, messages: n, ms };
}

/**
 * Bus request/reply (and send) rates next to a bare xstate `actor.send`, `n` messages per row
 * (sequential requests: at most 100,000), after a warm-up. The first row is the bare baseline.
 */
export async function measureBus(n: number): Promise<BusRow[]> {
  // Warm-up so the JIT has seen every path before timing.
  const warm = Math.min(n, 20_000);
  bareSend(warm);
  await busSequential(Math.min(n, 5_000));
  await busPipelined(warm);
  busSend(warm);
  await handlerPipelined(warm);
  return [bareSend(n), busSend(n), await busSequential(Math.min(n, 100_000)), await busPipelined(n), await handlerPipelined(n)];
}

/** Messages per second of a row. */
export function busRate(row: BusRow): number {
  return row.messages / (row.ms / 1000);
}

async function main(): Promise<void> {
  // --short: a quick run (CI smoke); a number: messages per row.
  const n = process.argv.includes('--short') ? BUS_MESSAGES.short : Number(process.argv.find((a) => /^\d+$/.test(a)) ?? BUS_MESSAGES.full);
  const rows = await measureBus(n);
  const base = busRate(rows[0]!);
  const width = Math.max(...rows.map((r) => r.name.length));
  console.log(`node ${process.version}, ${n} messages per row (sequential: ${Math.min(n, 100_000)})\n`);
  console.log(`${'case'.padEnd(width)}  ${'msgs/s'.padStart(12)}  ${'µs/msg'.padStart(8)}  ${'vs bare'.padStart(8)}`);
  for (const r of rows) {
    const rate = busRate(r);
    console.log(
      `${r.name.padEnd(width)}  ${Math.round(rate).toLocaleString('en-US').padStart(12)}  ${((r.ms * 1000) / r.messages).toFixed(2).padStart(8)}  ${(rate / base).toFixed(2).padStart(7)}x`,
    );
  }
}

// Standalone only: bench/transport.ts imports this module for `measureBus`.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.log(`benchmark could not run: ${err instanceof Error ? err.message : String(err)}`);
  });
}
