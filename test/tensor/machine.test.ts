// The tensor actor: starts its engine, serves it while ready, fails on device loss (so a supervisor
// restarts it), and destroys the engine when stopped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, waitFor } from 'xstate';
import { tensorMachine, engineOf } from '../../actors/tensor/machine.ts';
import { gpuEngineOrSkip } from './helpers.ts';
import type { WebGpuBackend } from '../../actors/tensor/backend/webgpu.ts';

test('tensor actor: starting → ready → stopped destroys the engine', async () => {
  const gone: unknown[] = [];
  const actor = createActor(tensorMachine, { input: { backend: 'js', onEngineGone: (e) => gone.push(e) } });
  actor.start();
  const ready = await waitFor(actor, (s) => s.matches('ready'), { timeout: 10_000 });
  const engine = engineOf(ready);
  assert.ok(engine);
  assert.deepEqual(await engine.tensor([1, 2]).add(1).toList(), [2, 3]);
  actor.send({ type: 'STOP' });
  assert.equal(actor.getSnapshot().status, 'done');
  assert.ok(engine.isDestroyed, 'engine destroyed on stop');
  assert.deepEqual(gone, [engine]);
  assert.equal(engineOf(actor.getSnapshot()), null);
});

test('tensor actor fails when its GPU device is lost', async (t) => {
  const probe = await gpuEngineOrSkip(t);
  if (!probe) return;
  probe.destroy();
  const actor = createActor(tensorMachine, { input: { backend: 'webgpu' } });
  const failed = new Promise<unknown>((resolve) => actor.subscribe({ error: resolve }));
  actor.start();
  const ready = await waitFor(actor, (s) => s.matches('ready'), { timeout: 30_000 });
  const engine = engineOf(ready)!;
  // Simulate a lost device: destroy it behind the engine's back.
  (engine.backend as WebGpuBackend).device.destroy();
  const err = await failed;
  assert.match(String(err), /tensor device lost/);
  assert.equal(actor.getSnapshot().status, 'error');
  assert.ok(engine.isDestroyed, 'the failed actor released its engine');
});
