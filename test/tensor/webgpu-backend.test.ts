// WebGPU backend behaviour: batching into one submit per flush, pipeline cache, buffer pool reuse,
// explicit free, f16 where the adapter has shader-f16, gradients equal to the JS backend's, and the
// device destroyed on shutdown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createEngine, MLP, mseLoss, type Engine } from '../../actors/tensor/index.ts';
import type { WebGpuBackend } from '../../actors/tensor/backend/webgpu.ts';
import { assertClose, gpuEngineOrSkip } from './helpers.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function gpuOf(engine: Engine): WebGpuBackend {
  return engine.backend as WebGpuBackend;
}

test('many ops are batched into one submit; pipelines are cached per kernel', async (t) => {
  const engine = await gpuEngineOrSkip(t);
  if (!engine) return;
  try {
    const gpu = gpuOf(engine);
    const x = engine.rand([64, 64]);
    await x.toArray();
    const before = { ...gpu.stats };
    const y = engine.tidy(() => {
      let h = x;
      for (let i = 0; i < 50; i++) h = h.mul(1.01).add(0.001);
      return h;
    });
    assert.equal(gpu.stats.flushes, before.flushes, 'nothing submitted before a read');
    await y.toArray();
    assert.equal(gpu.stats.flushes - before.flushes, 1, 'one submit for 100 kernels and the read');
    assert.equal(gpu.stats.dispatches - before.dispatches, 100);
    const pipelines = gpu.stats.pipelines;
    const z = x.mul(2).add(3);
    await z.toArray();
    assert.equal(gpu.stats.pipelines, pipelines, 'same kernels: no new pipelines');
    [x, y, z].forEach((v) => v.free());
  } finally {
    engine.destroy();
  }
});

test('freed buffers return to the size-bucketed pool and are reused', async (t) => {
  const engine = await gpuEngineOrSkip(t);
  if (!engine) return;
  try {
    const pool = gpuOf(engine).pool;
    const a = engine.zeros([1000]);
    await a.toArray();
    a.free();
    assert.equal(engine.liveStorages, 0);
    const created = pool.created;
    const b = engine.ones([900]); // same 4 KiB bucket
    assert.equal(pool.created, created, 'no new buffer for a request in a pooled bucket');
    assert.ok(pool.reused > 0);
    assert.deepEqual(Array.from(await b.toArray()).slice(0, 3), [1, 1, 1]);
    b.free();
    // A buffer freed while commands that read it are still unsubmitted is not handed out again.
    const c = engine.full([256], 5);
    const d = c.add(1);
    c.free();
    const e = engine.full([256], 7); // must not overwrite c's data before d is computed
    assert.deepEqual(Array.from(await d.toArray()).slice(0, 2), [6, 6]);
    assert.deepEqual(Array.from(await e.toArray()).slice(0, 2), [7, 7]);
    [d, e].forEach((v) => v.free());
    assert.equal(engine.liveStorages, 0);
  } finally {
    engine.destroy();
  }
});

test('f16 tensors compute where the adapter has shader-f16, else fail clearly', async (t) => {
  const engine = await gpuEngineOrSkip(t);
  if (!engine) return;
  try {
    if (!engine.backend.supports('f16')) {
      assert.throws(() => engine.tensor([1, 2], { dtype: 'f16' }), /f16 is not supported/);
      return;
    }
    const a = engine.tensor([0.5, 1.5, -2, 3.25, 5, 0.1], { shape: [2, 3], dtype: 'f16' });
    const b = a.mul(2).exp2().sum(1);
    const js = await createEngine({ backend: 'js' });
    const ref = js.tensor([0.5, 1.5, -2, 3.25, 5, 0.1], { shape: [2, 3], dtype: 'f16' }).mul(2).exp2().sum(1);
    assert.equal(b.dtype, 'f16');
    assertClose(await b.toArray(), await ref.toArray(), 2e-3, 'f16 mul/exp2/sum');
    const m = engine.randn([17, 9]).to('f16').matmul(engine.randn([9, 5]).to('f16'));
    assert.deepEqual(m.shape, [17, 5]);
    assert.ok((await m.toArray()).every(Number.isFinite));
  } finally {
    engine.destroy();
  }
});

test('an MLP step gives the same loss and gradients on WebGPU as on JS', async (t) => {
  const gpu = await gpuEngineOrSkip(t);
  if (!gpu) return;
  try {
    const js = await createEngine({ backend: 'js' });
    const results: { loss: number; grads: ArrayLike<number>[] }[] = [];
    for (const engine of [js, gpu]) {
      engine.manualSeed(7);
      const model = new MLP(engine, [5, 16, 3], 'tanh');
      const x = engine.randn([33, 5]);
      const y = engine.randn([33, 3]);
      const loss = engine.tidy(() => {
        const l = mseLoss(model.forward(x), y);
        l.backward();
        return l;
      });
      results.push({ loss: await loss.item(), grads: await Promise.all(model.parameters().map((p) => p.grad!.toArray())) });
    }
    assert.ok(Math.abs(results[0]!.loss - results[1]!.loss) < 1e-5);
    results[0]!.grads.forEach((g, i) => assertClose(results[1]!.grads[i]!, g, 1e-4, `grad of parameter ${i}`));
  } finally {
    gpu.destroy();
  }
});

test('a process using the GPU exits once the engine is destroyed', async (t) => {
  const engine = await gpuEngineOrSkip(t);
  if (!engine) return;
  engine.destroy();
  const script = `
    import { createEngine } from './actors/tensor/index.ts';
    const e = await createEngine({ backend: 'webgpu' });
    const v = await e.rand([8, 8]).matmul(e.rand([8, 8])).sum().item();
    e.destroy();
    console.log('done', Number.isFinite(v));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, timeout: 60_000, encoding: 'utf8' });
  assert.equal(r.signal, null, `the child was killed (${r.signal}): it did not exit on its own`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /done true/);
});
