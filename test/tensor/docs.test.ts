// docs/tensor.md lists the graph ops of tensor/run; this keeps that list and the code in step (a
// name documented but unknown to applyOp, like `T` once was, fails here, and so does the reverse).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { GRAPH_OPS, applyOp } from '../../actors/tensor/graph.ts';
import { createEngine } from '../../actors/tensor/index.ts';

const doc = readFileSync(fileURLToPath(new URL('../../docs/tensor.md', import.meta.url)), 'utf8');

function documentedOps(): string[] {
  const block = /<!-- graph-ops -->\s*```\n([\s\S]*?)```\s*<!-- \/graph-ops -->/.exec(doc);
  assert.ok(block, 'docs/tensor.md has the graph-ops block');
  return block[1]!.split(/\s+/).filter(Boolean);
}

test('the graph ops in docs/tensor.md are exactly GRAPH_OPS', () => {
  const documented = documentedOps();
  assert.equal(new Set(documented).size, documented.length, 'no op is listed twice');
  assert.deepEqual([...documented].sort(), [...GRAPH_OPS].sort());
});

test('every documented graph op is known to applyOp (none answers "unknown op")', async () => {
  const engine = await createEngine({ backend: 'js' });
  try {
    for (const op of documentedOps()) {
      engine.tidy(() => {
        const x = engine.ones([2, 2]);
        try {
          applyOp(engine, op, [x], {});
        } catch (err) {
          // Wrong arity or missing attrs are fine here; an unknown name is not.
          assert.doesNotMatch((err as Error).message, /unknown op/, `${op} is documented but unknown`);
        }
      });
    }
  } finally {
    engine.destroy();
  }
});
