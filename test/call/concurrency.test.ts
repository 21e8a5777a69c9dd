// 10,000 concurrent calls over one connection whose in-flight limit is 1,000: every call is answered
// (served or BUSY), and memory returns to its level afterwards. Streams are in-memory pairs standing
// for the streams of one QUIC connection (one TCP socket per call would test the OS, not the limit).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Type } from '@sinclair/typebox';
import { CallClient } from '../../protocols/call/client.ts';
import { CallError } from '../../protocols/call/errors.ts';
import { defineOperation, OperationRegistry } from '../../protocols/call/registry.ts';
import { createConnectionCallServer } from '../../protocols/call/server.ts';
import { callerWith, duplexPair, waitFor } from './helpers.ts';

const CALLS = 10_000;
const LIMIT = 1_000;

test(`${CALLS} concurrent calls against a limit of ${LIMIT}: served or BUSY, memory back afterwards`, async () => {
  let release!: () => void;
  let gate = new Promise<void>((resolve) => (release = resolve));
  const registry = new OperationRegistry();
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
  const served: Promise<void>[] = [];
  const client = new CallClient(async () => {
    const [a, b] = duplexPair();
    served.push(connection.serve(b));
    return a;
  });

  const round = async (calls: number) => {
    const results = await Promise.allSettled(Array.from({ length: calls }, (_, n) => client.call<number>('/hold/echo', { n })));
    return results;
  };

  const gc = (globalThis as { gc?: () => void }).gc;
  const heap = () => {
    gc!();
    gc!();
    return process.memoryUsage().heapUsed;
  };

  // Warm-up so code paths are compiled before the baseline.
  release();
  await round(200);
  gate = new Promise<void>((resolve) => (release = resolve));
  served.length = 0;
  const baseline = gc ? heap() : 0;

  const pending = round(CALLS);
  await waitFor(() => connection.limiter.inFlight === LIMIT, 20_000);
  release();
  const results = await pending;
  let ok = 0;
  let busy = 0;
  results.forEach((r, n) => {
    if (r.status === 'fulfilled') {
      assert.equal(r.value, n);
      ok++;
    } else {
      assert.ok(r.reason instanceof CallError && r.reason.code === 'BUSY', String(r.reason));
      assert.equal(r.reason.retryable, true);
      busy++;
    }
  });
  assert.equal(ok + busy, CALLS);
  assert.equal(ok, LIMIT, 'exactly the limit was served while the handlers were held');
  await Promise.all(served);
  assert.equal(connection.limiter.inFlight, 0);
  // After the load, the connection serves normally again.
  const after = await round(50);
  assert.ok(after.every((r) => r.status === 'fulfilled'));
  await Promise.all(served);

  if (!gc) {
    test.skip?.('memory check needs node --expose-gc');
    console.log('# memory check skipped: run node with --expose-gc');
    return;
  }
  served.length = 0;
  results.length = 0;
  after.length = 0;
  const end = heap();
  const grown = end - baseline;
  console.log(`# heap baseline ${(baseline / 2 ** 20).toFixed(1)} MiB, after ${(end / 2 ** 20).toFixed(1)} MiB`);
  assert.ok(grown < 8 * 2 ** 20, `heap grew by ${(grown / 2 ** 20).toFixed(1)} MiB after ${CALLS} calls`);
});
