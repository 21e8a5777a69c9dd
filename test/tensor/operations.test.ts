// tensor/* operations through the real call protocol over TCP on 127.0.0.1, served by the tensor
// actor under a supervisor on a real bus (test/tensor/service-fixture.ts): a second "node" runs
// tensor/run on the first, handles are per caller, quotas and the cost budget hold, non-finite floats
// survive the JSON form, and a peer's handles go when peer.disconnected is published.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { waitFor } from 'xstate';
import type { Caller } from '../../operations/catalogue.ts';
import { serveCallStream } from '../../protocols/call/server.ts';
import { CallClient } from '../../protocols/call/client.ts';
import { ALICE, BOB, engineState, startTensorService, type TensorFixture } from './service-fixture.ts';
import type { TensorLimits } from '../../actors/tensor/service.ts';

interface Node {
  fixture: TensorFixture;
  port: number;
  close(): Promise<void>;
}

/** A node serving the tensor operations; the first 52 bytes a client sends name its node id. */
async function startNode(limits: Partial<TensorLimits> = {}): Promise<Node> {
  const fixture = await startTensorService({ limits });
  const server = net.createServer((socket) => {
    // Test stand-in for the listener's peer identification: a 52-byte node id, then the call stream.
    socket.once('readable', () => {
      const id = socket.read(52) as Buffer | null;
      if (!id) return socket.destroy();
      const nodeId = id.toString();
      const caller: Caller = { nodeId, scopes: new Set(nodeId === BOB ? [] : ['tensor']) };
      void serveCallStream(socket, { registry: fixture.catalogue, caller });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    fixture,
    port,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await fixture.stop();
    },
  };
}

function clientFor(node: Node, nodeId: string): CallClient {
  return new CallClient(async () => {
    const socket = net.connect(node.port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.write(nodeId);
    return socket;
  });
}

const RUN = {
  inputs: {
    a: { shape: [2, 3], dtype: 'f32', data: [1, 2, 3, 4, 5, 6] },
    b: { shape: [3, 2], dtype: 'f32', data: [1, 0, 0, 1, 1, 1] },
    d: { shape: [2], dtype: 'f32', data: [10, 20] },
  },
  graph: [
    { op: 'matmul', args: ['a', 'b'], out: 'c' },
    { op: 'add', args: ['c', 'd'], out: 'e' },
    { op: 'softmax', args: ['e'], attrs: { dim: -1 }, out: 'f' },
  ],
  outputs: ['e', 'f'],
};

type Coded = Error & { code?: string; retryable?: boolean };

test('a second node runs tensor/run on the first (JSON numbers)', async () => {
  const node = await startNode();
  try {
    const out = await clientFor(node, ALICE).call<{ outputs: Record<string, { shape: number[]; data: number[] }> }>('tensor/run', RUN);
    assert.deepEqual(out.outputs.e, { shape: [2, 2], dtype: 'f32', data: [14, 25, 20, 31] });
    const f = out.outputs.f!.data;
    assert.ok(Math.abs(f[0]! - 1 / (1 + Math.exp(11))) < 1e-6);
    assert.equal(engineState(node.fixture.actor()).liveStorages, 0, 'a run without keep leaves nothing allocated');
  } finally {
    await node.close();
  }
});

test('binary data travels as msgpack binary; keep returns handles usable in later runs', async () => {
  const node = await startNode();
  try {
    const alice = clientFor(node, ALICE);
    const bytes = new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer);
    const r1 = await alice.call<{ outputs: Record<string, { data: Uint8Array }>; handles: Record<string, { handle: string; shape: number[] }> }>(
      'tensor/run', {
        inputs: { x: { shape: [2, 2], dtype: 'f32', data: bytes } },
        // `T` is the Tensor API's `.T`, as docs/tensor.md lists it.
        graph: [{ op: 'T', args: ['x'], out: 't' }, { op: 'mul', args: ['t', 'x'], out: 'y' }],
        outputs: ['y'], keep: ['t'],
      });
    assert.ok(r1.outputs.y!.data instanceof Uint8Array, 'binary in, binary out');
    const y = new Float32Array(new Uint8Array(r1.outputs.y!.data).buffer);
    assert.deepEqual(Array.from(y), [1, 6, 6, 16]);
    const t = r1.handles.t!;
    assert.deepEqual(t.shape, [2, 2]);
    const r2 = await alice.call<{ outputs: Record<string, { data: number[] }> }>('tensor/run', {
      inputs: { t: { handle: t.handle } }, graph: [{ op: 'sum', args: ['t'], attrs: { dim: 0 }, out: 's' }], outputs: ['s'],
    });
    assert.deepEqual(r2.outputs.s!.data, [3, 7]);
    const read = await alice.call<{ data: number[] }>('tensor/read', { handle: t.handle });
    assert.deepEqual(read.data, [1, 3, 2, 4]);
    // Another caller cannot see it.
    const other = clientFor(node, 'pqxot1uwisza345h769ybndrfg8ejkmcpqxot1uwisza345h769y');
    await assert.rejects(other.call('tensor/read', { handle: t.handle }), (err: Coded) => err.code === 'NOT_FOUND');
    assert.deepEqual(await alice.call('tensor/free', { handles: [t.handle] }), { freed: 1 });
    assert.deepEqual(engineState(node.fixture.actor()), { handles: 0, liveStorages: 0 });
  } finally {
    await node.close();
  }
});

test('no handle survives its peer: peer.disconnected frees every handle of that peer and its memory', async () => {
  const node = await startNode();
  try {
    const alice = clientFor(node, ALICE);
    for (let i = 0; i < 3; i++) await alice.call('tensor/create', { shape: [4], dtype: 'i32', data: [1, 2, 3, i] });
    const other = clientFor(node, 'pqxot1uwisza345h769ybndrfg8ejkmcpqxot1uwisza345h769y');
    await other.call('tensor/create', { shape: [1], dtype: 'f32', data: [1] });
    const actor = node.fixture.actor();
    assert.equal(engineState(actor, ALICE).handles, 3);
    node.fixture.bus.publish('peer.disconnected', { nodeId: ALICE });
    await waitFor(actor, () => engineState(actor, ALICE).handles === 0, { timeout: 5000 });
    assert.deepEqual(engineState(actor), { handles: 1, liveStorages: 1 }, "only the other peer's handle is left");
  } finally {
    await node.close();
  }
});

test('scopes, quotas and bad input give clear errors', async () => {
  const node = await startNode({ quotaBytes: 64, maxElements: 100 });
  try {
    const bob = clientFor(node, BOB); // no `tensor` scope
    await assert.rejects(bob.call('tensor/run', RUN), (err: Coded) => err.code === 'FORBIDDEN');
    const info = await bob.call<{ backend: string; maxCost: number; maxGraphOps: number }>('tensor/info', {});
    assert.equal(info.backend, 'js');
    assert.equal(info.maxGraphOps, 256);
    assert.equal(info.maxCost, 1e10);
    const alice = clientFor(node, ALICE);
    await assert.rejects(alice.call('tensor/create', { shape: [20], dtype: 'f32', data: new Array(20).fill(0) }),
      (err: Coded) => err.code === 'BUSY' && /quota/.test(err.message));
    await assert.rejects(alice.call('tensor/create', { shape: [200], dtype: 'f32', data: [] }),
      (err: Coded) => err.code === 'INVALID_INPUT' && /limit/.test(err.message));
    await assert.rejects(alice.call('tensor/create', { shape: [2], dtype: 'f32', data: [1, 2, 3] }),
      (err: Coded) => err.code === 'INVALID_INPUT');
    await assert.rejects(alice.call('tensor/run', { ...RUN, graph: [{ op: 'nope', args: ['a'], out: 'z' }], outputs: ['z'] }),
      (err: Coded) => err.code === 'INVALID_INPUT' && /unknown op/.test(err.message));
    await assert.rejects(alice.call('tensor/run', { ...RUN, graph: [{ op: 'matmul', args: ['a', 'a'], out: 'z' }], outputs: ['z'] }),
      (err: Coded) => err.code === 'INVALID_INPUT' && /inner sizes/.test(err.message));
    await assert.rejects(alice.call('tensor/run', { ...RUN, graph: [{ op: 'exp', args: ['missing'], out: 'z' }], outputs: ['z'] }),
      (err: Coded) => err.code === 'INVALID_INPUT' && /no tensor named "missing"/.test(err.message));
    await assert.rejects(alice.call('tensor/run', { ...RUN, graph: [], outputs: ['nowhere'] }),
      (err: Coded) => err.code === 'INVALID_INPUT' && /no tensor named "nowhere"/.test(err.message));
    assert.equal(engineState(node.fixture.actor()).liveStorages, 0, 'failed runs free what they allocated');
  } finally {
    await node.close();
  }
});

test('the per-call cost budget refuses a graph up front, naming the budget; the op cap still holds', async () => {
  // 64×64 @ 64×64 costs 64³ = 262144 units; a budget of 10⁶ allows three such matmuls, not four.
  const node = await startNode({ maxCost: 1e6 });
  try {
    const alice = clientFor(node, ALICE);
    const m = { shape: [64, 64], dtype: 'f32', data: new Array(64 * 64).fill(0.5) };
    const chain = (n: number) => Array.from({ length: n }, (_, i) => ({ op: 'matmul', args: [i === 0 ? 'm' : `y${i - 1}`, 'm'], out: `y${i}` }));
    const ok = await alice.call<{ outputs: Record<string, { shape: number[] }> }>('tensor/run', { inputs: { m }, graph: chain(3), outputs: ['y2'] });
    assert.deepEqual(ok.outputs.y2!.shape, [64, 64]);
    await assert.rejects(alice.call('tensor/run', { inputs: { m }, graph: chain(4), outputs: ['y3'] }), (err: Coded) =>
      err.code === 'INVALID_INPUT' && err.retryable === false && /maxCost/.test(err.message) && /1\.00e\+6/.test(err.message));
    const records = node.fixture.runs;
    assert.deepEqual(records.map((r) => [r.outcome, r.ops]), [['ok', 3], ['failed', 0]], 'the refused graph ran no op');
    assert.equal(records[0]!.cost, 3 * 64 ** 3);
    const graph = Array.from({ length: 257 }, () => ({ op: 'neg', args: ['m'], out: 'n' }));
    await assert.rejects(alice.call('tensor/run', { inputs: { m }, graph, outputs: ['n'] }),
      (err: Coded) => err.code === 'INVALID_INPUT' && /257 ops; the limit is 256/.test(err.message));
    assert.equal(engineState(node.fixture.actor()).liveStorages, 0);
  } finally {
    await node.close();
  }
});

test('intermediates are freed after their last reader, so a long chain fits a small quota', async () => {
  // 64×64 f32 is 16 KiB. A chain of 20 matmuls keeps its input and at most two results at a time
  // (48 KiB): under a 64 KiB quota, which 21 matrices at once (336 KiB) would not fit.
  const node = await startNode({ quotaBytes: 64 * 1024 });
  try {
    const alice = clientFor(node, ALICE);
    const m = { shape: [64, 64], dtype: 'f32', data: Array.from({ length: 64 * 64 }, (_, i) => (i % 65 === 0 ? 1 : 0)) };
    const graph = Array.from({ length: 20 }, (_, i) => ({ op: 'matmul', args: [i === 0 ? 'm' : `y${i - 1}`, 'm'], out: `y${i}` }));
    const out = await alice.call<{ outputs: Record<string, { data: number[] }> }>('tensor/run', { inputs: { m }, graph, outputs: ['y19'] });
    assert.deepEqual(out.outputs.y19!.data, m.data, 'the identity, 20 times');
    // Keeping every step's result needs them all at once: refused up front, before any op ran.
    await assert.rejects(alice.call('tensor/run', { inputs: { m }, graph, outputs: graph.map((g) => g.out) }),
      (err: Coded) => err.code === 'BUSY' && /quota/.test(err.message));
    assert.deepEqual(node.fixture.runs.map((r) => [r.outcome, r.ops]), [['ok', 20], ['failed', 0]]);
    assert.equal(engineState(node.fixture.actor()).liveStorages, 0);
  } finally {
    await node.close();
  }
});

test('NaN and ±Infinity survive the JSON form as strings, and come back as numbers in binary', async () => {
  const node = await startNode();
  try {
    const alice = clientFor(node, ALICE);
    // div is true division (as torch.div): i32 operands become f32, so x/0 is ±Infinity and 0/0 NaN.
    const run = {
      inputs: { a: { shape: [4], dtype: 'i32', data: [1, 0, -1, 7] }, b: { shape: [4], dtype: 'i32', data: [0, 0, 0, 2] } },
      graph: [{ op: 'div', args: ['a', 'b'], out: 'q' }],
      outputs: ['q'],
    };
    const json = await alice.call<{ outputs: { q: { dtype: string; data: unknown[] } } }>('tensor/run', run);
    assert.deepEqual(json.outputs.q, { shape: [4], dtype: 'f32', data: ['Infinity', 'NaN', '-Infinity', 3.5] });
    assert.deepEqual(JSON.parse(JSON.stringify(json.outputs.q.data)), ['Infinity', 'NaN', '-Infinity', 3.5], 'nothing turns into null');
    const binary = await alice.call<{ outputs: { q: { data: Uint8Array } } }>('tensor/run', { ...run, encoding: 'binary' });
    assert.deepEqual(Array.from(new Float32Array(new Uint8Array(binary.outputs.q.data).buffer)), [Infinity, NaN, -Infinity, 3.5]);
    // The strings are accepted as input too, for float dtypes only.
    const back = await alice.call<{ outputs: { s: { data: unknown[] } } }>('tensor/run', {
      inputs: { x: { shape: [3], dtype: 'f32', data: ['NaN', 'Infinity', -2] } },
      graph: [{ op: 'neg', args: ['x'], out: 's' }], outputs: ['s'],
    });
    assert.deepEqual(back.outputs.s.data, ['NaN', '-Infinity', 2]);
    await assert.rejects(alice.call('tensor/create', { shape: [1], dtype: 'i32', data: ['NaN'] }),
      (err: Coded) => err.code === 'INVALID_INPUT' && /integers/.test(err.message));
    await assert.rejects(alice.call('tensor/create', { shape: [1], dtype: 'f32', data: ['nan'] }),
      (err: Coded) => err.code === 'INVALID_INPUT');
  } finally {
    await node.close();
  }
});

test('the MLP example trains on a remote node through tensor/run, and leaves no handle behind', async () => {
  const { trainRemote } = await import('../../examples/mlp.ts');
  const node = await startNode();
  try {
    const alice = clientFor(node, ALICE);
    const losses = await trainRemote((op, input) => alice.call(op, input), 30, () => {});
    assert.equal(losses.length, 30);
    assert.ok(losses[29]! < losses[0]! / 2, `loss falls: ${losses[0]} → ${losses[29]}`);
    assert.deepEqual(engineState(node.fixture.actor()), { handles: 0, liveStorages: 0 });
  } finally {
    await node.close();
  }
});
