// The tensor actor: starts its engine, serves tensor.* requests (queued while starting, bounded
// while ready), fails on device loss (so a supervisor restarts it), and destroys the engine when
// stopped. Requests are bus-shaped events with a reply port of the test's own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, waitFor } from 'xstate';
import { tensorMachine, engineOf } from '../../actors/tensor/machine.ts';
import { gpuEngineOrSkip } from './helpers.ts';
import type { WebGpuBackend } from '../../actors/tensor/backend/webgpu.ts';
import type { RunRecord } from '../../actors/tensor/service.ts';

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

interface Answer { ok: boolean; value?: unknown; code?: string; message?: string }

/** A bus-shaped request event with a reply port of our own; `gaveUp` makes the requester leave before it is served. */
function request(actor: { send(e: never): void }, type: string, payload: unknown, options: { gaveUp?: boolean } = {}): Promise<Answer> {
  return new Promise((resolve) => {
    let settled = options.gaveUp ?? false;
    const event = {
      type, payload, meta: { correlationId: `t-${type}`, deadline: Date.now() + 60_000 },
      replyTo: {
        get settled() { return settled; },
        reply(value: unknown) { settled = true; resolve({ ok: true, value }); },
        fail(code: string, message: string) { settled = true; resolve({ ok: false, code, message }); },
      },
    };
    actor.send(event as never);
    if (options.gaveUp) resolve({ ok: false, code: 'GAVE_UP' });
  });
}

test('requests sent while the engine starts wait and are served once ready; one whose requester left is not run', async () => {
  const runs: RunRecord[] = [];
  const actor = createActor(tensorMachine, { input: { backend: 'js', onRunEnd: (r) => void runs.push(r) } });
  actor.start();
  try {
    assert.ok(actor.getSnapshot().matches('starting'));
    const graph = { inputs: { x: { shape: [2], dtype: 'f32', data: [1, 2] } }, graph: [{ op: 'neg', args: ['x'], out: 'y' }], outputs: ['y'] };
    const left = request(actor, 'tensor.run', graph, { gaveUp: true });
    const served = request(actor, 'tensor.run', graph);
    assert.equal(actor.getSnapshot().context.pending.length, 2);
    assert.deepEqual(JSON.parse(JSON.stringify(actor.getSnapshot().context.pending)), [
      { type: 'tensor.run', correlationId: 't-tensor.run' }, { type: 'tensor.run', correlationId: 't-tensor.run' },
    ], 'a snapshot shows queued requests by type and id only');
    assert.deepEqual(await served, { ok: true, value: { outputs: { y: { shape: [2], dtype: 'f32', data: [-1, -2] } } } });
    assert.equal((await left).code, 'GAVE_UP');
    assert.deepEqual(runs.map((r) => r.outcome), ['ok'], 'only the request someone waited for ran');
    assert.equal(actor.getSnapshot().context.pending.length, 0);
  } finally {
    actor.stop();
  }
});

test('past maxInFlight the actor answers BUSY; unknown messages INVALID_INPUT; it validates direct requests', async () => {
  const actor = createActor(tensorMachine, { input: { backend: 'js', maxInFlight: 1 } });
  actor.start();
  try {
    await waitFor(actor, (s) => s.matches('ready'), { timeout: 10_000 });
    const size = 128;
    const m = { shape: [size, size], dtype: 'f32', data: new Array(size * size).fill(1) };
    const graph = Array.from({ length: 8 }, (_, i) => ({ op: 'matmul', args: [i === 0 ? 'm' : `y${i - 1}`, 'm'], out: `y${i}` }));
    const first = request(actor, 'tensor.run', { inputs: { m }, graph, outputs: [] });
    const second = await request(actor, 'tensor.info', {});
    assert.equal(second.code, 'BUSY');
    assert.equal((await first).ok, true);
    assert.equal((await request(actor, 'tensor.frobnicate', {})).code, 'INVALID_INPUT');
    assert.equal((await request(actor, 'vault.publicKey', { path: 'x' })).code, 'INVALID_INPUT');
    // Not from the catalogue or the remote bus: checked against the schema here.
    const bad = await request(actor, 'tensor.create', { shape: [2], dtype: 'f64', data: [1, 2] });
    assert.equal(bad.code, 'INVALID_INPUT');
    assert.match(bad.message!, /dtype/);
    // The count follows the answer (the serving actor reports back after replying).
    const { served, failed } = (await waitFor(actor, (s) => s.context.inFlight === 0, { timeout: 10_000 })).context;
    assert.deepEqual({ served, failed }, { served: 1, failed: 1 });
  } finally {
    actor.stop();
  }
});

