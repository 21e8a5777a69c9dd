// WebGPU against the JS oracle (and NumPy) on every fixture case, within each op's stated tolerance.
// On CI a missing adapter fails; elsewhere these tests skip with a message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEngine } from '../../actors/tensor/index.ts';
import { assertClose, gpuEngineOrSkip, loadFixture, runCase, tolerance } from './helpers.ts';

const FILES = ['unary.json', 'binary.json', 'reduce.json', 'matmul.json', 'composite.json'];

for (const file of FILES) {
  test(`WebGPU agrees with JS and NumPy: ${file}`, async (t) => {
    const gpu = await gpuEngineOrSkip(t);
    if (!gpu) return;
    const js = await createEngine({ backend: 'js' });
    try {
      const fixture = loadFixture(file);
      // Record every case before reading any: many kernels batched per flush, as in real use.
      const failures: string[] = [];
      const started = performance.now();
      const outs = fixture.cases.map((c) => gpu.tidy(() => runCase(gpu, fixture, c)));
      for (const [i, c] of fixture.cases.entries()) {
        const what = `${c.op} ${c.layout} ${JSON.stringify(c.attrs ?? {})} ${c.args.map((a) => fixture.inputs[a.input]!.shape.join('x')).join(',')}`;
        const out = outs[i]!;
        const ref = js.tidy(() => runCase(js, fixture, c));
        assert.deepEqual(out.shape, ref.shape, `${what}: shape`);
        assert.equal(out.dtype, ref.dtype, `${what}: dtype`);
        const got = await out.toArray();
        try {
          assertClose(got, await ref.toArray(), tolerance(c.op), `${what} (WebGPU vs JS)`);
          assertClose(got, c.expected.data, tolerance(c.op), `${what} (WebGPU vs NumPy)`);
        } catch (err) {
          failures.push((err as Error).message);
        }
        out.free();
        ref.free();
      }
      t.diagnostic(`${fixture.cases.length} cases in ${Math.round(performance.now() - started)} ms`);
      assert.deepEqual(failures, []);
      assert.equal(gpu.liveStorages, 0, 'every GPU storage is back in the pool');
    } finally {
      gpu.destroy();
    }
  });
}
