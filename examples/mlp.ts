// Trains a small MLP on generated data and prints its loss falling.
//
//   npx tsx examples/mlp.ts                         local: WebGPU if an adapter exists, else JS
//   npx tsx examples/mlp.ts --backend js            force a backend (js | webgpu | auto)
//   npx tsx examples/mlp.ts --remote NODEID@host:port
//                                                   train on a remote node through `tensor/run`
//                                                   (needs the `tensor` scope there for the key of
//                                                   $ALKNET_HOME, unlocked by $ALKNET_PASSPHRASE); each
//                                                   step is one call, the weights stay there as handles
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Adam, MLP, createEngine, mseLoss, type Engine } from '../actors/tensor/index.ts';
import { connect } from '../protocols/call/connect.ts';
import { nodeKeys } from '../actors/vault/keys.ts';
import { openVaultFile } from '../actors/vault/vaultFile.ts';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const steps = Number(flag('--steps') ?? 200);
const SAMPLES = 256;
const HIDDEN = 32;

/** y = sin(2·x0)·cos(x1) + 0.5·x2 on x ∈ U(-1, 1)³. */
function makeData(seed = 1): { x: Float32Array; y: Float32Array } {
  let s = seed;
  const rnd = (): number => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  const x = new Float32Array(SAMPLES * 3);
  const y = new Float32Array(SAMPLES);
  for (let i = 0; i < SAMPLES; i++) {
    const [a, b, c] = [rnd(), rnd(), rnd()];
    x.set([a, b, c], i * 3);
    y[i] = Math.sin(2 * a) * Math.cos(b) + 0.5 * c;
  }
  return { x, y };
}

async function trainLocal(engine: Engine): Promise<void> {
  console.log(`backend: ${engine.backend.name} (${engine.backend.info().adapter})`);
  engine.manualSeed(42);
  const { x: xs, y: ys } = makeData();
  const x = engine.tensor(xs, { shape: [SAMPLES, 3] });
  const y = engine.tensor(ys, { shape: [SAMPLES, 1] });
  const model = new MLP(engine, [3, HIDDEN, HIDDEN, 1], 'tanh');
  const opt = new Adam(model.parameters(), 0.01);
  for (let step = 1; step <= steps; step++) {
    // Everything created in the step is freed at its end, except the parameters' new values.
    const loss = engine.tidy(() => {
      opt.zeroGrad();
      const l = mseLoss(model.forward(x), y);
      l.backward();
      opt.step();
      return l;
    });
    if (step === 1 || step % 20 === 0) console.log(`step ${String(step).padStart(4)}  loss ${(await loss.item()).toFixed(6)}`);
    loss.free();
  }
  opt.dispose();
  engine.destroy();
}

// ---- remote: the same model trained through tensor/run graphs -------------------------------

type Call = (operation: string, input: unknown) => Promise<unknown>;
interface HandleInfo { handle: string; shape: number[] }
// In JSON a non-finite float arrives as "NaN" / "Infinity" / "-Infinity" (docs/tensor.md); Number() reads both forms.
interface RunOutput { outputs: Record<string, { data: (number | string)[] }>; handles?: Record<string, HandleInfo> }

/** One SGD step as a graph: forward, MSE loss, hand-written backward, updated weights kept. */
function stepGraph(lr: number, n: number): object[] {
  const g = (op: string, a: string[], out: string, attrs?: object): object => ({ op, args: a, out, ...(attrs ? { attrs } : {}) });
  return [
    g('matmul', ['x', 'w1'], 'z1'), g('add', ['z1', 'b1'], 'z1b'), g('tanh', ['z1b'], 'h'),
    g('matmul', ['h', 'w2'], 'z2'), g('add', ['z2', 'b2'], 'pred'),
    g('sub', ['pred', 'y'], 'diff'), g('mul', ['diff', 'diff'], 'sq'), g('mean', ['sq'], 'loss'),
    g('mul', ['diff'], 'dpred', { other: 2 / n }),
    g('T', ['h'], 'hT'), g('matmul', ['hT', 'dpred'], 'dw2'), g('sum', ['dpred'], 'db2', { dim: 0 }),
    g('T', ['w2'], 'w2T'), g('matmul', ['dpred', 'w2T'], 'dh'),
    g('mul', ['h', 'h'], 'h2'), g('neg', ['h2'], 'nh2'), g('add', ['nh2'], 'dtanh', { other: 1 }), g('mul', ['dh', 'dtanh'], 'dz1'),
    g('T', ['x'], 'xT'), g('matmul', ['xT', 'dz1'], 'dw1'), g('sum', ['dz1'], 'db1', { dim: 0 }),
    ...['w1', 'b1', 'w2', 'b2'].flatMap((p) => [g('mul', [`d${p}`], `s${p}`, { other: lr }), g('sub', [p, `s${p}`], `${p}_new`)]),
  ];
}

