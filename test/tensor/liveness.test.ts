// liveness.ts: which tensor of a graph is freed after which step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { liveness } from '../../actors/tensor/liveness.ts';

const step = (op: string, args: string[], out: string) => ({ op, args, out });

test('a chain frees each intermediate after its one reader; returned tensors are never freed early', () => {
  const live = liveness(['x', 'w'], [step('matmul', ['x', 'w'], 'y0'), step('matmul', ['y0', 'w'], 'y1'), step('matmul', ['y1', 'w'], 'y2')], ['y2']);
  assert.deepEqual([...live.inputs], [['x', 0], ['w', 1]]);
  assert.deepEqual(live.args, [[0, 1], [2, 1], [3, 1]]);
  assert.deepEqual(live.outs, [2, 3, 4]);
  // x after step 0, y0 after step 1, w and y1 after step 2; y2 is returned.
  assert.deepEqual(live.freeAfter.map((s) => [...s].sort()), [[0], [2], [1, 3]]);
  assert.deepEqual([...live.finals], [['y2', 4]]);
});

test('a reused name is a new tensor; an output nobody reads goes at once; unknown names are refused', () => {
  const live = liveness(['x'], [step('neg', ['x'], 'x'), step('exp', ['x'], 'unused'), step('abs', ['x'], 'x')], ['x']);
  assert.deepEqual(live.args, [[0], [1], [1]]);
  assert.deepEqual(live.freeAfter.map((s) => [...s].sort()), [[0], [2], [1]], 'the first x after step 0, "unused" after step 1');
  assert.equal(live.finals.get('x'), 3);
  assert.throws(() => liveness(['x'], [step('neg', ['y'], 'z')], []), /graph step 0 \(neg\): no tensor named "y"/);
  assert.throws(() => liveness(['x'], [], ['nope']), /no tensor named "nope" to return/);
});
