// Gradients against central finite differences (JS backend), including broadcast operands, views,
// reductions, matmul with broadcast batch dims, softmax and layer norm.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEngine, Tensor, type Engine } from '../../actors/tensor/index.ts';
import { UNARY, BINARY } from '../../actors/tensor/ops/specs.ts';

interface InputSpec { shape: number[]; lo?: number; hi?: number; transposed?: boolean; distinct?: boolean }

function draw(engine: Engine, spec: InputSpec, seed: number): Promise<Float32Array> {
  if (spec.distinct) {
    // Values at least 0.1 apart (a shuffled ramp): central differences never flip a max/min.
    const n = spec.shape.reduce((p, d) => p * d, 1);
    return Promise.resolve(Float32Array.from({ length: n }, (_, i) => 0.5 + ((i * 7 + seed) % n) / 10));
  }
  engine.manualSeed(seed);
  const n = spec.shape.reduce((p, d) => p * d, 1);
  const lo = spec.lo ?? -1.5;
  const hi = spec.hi ?? 1.5;
  const r = engine.rand([n]);
  const data = new Float32Array(n);
  return r.toArray().then((v) => data.map((_, i) => lo + (hi - lo) * v[i]!));
}

function leaf(engine: Engine, spec: InputSpec, data: Float32Array, requiresGrad: boolean): Tensor {
  if (!spec.transposed) return engine.tensor(data, { shape: spec.shape, requiresGrad });
  // Store reversed, then view through a permute: the op sees a non-contiguous input.
  const rev = [...spec.shape].reverse();
  const base = engine.tensor(data, { shape: rev, requiresGrad });
  const view = base.permute(rev.map((_, i) => rev.length - 1 - i));
  (view as Tensor & { leafBase?: Tensor }).leafBase = base;
  return view;
}

/** Checks d(sum(f(x)·w))/dx against central differences for every input element. */
async function checkGrad(name: string, specs: InputSpec[], f: (...xs: Tensor[]) => Tensor, tol = 2e-2): Promise<void> {
  const engine = await createEngine({ backend: 'js' });
  const datas: Float32Array[] = [];
  for (const [i, s] of specs.entries()) datas.push(await draw(engine, s, 100 + i));
  const weightSeed = 999;
  const loss = (values: Float32Array[], withGrad: boolean): { value: Tensor; leaves: Tensor[] } => {
    const leaves: Tensor[] = [];
    const xs = specs.map((s, i) => {
      const t = leaf(engine, s, values[i]!, withGrad);
      leaves.push((t as Tensor & { leafBase?: Tensor }).leafBase ?? t);
      return t;
    });
    const y = f(...xs);
    engine.manualSeed(weightSeed);
    const w = engine.rand(y.shape).add(0.5);
    return { value: y.mul(w).sum(), leaves };
  };
  const { value, leaves } = loss(datas, true);
  value.backward();
  const h = 1e-2;
  for (const [i, s] of specs.entries()) {
    const grad = leaves[i]!.grad;
    assert.ok(grad, `${name}: input ${i} got a gradient`);
    const storedShape = s.transposed ? [...s.shape].reverse() : s.shape;
    assert.deepEqual(grad.shape, storedShape, `${name}: grad ${i} has the input's shape`);
    const analytic = await grad.toArray();
    for (let k = 0; k < datas[i]!.length; k++) {
      const plus = datas.map((d) => d.slice());
      const minus = datas.map((d) => d.slice());
      plus[i]![k]! += h;
      minus[i]![k]! -= h;
      const fp = await engine.tidy(() => loss(plus, false).value).item();
      const fm = await engine.tidy(() => loss(minus, false).value).item();
      const numeric = (fp - fm) / (2 * h);
      const a = analytic[k]!;
      assert.ok(Math.abs(a - numeric) <= tol * (1 + Math.abs(numeric)),
        `${name}: d/dx${i}[${k}] analytic ${a} vs numeric ${numeric}`);
    }
  }
}

