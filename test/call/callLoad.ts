// Load scenario for concurrency.test.ts, run in its own `node --expose-gc` process: node:test's own
// bookkeeping keeps per-promise state alive, which would hide or fake a leak in the code under test.
// Prints one JSON line: counts of served and BUSY answers, other failures, and heap before/after.
import { Type } from '@sinclair/typebox';
import { CallClient } from '../../protocols/call/client.ts';
import { CallError } from '../../operations/errors.ts';
import { defineOperation, OperationCatalogue } from '../../operations/catalogue.ts';
import { createConnectionCallServer } from '../../protocols/call/server.ts';
import { callerWith, duplexPair, waitFor } from './helpers.ts';

const CALLS = Number(process.argv[2] ?? 10_000);
const LIMIT = Number(process.argv[3] ?? 1_000);

let release!: () => void;
let gate = new Promise<void>((resolve) => (release = resolve));
const registry = new OperationCatalogue();
registry.register(
  defineOperation({
    name: 'hold/echo',
    type: 'query',
    input: Type.Object({ n: Type.Integer() }),
    output: Type.Integer(),
    scopes: [],
    visibility: 'external',
    async handler({ n }) {
      await gate;
      return n;
    },
  }),
);
const connection = createConnectionCallServer({ registry, caller: () => callerWith(), maxConcurrentCalls: LIMIT });
let served: Promise<void>[] = [];
const client = new CallClient(async () => {
  const [a, b] = duplexPair();
  served.push(connection.serve(b));
  return a;
});

const gc = (globalThis as { gc?: () => void }).gc;
const heap = (): number | null => {
  if (!gc) return null;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

async function round(calls: number): Promise<{ ok: number; busy: number; other: string[] }> {
  const results = await Promise.allSettled(Array.from({ length: calls }, (_, n) => client.call<number>('/hold/echo', { n })));
  const tally = { ok: 0, busy: 0, other: [] as string[] };
  results.forEach((r, n) => {
    if (r.status === 'fulfilled' && r.value === n) tally.ok++;
    else if (r.status === 'rejected' && r.reason instanceof CallError && r.reason.code === 'BUSY' && r.reason.retryable) tally.busy++;
    else if (tally.other.length < 5) tally.other.push(r.status === 'fulfilled' ? `wrong value ${r.value}` : String(r.reason));
  });
  await Promise.all(served);
  served = [];
  return tally;
}

release();
await round(200); // warm-up: compile the code paths before the baseline
gate = new Promise<void>((resolve) => (release = resolve));
const heapBefore = heap();

const pending = round(CALLS);
await waitFor(() => connection.limiter.inFlight === LIMIT, 30_000);
const inFlightPeak = connection.limiter.inFlight;
release();
const load = await pending;
const inFlightAfter = connection.limiter.inFlight;
const afterwards = await round(50);
await new Promise((r) => setTimeout(r, 100));
const heapAfter = heap();

console.log(JSON.stringify({ calls: CALLS, limit: LIMIT, ...load, inFlightPeak, inFlightAfter, afterwardsOk: afterwards.ok, heapBefore, heapAfter }));
