// Issue #10, at the actor level: the tensor actor fails while a tensor/run is in flight. Its caller
// gets a retryable error, never a hang; the supervisor restarts the actor with a fresh engine; the
// next call succeeds; handles of the old engine are gone. A real bus, supervisor and catalogue
// (test/tensor/service-fixture.ts); the failure is the actor's own device-loss path, reached on the
// JS backend by the event its engine watcher sends, and on WebGPU by really destroying the device.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from 'xstate';
import { engineOf } from '../../actors/tensor/machine.ts';
import type { WebGpuBackend } from '../../actors/tensor/backend/webgpu.ts';
import { ALICE, engineState, matmulChain, startTensorService, withTensor, type TensorFixture } from './service-fixture.ts';
import { gpuEngineOrSkip } from './helpers.ts';

type Coded = Error & { code?: string; retryable?: boolean };

/** Starts a long run, waits until the actor holds it, fails the actor with `crash`, and checks what follows. */
async function crashDuringRun(fixture: TensorFixture, run: object, crash: (f: TensorFixture) => void): Promise<void> {
  const before = fixture.actor();
  const engine = engineOf(before.getSnapshot())!;
  const kept = (await fixture.catalogue.invoke('tensor/create', { shape: [2], dtype: 'f32', data: [1, 2] }, withTensor(ALICE))) as { handle: string };
  const pending = fixture.catalogue.invoke('tensor/run', run, withTensor(ALICE), { deadlineMs: 120_000 });
  pending.catch(() => {});
  await waitFor(before, (s) => s.context.inFlight === 1, { timeout: 10_000 });

  crash(fixture);

  const err = await pending.then(() => null, (e: Coded) => e);
  assert.equal(err?.code, 'UNAVAILABLE', `the caller gets UNAVAILABLE, not a hang (${err?.message})`);
  assert.equal(err?.retryable, true, 'and may retry');
  assert.equal(before.getSnapshot().status, 'error', 'the old actor failed');
  assert.ok(engine.isDestroyed, 'its engine was released');
  // The orphaned run notices at its next check (xstate does not stop a failed actor's children).
  const record = await fixture.run(0);
  assert.deepEqual([record.outcome, record.reason], ['stopped', 'engine-stopped']);
  assert.ok(record.ops < record.of, `the run stopped after ${record.ops} of ${record.of} ops`);

  const after = await fixture.ready();
  assert.notEqual(after, before, 'the supervisor started a new tensor actor');
  const next = (await fixture.catalogue.invoke('tensor/run', matmulChain(1, 2), withTensor(ALICE), { deadlineMs: 60_000 })) as { outputs: Record<string, { data: number[] }> };
  assert.deepEqual(next.outputs.y0!.data, [1, 0, 0, 1]);
  await assert.rejects(fixture.catalogue.invoke('tensor/read', { handle: kept.handle }, withTensor(ALICE)), (e: Coded) => e.code === 'NOT_FOUND',
    'a handle of the old engine is gone');
  assert.deepEqual(engineState(after), { handles: 0, liveStorages: 0 });
}

test('JS backend: the tensor actor fails mid-run; the caller gets a retryable UNAVAILABLE; after the restart calls succeed', async () => {
  const fixture = await startTensorService({ backend: 'js' });
  try {
    await crashDuringRun(fixture, matmulChain(256, 160), (f) => f.actor().send({ type: 'DEVICE_LOST', reason: 'test: device gone' }));
  } finally {
    await fixture.stop();
  }
});

test('WebGPU: the device is destroyed mid-run; the caller gets a retryable UNAVAILABLE; after the restart calls succeed', async (t) => {
  const probe = await gpuEngineOrSkip(t);
  if (!probe) return;
  probe.destroy();
  // No budget: the graph must still be running when the device goes, on any GPU (256 matmuls of
  // 2048³). The service waits for the device between them (syncCost), which is where the loss is seen.
  const fixture = await startTensorService({ backend: 'webgpu', limits: { maxCost: Infinity } });
  try {
    await crashDuringRun(fixture, matmulChain(256, 2048), (f) => {
      const engine = engineOf(f.actor().getSnapshot())!;
      (engine.backend as WebGpuBackend).device.destroy();
    });
  } finally {
    await fixture.stop();
  }
});
