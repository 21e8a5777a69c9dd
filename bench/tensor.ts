// Tensor engine benchmark: one run, two tables, all on the same adapter.
//   npx tsx bench/tensor.ts [--short] [--peak-gflops N]
// Engine: matmul GFLOP/s at 256/512/1024 for our tiled kernel, a naive one-thread-per-output WGSL
// kernel and webgpu-torch (handed the same GPUDevice); elementwise GB/s; dispatch overhead per op
// when batched into one command encoder vs flushed and awaited after every op.
// Service: tensor/run through the catalogue, the bus and the tensor actor vs the same graph on the
// engine directly; and how long a long graph keeps the device busy after its deadline, stopped by
// the service vs run to completion (what a deadline did before it stopped the work).
import { globals } from 'webgpu';
import { createActor, waitFor } from 'xstate';
import { createEngine, type Engine, type Tensor } from '../actors/tensor/index.ts';
import type { WebGpuBackend } from '../actors/tensor/backend/webgpu.ts';
import { createBus } from '../bus/bus.ts';
import { OperationCatalogue } from '../operations/catalogue.ts';
import { tensorMachine } from '../actors/tensor/machine.ts';
import { tensorOperationDeclarations } from '../actors/tensor/operations.ts';
import { TENSOR_SYSTEM_ID } from '../actors/tensor/messages.ts';
import type { RunRecord } from '../actors/tensor/service.ts';

const args = process.argv.slice(2);
const short = args.includes('--short');
const peakIndex = args.indexOf('--peak-gflops');
const peak = peakIndex >= 0 ? Number(args[peakIndex + 1]) : undefined;
const sizes = short ? [256, 512] : [256, 512, 1024];

const NAIVE = `
@group(0) @binding(0) var<storage, read> prm: array<i32>;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = prm[0];
  let row = i32(gid.y); let col = i32(gid.x);
  if (row >= n || col >= n) { return; }
  var s = 0.0;
  for (var k = 0; k < n; k++) { s += A[row * n + k] * B[k * n + col]; }
  C[row * n + col] = s;
}`;

/** Runs webgpu-torch code inside an error scope, so its validation errors stay its own. */
async function isolated<T>(device: GPUDevice, fn: () => Promise<T>): Promise<T> {
  device.pushErrorScope('validation');
  let result: T;
  try {
    result = await fn();
  } finally {
    const err = await device.popErrorScope();
    if (err) throw new Error(err.message.split('\n')[0]);
  }
  return result;
}

async function timed(reps: number, run: () => void | Promise<void>, sync: () => Promise<void>): Promise<number> {
  await run(); // warm-up: pipeline compilation, pool buckets
  await sync();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) await run();
  await sync();
  return (performance.now() - t0) / reps / 1000;
}

function fmt(x: number | undefined, digits = 1): string {
  return x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(digits);
}

