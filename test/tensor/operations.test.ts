// tensor/* operations through the real call protocol over TCP on 127.0.0.1: a second "node" runs
// tensor/run on the first, handles are per caller, quotas hold, and no handle survives freeOwner.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { OperationCatalogue, type Caller } from '../../operations/catalogue.ts';
import { serveCallStream } from '../../protocols/call/server.ts';
import { CallClient } from '../../protocols/call/client.ts';
import { createEngine, type Engine } from '../../actors/tensor/index.ts';
import { tensorOperations, type TensorService } from '../../actors/tensor/operations.ts';

const ALICE = 'ybndrfg8ejkmcpqxot1uwisza345h769ybndrfg8ejkmcpqxot1u';
const BOB = 'h769ybndrfg8ejkmcpqxot1uwisza345h769ybndrfg8ejkmcpqx';

interface Node {
  engine: Engine;
  service: TensorService;
  port: number;
  server: net.Server;
  close(): Promise<void>;
}

/** A node serving the tensor operations; the first line a client sends names its node id. */
async function startNode(options: Parameters<typeof tensorOperations>[1] = {}): Promise<Node> {
  const engine = await createEngine({ backend: 'js' });
  const service = tensorOperations(engine, options);
  const registry = new OperationCatalogue();
  registry.register(service.operations);
  const server = net.createServer((socket) => {
    // Test stand-in for the listener's peer identification: a 52-byte node id, then the call stream.
    socket.once('readable', () => {
      const id = socket.read(52) as Buffer | null;
      if (!id) return socket.destroy();
      const nodeId = id.toString();
      const scopes = new Set(nodeId === BOB ? [] : ['tensor']);
      const caller: Caller = { nodeId, scopes };
      void serveCallStream(socket, { registry, caller });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    engine, service, port, server,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
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

test('a second node runs tensor/run on the first (JSON numbers)', async () => {
  const node = await startNode();
  try {
    const out = await clientFor(node, ALICE).call<{ outputs: Record<string, { shape: number[]; data: number[] }> }>('tensor/run', RUN);
    assert.deepEqual(out.outputs.e, { shape: [2, 2], dtype: 'f32', data: [14, 25, 20, 31] });
    const f = out.outputs.f!.data;
    assert.ok(Math.abs(f[0]! - 1 / (1 + Math.exp(11))) < 1e-6);
    assert.equal(node.engine.liveStorages, 0, 'a run without keep leaves nothing allocated');
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
        graph: [{ op: 'transpose', args: ['x'], attrs: { dim0: 0, dim1: 1 }, out: 't' }, { op: 'mul', args: ['t', 'x'], out: 'y' }],
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
    await assert.rejects(other.call('tensor/read', { handle: t.handle }), /NOT_FOUND|no tensor handle/);
    assert.deepEqual(await alice.call('tensor/free', { handles: [t.handle] }), { freed: 1 });
    assert.equal(node.service.handleCount(), 0);
    assert.equal(node.engine.liveStorages, 0);
  } finally {
    await node.close();
  }
});

test('no handle survives its connection: freeOwner releases every handle and its memory', async () => {
  const node = await startNode();
  try {
    const alice = clientFor(node, ALICE);
    for (let i = 0; i < 3; i++) await alice.call('tensor/create', { shape: [4], dtype: 'i32', data: [1, 2, 3, i] });
    assert.equal(node.service.handleCount(ALICE), 3);
    assert.ok(node.engine.liveBytes > 0);
    assert.equal(node.service.freeOwner(ALICE), 3);
    assert.equal(node.service.handleCount(), 0);
    assert.equal(node.engine.liveStorages, 0);
  } finally {
    await node.close();
  }
});

test('scopes, quotas and bad input give clear errors', async () => {
  const node = await startNode({ quotaBytes: 64, maxElements: 100 });
  try {
    const bob = clientFor(node, BOB); // no `tensor` scope
    await assert.rejects(bob.call('tensor/run', RUN), (err: Error & { code?: string }) => err.code === 'FORBIDDEN');
    const info = await bob.call<{ backend: string }>('tensor/info', {});
    assert.equal(info.backend, 'js');
    const alice = clientFor(node, ALICE);
    await assert.rejects(alice.call('tensor/create', { shape: [20], dtype: 'f32', data: new Array(20).fill(0) }),
      (err: Error & { code?: string }) => err.code === 'BUSY' && /quota/.test(err.message));
    await assert.rejects(alice.call('tensor/create', { shape: [200], dtype: 'f32', data: [] }),
      (err: Error & { code?: string }) => err.code === 'INVALID_INPUT' && /limit/.test(err.message));
    await assert.rejects(alice.call('tensor/create', { shape: [2], dtype: 'f32', data: [1, 2, 3] }),
      (err: Error & { code?: string }) => err.code === 'INVALID_INPUT');
    await assert.rejects(alice.call('tensor/run', { ...RUN, graph: [{ op: 'nope', args: ['a'], out: 'z' }], outputs: ['z'] }),
      (err: Error & { code?: string }) => err.code === 'INVALID_INPUT' && /unknown op/.test(err.message));
    await assert.rejects(alice.call('tensor/run', { ...RUN, graph: [{ op: 'matmul', args: ['a', 'a'], out: 'z' }], outputs: ['z'] }),
      (err: Error & { code?: string }) => err.code === 'INVALID_INPUT' && /inner sizes/.test(err.message));
    await assert.rejects(alice.call('tensor/run', { ...RUN, graph: [{ op: 'exp', args: ['missing'], out: 'z' }], outputs: ['z'] }),
      (err: Error & { code?: string }) => err.code === 'INVALID_INPUT');
    assert.equal(node.engine.liveStorages, 0, 'failed runs free what they allocated');
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
    assert.equal(node.service.handleCount(), 0);
    assert.equal(node.engine.liveStorages, 0);
  } finally {
    await node.close();
  }
});
