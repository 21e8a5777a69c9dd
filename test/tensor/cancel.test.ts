// Tensor work that a deadline or a requester giving up really stops (issue #16 item 7): on the JS
// backend, through the operation catalogue and the bus to the tensor actor under its supervisor.
// Nothing here measures time: the tests assert how far a run got (its RunRecord, the service's op
// counter) relative to the moment its caller was answered, and that the next request is served.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from 'xstate';
import { ALICE, engineState, matmulChain, startTensorService, withTensor } from './service-fixture.ts';
import { gpuEngineOrSkip } from './helpers.ts';

type Coded = Error & { code?: string; retryable?: boolean };

const opsRun = (fixture: Awaited<ReturnType<typeof startTensorService>>): number => fixture.actor().getSnapshot().context.service!.opsRun;

test('a long graph is stopped by its deadline between kernels, and the next request is served', async () => {
  const fixture = await startTensorService();
  try {
    // 256 matmuls of 160³ multiply-adds: seconds of JS work, far more than its 150 ms deadline.
    const long = matmulChain(256, 160);
    const err = await fixture.catalogue.invoke('tensor/run', long, withTensor(ALICE), { deadlineMs: 150 }).then(() => null, (e: Coded) => e);
    const atAnswer = opsRun(fixture);
    assert.equal(err?.code, 'TIMEOUT', `the caller is answered TIMEOUT (${err?.message})`);
    const record = await fixture.run(0);
    assert.equal(record.outcome, 'stopped');
    assert.equal(record.reason, 'deadline');
    assert.equal(record.of, 256);
    assert.ok(record.ops < 256, `stopped after ${record.ops} of 256 ops`);
    // Once the caller has its TIMEOUT, at most the kernel that was running may still finish.
    assert.ok(opsRun(fixture) - atAnswer <= 1, `ops after the answer: ${opsRun(fixture) - atAnswer}`);
    const next = await fixture.catalogue.invoke('tensor/run', matmulChain(2, 4), withTensor(ALICE), { deadlineMs: 30_000 }) as { outputs: Record<string, { data: number[] }> };
    assert.deepEqual(next.outputs.y1!.data, [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
    assert.deepEqual(fixture.runs.map((r) => r.outcome), ['stopped', 'ok'], 'the stopped run ended before the next one did');
    assert.equal(engineState(fixture.actor()).liveStorages, 0, 'the stopped run freed its intermediates');
  } finally {
    await fixture.stop();
  }
});

test('one long JS kernel is stopped inside by its deadline (the matmul checks the clock)', async () => {
  const fixture = await startTensorService();
  try {
    // One 1024³ matmul: about 10⁹ multiply-adds, under the default budget, seconds in JS.
    const size = 1024;
    const data = new Array<number>(size * size).fill(0.001);
    const input = {
      inputs: { a: { shape: [size, size], dtype: 'f32', data }, b: { shape: [size, size], dtype: 'f32', data } },
      graph: [{ op: 'matmul', args: ['a', 'b'], out: 'c' }],
      outputs: ['c'],
    };
    await assert.rejects(fixture.catalogue.invoke('tensor/run', input, withTensor(ALICE), { deadlineMs: 100 }), (err: Coded) => err.code === 'TIMEOUT');
    const record = await fixture.run(0);
    // Without the check inside the kernel the matmul would have finished: 1 of 1 ops.
    assert.deepEqual({ outcome: record.outcome, reason: record.reason, ops: record.ops, of: record.of }, { outcome: 'stopped', reason: 'deadline', ops: 0, of: 1 });
    assert.equal(record.cost, size ** 3);
    assert.equal(engineState(fixture.actor()).liveStorages, 0, 'the half-computed output was freed');
    const info = await fixture.catalogue.invoke('tensor/info', {}, withTensor(ALICE));
    assert.equal((info as { backend: string }).backend, 'js');
  } finally {
    await fixture.stop();
  }
});

test('a requester that gives up (abort) stops its run; it is answered UNAVAILABLE, not retryable', async () => {
  const fixture = await startTensorService();
  try {
    const controller = new AbortController();
    const pending = fixture.catalogue.invoke('tensor/run', matmulChain(256, 160), withTensor(ALICE), { signal: controller.signal, deadlineMs: 60_000 });
    controller.abort();
    await assert.rejects(pending, (err: Coded) => err.code === 'UNAVAILABLE' && err.retryable === false);
    const atAnswer = opsRun(fixture);
    const record = await fixture.run(0);
    assert.equal(record.outcome, 'stopped');
    assert.equal(record.reason, 'abandoned');
    assert.ok(record.ops <= 1, `stopped after ${record.ops} of 256 ops`);
    assert.ok(opsRun(fixture) - atAnswer <= 1);
    const counted = await waitFor(fixture.actor(), (s) => s.context.inFlight === 0, { timeout: 10_000 });
    assert.deepEqual([counted.context.served, counted.context.stopped], [0, 1], 'the actor counts it as stopped, not served');
  } finally {
    await fixture.stop();
  }
});

test('WebGPU: a long graph is stopped by its deadline where the run waits for the device', async (t) => {
  const probe = await gpuEngineOrSkip(t);
  if (!probe) return;
  probe.destroy();
  // No budget: the graph must be long on any GPU (256 matmuls of 2048³: minutes on lavapipe, seconds
  // on a data-centre GPU). Each is over syncCost, so the run waits for the device after each one
  // and checks there.
  const fixture = await startTensorService({ backend: 'webgpu', limits: { maxCost: Infinity } });
  try {
    const err = await fixture.catalogue.invoke('tensor/run', matmulChain(256, 2048), withTensor(ALICE), { deadlineMs: 200 }).then(() => null, (e: Coded) => e);
    assert.equal(err?.code, 'TIMEOUT');
    const record = await fixture.run(0);
    assert.deepEqual([record.outcome, record.reason], ['stopped', 'deadline']);
    assert.ok(record.ops < 256, `stopped after ${record.ops} of 256 ops`);
    const next = (await fixture.catalogue.invoke('tensor/run', matmulChain(1, 2), withTensor(ALICE), { deadlineMs: 60_000 })) as { outputs: Record<string, { data: number[] }> };
    assert.deepEqual(next.outputs.y0!.data, [1, 0, 0, 1]);
    assert.equal(engineState(fixture.actor()).liveStorages, 0);
  } finally {
    await fixture.stop();
  }
});
