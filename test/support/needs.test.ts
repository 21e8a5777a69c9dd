// The skip-or-fail policy for what suites need from outside the repository (tools.ts, vectors.ts):
// skipped with a how-to outside CI, failed under CI=true.
import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { needed, requireTool, skipUnlessTool } from './tools.ts';
import { requireVectors, vectorsPath } from './vectors.ts';

let savedCi: string | undefined;
beforeEach(() => {
  savedCi = process.env.CI;
});
afterEach(() => {
  if (savedCi === undefined) delete process.env.CI;
  else process.env.CI = savedCi;
});

const MISSING_TOOL = 'alknet-no-such-tool-x9';
const MISSING_VECTORS = 'alknet-no-such-vectors-x9.json';

test('present: no skip, the value is there, CI or not', () => {
  for (const ci of [undefined, 'true']) {
    if (ci === undefined) delete process.env.CI;
    else process.env.CI = ci;
    const sh = requireTool('sh', 'dash');
    assert.equal(sh.skip, false);
    assert.match(sh.value, /\/sh$/);
    assert.equal(skipUnlessTool('sh', 'dash'), false);
    assert.deepEqual(needed({ n: 1 }, 'unused'), { skip: false, value: { n: 1 } });
  }
});

test('missing outside CI: skipped with how to get it, and the value is never handed out', () => {
  delete process.env.CI;
  const tool = requireTool(MISSING_TOOL, 'some-package');
  assert.equal(tool.skip, `${MISSING_TOOL} not found: install it with "apt-get install -y some-package" (npm test does this as root)`);
  assert.throws(() => tool.value, /not found/);
  assert.equal(skipUnlessTool(MISSING_TOOL, 'some-package'), tool.skip);
  const vectors = requireVectors(MISSING_VECTORS);
  assert.equal(typeof vectors.skip, 'string');
  assert.ok((vectors.skip as string).includes(vectorsPath(MISSING_VECTORS)), 'the skip names the file');
});

test('missing under CI=true: not skipped, and the test fails naming what is missing', () => {
  process.env.CI = 'true';
  const tool = requireTool(MISSING_TOOL, 'some-package');
  assert.equal(tool.skip, false, 'a skip would hide the missing install step');
  assert.throws(() => tool.value, new RegExp(`^Error: CI=true.*${MISSING_TOOL} not found`));
  assert.throws(() => skipUnlessTool(MISSING_TOOL, 'some-package'), /CI=true/);
  const vectors = requireVectors(MISSING_VECTORS);
  assert.equal(vectors.skip, false);
  assert.throws(() => vectors.value, (err: Error) => /^CI=true/.test(err.message) && err.message.includes(vectorsPath(MISSING_VECTORS)));
  // Only the exact value "true" counts, as in scripts/test.sh and the tensor suites.
  process.env.CI = '1';
  assert.equal(typeof requireTool(MISSING_TOOL, 'some-package').skip, 'string');
});