export async function trainRemote(call: Call, totalSteps: number, log = console.log): Promise<number[]> {
  const { x, y } = makeData();
  const uniform = (n: number, bound: number): number[] => Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + n) * bound);
  const init = {
    x: { shape: [SAMPLES, 3], dtype: 'f32', data: Array.from(x) },
    y: { shape: [SAMPLES, 1], dtype: 'f32', data: Array.from(y) },
    w1: { shape: [3, HIDDEN], dtype: 'f32', data: uniform(3 * HIDDEN, 1 / Math.sqrt(3)) },
    b1: { shape: [HIDDEN], dtype: 'f32', data: new Array(HIDDEN).fill(0) },
    w2: { shape: [HIDDEN, 1], dtype: 'f32', data: uniform(HIDDEN, 1 / Math.sqrt(HIDDEN)) },
    b2: { shape: [1], dtype: 'f32', data: [0] },
  };
  // Upload everything once; from then on only handles travel.
  const first = (await call('tensor/run', { inputs: init, graph: [], keep: Object.keys(init) })) as RunOutput;
  let h = Object.fromEntries(Object.entries(first.handles!).map(([k, v]) => [k, v.handle]));
  const losses: number[] = [];
  try {
    for (let step = 1; step <= totalSteps; step++) {
      const out = (await call('tensor/run', {
        inputs: Object.fromEntries(Object.entries(h).map(([k, v]) => [k, { handle: v }])),
        graph: stepGraph(0.1, SAMPLES),
        outputs: ['loss'],
        keep: ['w1_new', 'b1_new', 'w2_new', 'b2_new'],
      })) as RunOutput;
      const old = [h.w1!, h.b1!, h.w2!, h.b2!];
      h = { ...h, w1: out.handles!.w1_new!.handle, b1: out.handles!.b1_new!.handle, w2: out.handles!.w2_new!.handle, b2: out.handles!.b2_new!.handle };
      await call('tensor/free', { handles: old });
      const loss = Number(out.outputs.loss!.data[0]);
      losses.push(loss);
      if (step === 1 || step % 10 === 0) log(`step ${String(step).padStart(4)}  loss ${loss.toFixed(6)}`);
    }
  } finally {
    await call('tensor/free', { handles: Object.values(h) });
  }
  return losses;
}

/**
 * Calls through the client library on one pooled connection, showing this home's node key
 * ($ALKNET_HOME, unlocked with $ALKNET_PASSPHRASE): the remote node grants that key the `tensor`
 * scope (`alknet peer add NODEID --scopes tensor` there), and the handles it owns live as long as the
 * connection does.
 */
async function remoteCall(addr: string): Promise<{ call: Call; close(): Promise<void> }> {
  const home = process.env.ALKNET_HOME ?? path.join(os.homedir(), '.alknet');
  const passphrase = process.env.ALKNET_PASSPHRASE;
  if (passphrase === undefined) throw new Error('set ALKNET_PASSPHRASE (and ALKNET_HOME) to show this node\'s key to the remote node');
  const secret = await openVaultFile(home, passphrase);
  const { identity } = nodeKeys(secret.seed);
  secret.wipe();
  const client = await connect(addr, { identity, knownNodesPath: path.join(home, 'known_nodes') });
  return { call: (operation, input) => client.call(operation, input, { deadlineMs: 60_000 }), close: () => client.close() };
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const remote = flag('--remote');
  if (remote) {
    console.log(`training on ${remote} through tensor/run`);
    const { call, close } = await remoteCall(remote);
    try {
      await trainRemote(call, Math.min(steps, 60));
    } finally {
      await close();
    }
  } else {
    const backend = (flag('--backend') ?? 'auto') as 'auto' | 'js' | 'webgpu';
    await trainLocal(await createEngine({ backend }));
  }
}

