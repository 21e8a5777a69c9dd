// Shared helpers of the tensor tests: fixtures, view recipes, tolerant comparison, engines.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { createEngine, type Engine, type Tensor } from '../../actors/tensor/index.ts';
import { applyOp } from '../../actors/tensor/graph.ts';
import { BINARY_BY_NAME, REDUCE_BY_NAME, UNARY_BY_NAME } from '../../actors/tensor/ops/specs.ts';
import type { DType } from '../../actors/tensor/dtype.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

export interface FixtureTensor { shape: number[]; dtype: DType; data: number[] }
export type ViewStep = ['permute', number[]] | ['slice', number, number, number | null, number] | ['expand', number[]];
export interface FixtureArg { input: string; view: ViewStep[] }
export interface FixtureCase {
  op: string;
  args: FixtureArg[];
  attrs?: Record<string, unknown>;
  layout: string;
  expected: FixtureTensor;
}
export interface Fixture { inputs: Record<string, FixtureTensor>; cases: FixtureCase[] }

export function loadFixture(name: string): Fixture {
  return JSON.parse(readFileSync(path.join(here, 'fixtures', name), 'utf8')) as Fixture;
}

export function buildArg(engine: Engine, fixture: Fixture, arg: FixtureArg): Tensor {
  const input = fixture.inputs[arg.input]!;
  let t = engine.tensor(input.data, { shape: input.shape, dtype: input.dtype });
  for (const step of arg.view) {
    if (step[0] === 'permute') t = t.permute(step[1]);
    else if (step[0] === 'slice') t = t.slice(step[1], step[2], step[3] ?? undefined, step[4]);
    else t = t.expand(step[1]);
  }
  return t;
}

/** Runs one fixture case on an engine (inside a tidy the caller opens). */
export function runCase(engine: Engine, fixture: Fixture, c: FixtureCase): Tensor {
  const args = c.args.map((a) => buildArg(engine, fixture, a));
  return applyOp(engine, c.op, args, c.attrs ?? {});
}

/** Tolerance per op: the spec's, or a stated one for composite ops. */
export function tolerance(op: string): number {
  const spec = UNARY_BY_NAME.get(op) ?? BINARY_BY_NAME.get(op) ?? REDUCE_BY_NAME.get(op);
  if (spec) return spec.tol;
  const composite: Record<string, number> = { var: 1e-4, std: 1e-4, softmax: 1e-5, log_softmax: 1e-5, layer_norm: 1e-4, cat: 0, matmul: 1e-4, where: 0 };
  return composite[op] ?? 1e-5;
}

export function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = Math.fround(want[i]!); // expected values are f64 references; compare at f32 precision
    if ((Number.isNaN(w) && Number.isNaN(g)) || g === w) continue;
    const limit = tol * (1 + Math.abs(w));
    if (!(Math.abs(g - w) <= limit)) {
      assert.fail(`${what}: element ${i} is ${g}, expected ${w} (tolerance ${tol})`);
    }
  }
}

/**
 * A WebGPU engine, or null when no adapter exists. On CI (CI=true) a missing adapter fails the
 * test instead of skipping it: the suite must really run on lavapipe there.
 */
export async function gpuEngineOrSkip(t: { skip(msg: string): void }): Promise<Engine | null> {
  const engine = await createEngine({ backend: 'auto' });
  if (engine.backend.name === 'webgpu') return engine;
  if (process.env.CI === 'true') assert.fail('no WebGPU adapter on CI: install mesa-vulkan-drivers (lavapipe 25.x)');
  t.skip('no WebGPU adapter found (install Mesa lavapipe from bookworm-backports); WebGPU tests skipped');
  return null;
}
