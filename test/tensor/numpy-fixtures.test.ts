// The JS backend (the oracle) against NumPy on every fixture case: contiguous, transposed, sliced
// and broadcast inputs of ranks 0–4, reductions over each dim, odd matmul sizes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEngine } from '../../actors/tensor/index.ts';
import { assertClose, loadFixture, runCase, tolerance } from './helpers.ts';

const FILES = ['unary.json', 'binary.json', 'reduce.json', 'matmul.json', 'composite.json'];

for (const file of FILES) {
  test(`JS backend matches NumPy: ${file}`, async () => {
    const engine = await createEngine({ backend: 'js' });
    const fixture = loadFixture(file);
    assert.ok(fixture.cases.length > 10);
    for (const c of fixture.cases) {
      const what = `${c.op} ${c.layout} ${JSON.stringify(c.attrs ?? {})} ${c.args.map((a) => fixture.inputs[a.input]!.shape.join('x')).join(',')}`;
      const out = engine.tidy(() => runCase(engine, fixture, c));
      assert.deepEqual(out.shape, c.expected.shape, `${what}: shape`);
      assert.equal(out.dtype, c.expected.dtype, `${what}: dtype`);
      assertClose(await out.toArray(), c.expected.data, tolerance(c.op), what);
      out.free();
    }
    assert.equal(engine.liveStorages, 0, 'every storage is freed');
  });
}