test('unary ops: gradients match finite differences (transposed input)', async () => {
  for (const spec of UNARY) {
    if (!spec.backward) continue;
    const [lo, hi] = spec.domain ?? [-1.5, 1.5];
    // Keep away from kinks (relu/abs at 0) where central differences are meaningless.
    const safeLo = spec.name === 'relu' || spec.name === 'abs' || spec.name === 'elu' ? 0.2 : lo;
    await checkGrad(spec.name, [{ shape: [2, 3], lo: safeLo, hi, transposed: true }], (x) => x.unary(spec.name));
  }
});

test('binary ops: broadcast operands get gradients summed over the stretched dims', async () => {
  for (const spec of BINARY) {
    if (!spec.gradA) continue;
    const [la, ha] = spec.domainA ?? [-1.5, 1.5];
    const [lb, hb] = spec.domainB ?? (spec.name === 'fmod' ? [0.5, 3] : [-1.5, 1.5]);
    await checkGrad(spec.name, [{ shape: [2, 1, 3], lo: la, hi: ha }, { shape: [4, 1], lo: lb, hi: hb, transposed: true }],
      (a, b) => a.binary(spec.name, b));
  }
});

test('broadcast gradient is exact for a known case', async () => {
  const e = await createEngine({ backend: 'js' });
  const a = e.tensor([[1], [2], [3]], { requiresGrad: true }); // [3,1]
  const b = e.tensor([10, 20, 30, 40], { requiresGrad: true }); // [4]
  a.mul(b).sum().backward();
  assert.deepEqual(await a.grad!.toList(), [[100], [100], [100]]);
  assert.deepEqual(await b.grad!.toList(), [6, 6, 6, 6]);
  // 4-D broadcast: [2,1,3,1] + [4,1,1] → [2,4,3,1]
  const c = e.ones([2, 1, 3, 1], { requiresGrad: true });
  const d = e.ones([4, 1, 1], { requiresGrad: true });
  c.add(d).sum().backward();
  assert.deepEqual(c.grad!.shape, [2, 1, 3, 1]);
  assert.deepEqual(Array.from(await c.grad!.toArray()), new Array(6).fill(4));
  assert.deepEqual(Array.from(await d.grad!.toArray()), new Array(4).fill(6));
});

test('reductions, views, matmul, softmax, layer norm, cat, where: gradients', async () => {
  for (const name of ['sum', 'mean', 'max', 'min', 'prod']) {
    const distinct = name === 'max' || name === 'min';
    await checkGrad(`${name}(dim=1)`, [{ shape: [3, 4, 2], lo: 0.5, hi: 1.5, transposed: true, distinct }], (x) => x.reduce(name, 1));
    await checkGrad(`${name}(dims=[0,2], keepdim)`, [{ shape: [3, 4, 2], lo: 0.5, hi: 1.5, distinct }], (x) => x.reduce(name, [0, 2], true));
  }
  await checkGrad('var', [{ shape: [3, 5] }], (x) => x.var(1));
  await checkGrad('matmul batched broadcast', [{ shape: [2, 1, 3, 4] }, { shape: [3, 4, 2], transposed: true }], (a, b) => a.matmul(b));
  await checkGrad('matmul vector', [{ shape: [4] }, { shape: [4, 3] }], (a, b) => a.matmul(b));
  await checkGrad('softmax', [{ shape: [3, 4], transposed: true }], (x) => x.softmax(0));
  await checkGrad('logSoftmax', [{ shape: [3, 4] }], (x) => x.logSoftmax(-1));
  await checkGrad('layerNorm', [{ shape: [3, 4] }, { shape: [4] }, { shape: [4] }], (x, w, b) => x.layerNorm([4], w, b), 3e-2);
  await checkGrad('slice/permute/expand/reshape', [{ shape: [4, 3] }],
    (x) => x.slice(0, 1, 4, 2).permute([1, 0]).unsqueeze(0).expand([2, 3, 2]).reshape([3, 4]));
  await checkGrad('cat', [{ shape: [2, 3] }, { shape: [2, 2], transposed: true }], (a, b) => Tensor.cat([a, b], 1));
  await checkGrad('where', [{ shape: [2, 3] }, { shape: [3] }], (a, b) => Tensor.where(a.gt(0), a, b));
});