async function main(): Promise<void> {
  const engine: Engine = await createEngine({ backend: 'webgpu' });
  const gpu = engine.backend as WebGpuBackend;
  const sync = (): Promise<void> => gpu.sync();
  const info = gpu.info();
  const rows: string[][] = [];
  console.log(`adapter: ${info.adapter}`);

  // webgpu-torch, given our device through a navigator.gpu stand-in.
  let torch: typeof import('webgpu-torch') | null = null;
  let torchNote = '';
  try {
    Object.assign(globalThis, globals);
    const device = gpu.device;
    const fakeGpu = { requestAdapter: async () => ({ requestDevice: async () => device, features: gpu.adapter.features, limits: gpu.adapter.limits }) };
    Object.defineProperty(globalThis, 'navigator', { value: { gpu: fakeGpu }, configurable: true, writable: true });
    const log = console.log;
    console.log = () => {}; // it logs the whole device object on discovery
    try {
      torch = (await import('webgpu-torch')) as typeof import('webgpu-torch');
      if (!(await torch.initWebGPUAsync())) throw new Error('did not take the device');
    } finally {
      console.log = log;
    }
  } catch (err) {
    torch = null;
    torchNote = ` (webgpu-torch unavailable: ${(err as Error).message.split('\n')[0]})`;
  }

  for (const n of sizes) {
    const reps = n >= 1024 ? 2 : n >= 512 ? 3 : 5;
    const flops = 2 * n ** 3;
    const a = engine.rand([n, n]);
    const b = engine.rand([n, n]);
    const ours = await timed(reps, () => engine.tidy(() => void a.matmul(b)), sync);

    const c = engine.zeros([n, n]);
    const naiveRun = (): void => gpu.dispatchCustom('bench:naive-mm', NAIVE, Int32Array.from([n]),
      [a.view().storage, b.view().storage, c.view().storage], Math.ceil(n / 8), Math.ceil(n / 8));
    const naive = await timed(reps, naiveRun, sync);
    if (n === sizes[0]) {
      // The comparison is only fair if both compute the same thing.
      const ref = a.matmul(b);
      const [x, y] = [await ref.toArray(), await c.toArray()];
      const err = Array.from(x).reduce((m, v, i) => Math.max(m, Math.abs(v - y[i]!)), 0);
      if (err > 1e-2) throw new Error(`naive kernel disagrees with ours (max error ${err})`);
      ref.free();
    }

    let torchTime: number | undefined;
    if (torch) {
      try {
        const t = torch;
        const ta = t.ones([n, n], 'float32', 'webgpu');
        const tb = t.ones([n, n], 'float32', 'webgpu');
        torchTime = await isolated(gpu.device, () => timed(reps, () => void ta.mm(tb), sync));
      } catch (err) {
        torchNote ||= ` (webgpu-torch failed: ${(err as Error).message.split('\n')[0]})`;
      }
    }
    const gf = (s: number | undefined): number | undefined => (s === undefined ? undefined : flops / s / 1e9);
    rows.push([`matmul ${n}×${n}`, `${fmt(gf(ours))} GFLOP/s`, `${fmt(gf(naive))} GFLOP/s`,
      `${fmt(gf(torchTime))} GFLOP/s`, `${fmt(naive / ours)}×${peak ? `, ${fmt((100 * gf(ours)!) / peak)}% of peak` : ''}`]);
    [a, b, c].forEach((t) => t.free());
  }

  // Elementwise bandwidth: c = a + b reads 2 and writes 1 float per element.
  {
    const n = short ? 1 << 20 : 1 << 22;
    const a = engine.rand([n]);
    const b = engine.rand([n]);
    const s = await timed(short ? 5 : 10, () => engine.tidy(() => void a.add(b)), sync);
    let torchGbs: number | undefined;
    if (torch) {
      try {
        const ta = torch.ones([n], 'float32', 'webgpu');
        const tb = torch.ones([n], 'float32', 'webgpu');
        torchGbs = (12 * n) / (await isolated(gpu.device, () => timed(short ? 5 : 10, () => void ta.add(tb), sync))) / 1e9;
      } catch (err) {
        torchGbs = undefined;
        torchNote += ` (webgpu-torch add failed: ${(err as Error).message})`;
      }
    }
    rows.push([`add ${n} f32`, `${fmt((12 * n) / s / 1e9, 2)} GB/s`, '', `${fmt(torchGbs, 2)} GB/s`, '']);
    a.free();
    b.free();
  }

  // Dispatch overhead: many tiny ops in one encoder vs a flush + wait after each.
  {
    const ops = short ? 100 : 300;
    const x = engine.rand([64]);
    const batched = await timed(1, () => {
      const y = engine.tidy(() => {
        let h: Tensor = x;
        for (let i = 0; i < ops; i++) h = h.add(1);
        return h;
      });
      y.free();
    }, sync);
    const unbatched = await timed(1, async () => {
      for (let i = 0; i < ops; i++) {
        engine.tidy(() => void x.add(1));
        await sync();
      }
    }, sync);
    rows.push([`dispatch overhead (${ops} tiny ops)`, `${fmt((batched / ops) * 1e6)} µs/op batched`,
      `${fmt((unbatched / ops) * 1e6)} µs/op unbatched`, '', `${fmt(unbatched / batched)}× less with batching`]);
    x.free();
  }

  printTable(['benchmark', 'alknet (ours)', 'naive WGSL', `webgpu-torch`, 'ours vs naive'], rows);
  if (torchNote) console.log(torchNote.trim());
  engine.destroy();
  delete (globalThis as { navigator?: unknown }).navigator;
}

function printTable(header: string[], rows: string[][]): void {
  const table = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...table.map((r) => (r[i] ?? '').length)));
  for (const [i, r] of table.entries()) {
    console.log(`| ${r.map((c, j) => c.padEnd(widths[j]!)).join(' | ')} |`);
    if (i === 0) console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  }
}

