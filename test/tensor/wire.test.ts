// Tensor values on the wire: the JSON list form keeps NaN and ±Infinity as strings (JSON has none),
// the binary form keeps the IEEE bits, and i32 "division" is true division in f32 on both backends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeTensorValue, encodeTensorValue, WireError } from '../../actors/tensor/wire.ts';
import { createEngine } from '../../actors/tensor/index.ts';
import { gpuEngineOrSkip } from './helpers.ts';

test('non-finite floats round-trip through JSON text as "NaN", "Infinity", "-Infinity"', () => {
  const values = new Float32Array([NaN, Infinity, -Infinity, -0.5, 3]);
  const json = JSON.parse(JSON.stringify(encodeTensorValue([5], 'f32', values, false)));
  assert.deepEqual(json.data, ['NaN', 'Infinity', '-Infinity', -0.5, 3]);
  const back = decodeTensorValue(json, 100);
  assert.deepEqual(Array.from(back.data), [NaN, Infinity, -Infinity, -0.5, 3]);
  for (const dtype of ['f32', 'f16'] as const) {
    const bin = encodeTensorValue([3], dtype, new Float32Array([NaN, -Infinity, 1]), true);
    assert.ok(bin.data instanceof Uint8Array);
    assert.deepEqual(Array.from(decodeTensorValue(bin, 100).data), [NaN, -Infinity, 1], `${dtype} binary keeps the bits`);
  }
});

test('the strings are refused where they mean nothing', () => {
  assert.throws(() => decodeTensorValue({ shape: [1], dtype: 'i32', data: ['Infinity'] }, 10), WireError);
  assert.throws(() => decodeTensorValue({ shape: [1], dtype: 'f32', data: ['inf' as 'Infinity'] }, 10), /not a number/);
  assert.throws(() => decodeTensorValue({ shape: [2], dtype: 'i32', data: [1.5, 2] }, 10), /integers/);
  assert.deepEqual(encodeTensorValue([2], 'i32', new Int32Array([7, -1]), false).data, [7, -1]);
});

test('i32 div is true division: x/0 = ±Infinity, 0/0 = NaN, on the JS and the WebGPU backend', async (t) => {
  const engines = [await createEngine({ backend: 'js' })];
  const gpu = await gpuEngineOrSkip(t);
  if (gpu) engines.push(gpu);
  for (const engine of engines) {
    try {
      const q = engine.tensor([1, 0, -1, 7], { dtype: 'i32' }).div(engine.tensor([0, 0, 0, 2], { dtype: 'i32' }));
      assert.equal(q.dtype, 'f32', `${engine.backend.name}: the quotient is f32`);
      assert.deepEqual(Array.from(await q.toArray()), [Infinity, NaN, -Infinity, 3.5], engine.backend.name);
    } finally {
      engine.destroy();
    }
  }
});

test('binary data at any offset of a larger buffer decodes to the same values (f32, i32, f16)', () => {
  const f32 = new Uint8Array(new Float32Array([1.5, -2, NaN]).buffer);
  const i32 = new Uint8Array(new Int32Array([7, -8, 2 ** 31 - 1]).buffer);
  for (const [dtype, bytes, want] of [['f32', f32, [1.5, -2, NaN]], ['i32', i32, [7, -8, 2 ** 31 - 1]]] as const) {
    const big = new Uint8Array(bytes.length + 3);
    big.set(bytes, 1); // offset 1: not aligned for a 4-byte view
    const decoded = decodeTensorValue({ shape: [3], dtype, data: big.subarray(1, 1 + bytes.length) }, 10);
    assert.deepEqual(Array.from(decoded.data), want, dtype);
    assert.deepEqual(Array.from(encodeTensorValue([3], dtype, decoded.data, true).data as Uint8Array), Array.from(bytes), `${dtype} encodes back`);
  }
  const half = encodeTensorValue([2], 'f16', new Float32Array([0.5, -3]), true);
  assert.equal((half.data as Uint8Array).length, 4);
  assert.deepEqual(Array.from(decodeTensorValue(half, 10).data), [0.5, -3]);
});
