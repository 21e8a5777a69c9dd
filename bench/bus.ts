// Bus request/reply throughput next to a bare xstate `actor.send` to the same machine, measured in
// the same run. Run: node --import tsx bench/bus.ts [messages]
// A benchmark never fails: it prints a table and exits 0.
import { createActor } from 'xstate';
import { Bus } from '../bus/index.ts';
import { echoMachine } from '../test/bus/fixtures/machine.ts';
import '../test/bus/fixtures/messages.ts';

// --short: a quick run (CI smoke); a number: messages per row.
const N = process.argv.includes('--short') ? 10_000 : Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 200_000);
const BATCH = 256;

interface Row {
  name: string;
  messages: number;
  ms: number;
}

const discardPort = { reply() {}, fail() {}, settled: false };

function bareSend(n: number): Row {
  const actor = createActor(echoMachine).start();
  const meta = { correlationId: 'x', deadline: 0 };
  const started = performance.now();
  for (let i = 0; i < n; i++) actor.send({ type: 'bustest.add', payload: { a: i, b: 1 }, meta, replyTo: discardPort });
  const ms = performance.now() - started;
  actor.stop();
  return { name: 'xstate actor.send (no bus, no reply awaited)', messages: n, ms };
}

async function busSequential(n: number): Promise<Row> {
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

async function busPipelined(n: number): Promise<Row> {
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

function busSend(n: number): Row {
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

async function handlerPipelined(n: number): Promise<Row> {
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

async function main(): Promise<void> {
  // Warm-up so the JIT has seen every path before timing.
  bareSend(20_000);
  await busSequential(5_000);
  await busPipelined(20_000);
  busSend(20_000);
  await handlerPipelined(20_000);

  const rows = [bareSend(N), busSend(N), await busSequential(Math.min(N, 100_000)), await busPipelined(N), await handlerPipelined(N)];
  const base = rows[0]!.messages / (rows[0]!.ms / 1000);
  const width = Math.max(...rows.map((r) => r.name.length));
  console.log(`node ${process.version}, ${N} messages per row (sequential: ${Math.min(N, 100_000)})\n`);
  console.log(`${'case'.padEnd(width)}  ${'msgs/s'.padStart(12)}  ${'µs/msg'.padStart(8)}  ${'vs bare'.padStart(8)}`);
  for (const r of rows) {
    const rate = r.messages / (r.ms / 1000);
    console.log(
      `${r.name.padEnd(width)}  ${Math.round(rate).toLocaleString('en-US').padStart(12)}  ${((r.ms * 1000) / r.messages).toFixed(2).padStart(8)}  ${(rate / base).toFixed(2).padStart(7)}x`,
    );
  }
}

main().catch((err: unknown) => {
  console.log(`benchmark could not run: ${err instanceof Error ? err.message : String(err)}`);
});