test('stopping the actor stops the work in flight: its requester gets a retryable UNAVAILABLE', async () => {
  let ended!: (r: RunRecord) => void;
  const record = new Promise<RunRecord>((resolve) => (ended = resolve));
  const actor = createActor(tensorMachine, { input: { backend: 'js', onRunEnd: (r) => ended(r) } });
  actor.start();
  const ready = await waitFor(actor, (s) => s.matches('ready'), { timeout: 10_000 });
  const engine = engineOf(ready)!;
  const size = 160;
  const m = { shape: [size, size], dtype: 'f32', data: new Array(size * size).fill(0) };
  const graph = Array.from({ length: 256 }, (_, i) => ({ op: 'matmul', args: [i === 0 ? 'm' : `y${i - 1}`, 'm'], out: `y${i}` }));
  const answer = request(actor, 'tensor.run', { inputs: { m }, graph, outputs: ['y255'] });
  actor.send({ type: 'STOP' });
  const got = await answer;
  assert.equal(got.code, 'UNAVAILABLE');
  assert.match(got.message!, /retry/);
  assert.ok(engine.isDestroyed);
  // The run itself notices at its next check, and ends there.
  const run = await record;
  assert.deepEqual([run.outcome, run.reason], ['stopped', 'engine-stopped']);
  assert.ok(run.ops <= 1, `ran ${run.ops} ops after the stop`);
});

test('a tensor.free nobody waits for (sent one-way) is still done', async () => {
  const actor = createActor(tensorMachine, { input: { backend: 'js' } });
  actor.start();
  try {
    await waitFor(actor, (s) => s.matches('ready'), { timeout: 10_000 });
    const created = await request(actor, 'tensor.create', { shape: [2], dtype: 'f32', data: [1, 2] });
    const { handle } = created.value as { handle: string };
    assert.equal(actor.getSnapshot().context.service!.handles.size, 1);
    await request(actor, 'tensor.free', { handles: [handle] }, { gaveUp: true });
    await waitFor(actor, (s) => s.context.inFlight === 0, { timeout: 10_000 });
    assert.equal(actor.getSnapshot().context.service!.handles.size, 0);
    assert.equal(actor.getSnapshot().context.engine!.liveStorages, 0);
  } finally {
    actor.stop();
  }
});

test('requests leave nothing behind in the actor: its children do not grow with the requests served', async () => {
  const actor = createActor(tensorMachine, { input: { backend: 'js' } });
  actor.start();
  try {
    await waitFor(actor, (s) => s.matches('ready'), { timeout: 10_000 });
    const before = Object.keys(actor.getSnapshot().children).length;
    for (let i = 0; i < 100; i++) assert.equal((await request(actor, 'tensor.info', {})).ok, true);
    const after = await waitFor(actor, (s) => s.context.inFlight === 0, { timeout: 10_000 });
    // A spawned actor per request used to stay in `children` for the life of the node.
    assert.equal(Object.keys(after.children).length, before, `${Object.keys(after.children).length} children after 100 requests`);
    assert.equal(after.context.served, 100);
  } finally {
    actor.stop();
  }
});