/** A chain of `ops` matmuls of size×size identities (the shape of issue #16's long graph), sent as binary. */
function matmulChain(ops: number, size: number) {
  const eye = new Float32Array(size * size);
  for (let i = 0; i < size; i++) eye[i * size + i] = 1;
  const data = new Uint8Array(eye.buffer);
  return {
    inputs: { x: { shape: [size, size], dtype: 'f32' as const, data }, w: { shape: [size, size], dtype: 'f32' as const, data } },
    graph: Array.from({ length: ops }, (_, i) => ({ op: 'matmul', args: [i === 0 ? 'x' : `y${i - 1}`, 'w'], out: `y${i}` })),
    outputs: [`y${ops - 1}`],
  };
}

async function serviceBench(): Promise<void> {
  const bus = createBus({ logger: { warn() {} } });
  const catalogue = new OperationCatalogue({ bus });
  catalogue.register(tensorOperationDeclarations(), TENSOR_SYSTEM_ID);
  let ended: ((r: RunRecord) => void) | null = null;
  // No cost budget and a larger quota here: the second row runs a graph the defaults would refuse up front.
  const actor = createActor(tensorMachine, { input: { backend: 'webgpu', limits: { maxCost: Infinity, quotaBytes: 1 << 30 }, onRunEnd: (r) => ended?.(r) } });
  actor.start();
  bus.register(TENSOR_SYSTEM_ID, actor);
  const engine = (await waitFor(actor, (s) => s.matches('ready'), { timeout: 60_000 })).context.engine!;
  const caller = { nodeId: null, scopes: new Set(['tensor']) };
  const rows: string[][] = [];

  // Per-op cost of the message path (catalogue, bus, actor, planning, a yield and checks per op).
  {
    const ops = short ? 32 : 128;
    const input = {
      inputs: { x: { shape: [64, 64], dtype: 'f32' as const, data: new Array<number>(64 * 64).fill(1) } },
      graph: Array.from({ length: ops }, (_, i) => ({ op: 'add', args: [i === 0 ? 'x' : `h${i - 1}`], attrs: { other: 1 }, out: `h${i}` })),
      outputs: [`h${ops - 1}`],
    };
    const reps = short ? 3 : 10;
    const viaService = await timed(reps, async () => void (await catalogue.invoke('tensor/run', input, caller)), async () => {});
    const x = input.inputs.x;
    const direct = await timed(reps, async () => {
      const t = engine.tensor(x.data, { shape: x.shape });
      const y = engine.tidy(() => {
        let h: Tensor = t;
        for (let i = 0; i < ops; i++) h = h.add(1);
        return h;
      });
      await y.toArray();
      [t, y].forEach((v) => v.free());
    }, async () => {});
    rows.push([`tensor/run, ${ops} small ops`, `${fmt((viaService / ops) * 1e6)} µs/op`, `${fmt((direct / ops) * 1e6)} µs/op`, `${fmt(viaService / direct, 2)}×`]);
  }

  // Work left running after the deadline: the service stops between kernels; before, the whole request
  // ran on. Both sides are the same tensor/run request, with and without its deadline; the graph grows
  // until the request takes a second or more on this device (512 → 4096), and the deadline is a fifth
  // of that, so the row means the same on lavapipe and on a fast GPU.
  {
    const ops = 25;
    const timedRun = async (size: number, deadlineMs?: number): Promise<{ ms: number; record: RunRecord }> => {
      const record = new Promise<RunRecord>((resolve) => (ended = resolve));
      const t0 = performance.now();
      await catalogue.invoke('tensor/run', matmulChain(ops, size), caller, deadlineMs ? { deadlineMs } : {}).catch(() => {});
      const done = await record;
      ended = null;
      return { ms: performance.now() - t0, record: done };
    };
    await timedRun(256); // warm-up: pipeline compilation
    let size = short ? 512 : 1024;
    let whole = (await timedRun(size)).ms;
    while (whole < 1000 && size < 4096) whole = (await timedRun((size *= 2))).ms;
    const deadlineMs = Math.max(5, Math.round(whole / 5));
    const stopped = await timedRun(size, deadlineMs);
    const past = Math.max(0, stopped.ms - deadlineMs);
    rows.push([`${ops} matmuls ${size}³, deadline ${deadlineMs} ms (⅕ of the request)`, `busy ${fmt(past, 0)} ms past it (${stopped.record.ops}/${ops} ops)`,
      `busy ${fmt(whole - deadlineMs, 0)} ms past it (${ops}/${ops} ops)`, `${fmt((whole - deadlineMs) / Math.max(1, past))}× sooner free`]);
  }

  printTable(['service', 'through the tensor actor', 'engine directly / request run to the end', 'ratio'], rows);
  actor.send({ type: 'STOP' });
  bus.close();
}

await main();
await serviceBench();
