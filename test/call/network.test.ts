// alknet/call between two real nodes on 127.0.0.1: the client library over QUIC and TLS, scopes
// from peers.toml picked up without a restart, subscriptions, reconnect after the connection drops,
// the remote bus, tensor handles freed with their connection, and the CLI.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Type } from '@sinclair/typebox';
import { BIN, PASSPHRASE, homeIdentity, makeHome, silentLogger, type TestHome } from '../node/helpers.ts';
import { startNode, type RunningNode } from '../../supervisors/startNode.ts';
import { connect, type NodeClient } from '../../protocols/call/connect.ts';
import { defineOperation } from '../../operations/catalogue.ts';
import { addPeer } from '../../actors/peers/peersFile.ts';
import { ephemeralKeyPair, type NodeKeyPair } from '../../actors/listener/tlsIdentity.ts';
import { nodeIdFromPublicKey } from '../../actors/vault/nodeId.ts';

const ticks = defineOperation({
  name: 'test/ticks',
  type: 'subscription',
  input: Type.Object({ n: Type.Integer({ minimum: 0, maximum: 100 }) }),
  output: Type.Object({ i: Type.Integer() }),
  scopes: [],
  visibility: 'external',
  async *handler({ n }) {
    for (let i = 0; i < n; i++) yield { i };
  },
});

describe('alknet/call between two nodes', () => {
  let homeA: TestHome;
  let homeB: TestHome;
  let a: RunningNode;
  let b: RunningNode;
  let keyB: NodeKeyPair;
  let idB: string;
  const clients: NodeClient[] = [];

  const clientOfB = async (transport: 'quic' | 'tls' = 'quic', address = `${a.nodeId}@${a.address}`) => {
    const client = await connect(address, { transport, identity: keyB, knownNodesPath: path.join(homeB.home, 'known_nodes') });
    clients.push(client);
    return client;
  };

  before(async () => {
    homeA = await makeHome('alknet-call-a-');
    homeB = await makeHome('alknet-call-b-');
    a = await startNode({ home: homeA.home, passphrase: PASSPHRASE, listen: '127.0.0.1:0', tensor: 'js', logger: silentLogger() });
    b = await startNode({ home: homeB.home, passphrase: PASSPHRASE, listen: '127.0.0.1:0', tensor: false, logger: silentLogger() });
    a.operations.register([ticks], 'test');
    keyB = await homeIdentity(homeB.home);
    idB = nodeIdFromPublicKey(keyB.publicKey);
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all([a?.stop(), b?.stop()]);
    homeA?.cleanup();
    homeB?.cleanup();
  });

  test('node/info over QUIC and over TLS names the node', async () => {
    for (const transport of ['quic', 'tls'] as const) {
      const client = await clientOfB(transport);
      const info = await client.call<{ nodeId: string; alpns: string[]; listen: { quic: string } }>('node/info', {});
      assert.equal(info.nodeId, a.nodeId, transport);
      assert.ok(info.alpns.includes('alknet/call'));
      assert.equal(info.listen.quic, a.address);
    }
  });

  test('a subscription streams every output then completes, over QUIC and over TLS, next to calls', async () => {
    for (const transport of ['quic', 'tls'] as const) {
      const client = await clientOfB(transport);
      const seen: number[] = [];
      const info = client.call<{ nodeId: string }>('node/info', {});
      for await (const { i } of client.subscribe<{ i: number }>('test/ticks', { n: 5 })) seen.push(i);
      assert.deepEqual(seen, [0, 1, 2, 3, 4], transport);
      assert.equal((await info).nodeId, a.nodeId, transport);
      assert.equal((await client.call<{ nodeId: string }>('node/info', {})).nodeId, a.nodeId, `${transport}: the shared stream goes on`);
    }
  });

  test('FORBIDDEN names the scope; a peers.toml grant works without a restart', async () => {
    const client = await clientOfB();
    await assert.rejects(client.call('node/actors', {}), (err: { code?: string; message: string }) => err.code === 'FORBIDDEN' && /admin/.test(err.message));
    addPeer(homeA.home, idB, { scopes: ['admin'] });
    const { root } = await client.call<{ root: { id: string; children: { id: string }[] } }>('node/actors', {});
    assert.equal(root.id, 'node');
    assert.deepEqual(root.children.map((c) => c.id).sort(), ['listener', 'protocols', 'services']);
  });

  test('a call after the pooled connection dropped dials again', async () => {
    const client = await clientOfB();
    await client.call('node/info', {});
    // The server side closes every connection of B: the next call must reconnect by itself.
    await a.stop().catch(() => {});
    a = await startNode({ home: homeA.home, passphrase: PASSPHRASE, listen: a.address, tensor: 'js', logger: silentLogger() });
    a.operations.register([ticks], 'test');
    const info = await client.call<{ nodeId: string }>('node/info', {}, { deadlineMs: 10_000 });
    assert.equal(info.nodeId, a.nodeId);
  });

  test('the remote bus reaches the other node\'s vault, and only what it serves remotely', async () => {
    // B meets A once by bare address (recorded in known_nodes), and A grants B the bus scope.
    const first = await clientOfB('quic', a.address);
    await first.call('node/info', {});
    addPeer(homeA.home, idB, { scopes: ['admin', 'bus'] });
    const reply = await b.bus.request({ node: a.nodeId, actor: 'vault' }, 'vault.publicKey', { path: "m/74'/0'/0'/0'" }, { deadlineMs: 10_000 });
    assert.equal(Buffer.from(reply.publicKey, 'hex').length, 32);
    assert.equal(nodeIdFromPublicKey(Buffer.from(reply.publicKey, 'hex')), a.nodeId);
    await assert.rejects(b.bus.request({ node: a.nodeId, actor: 'vault' }, 'vault.tlsIdentity', {}, { deadlineMs: 10_000 }), (err: { code?: string }) => err.code === 'FORBIDDEN');
  });

  test('tensor/run from the other node; its handles are freed when its connection closes', async () => {
    // A third key of its own: B's key also holds the remote bus's pooled connection to A.
    const keyC = ephemeralKeyPair();
    addPeer(homeA.home, nodeIdFromPublicKey(keyC.publicKey), { scopes: ['tensor'] });
    const clientOfC = async () => connect(`${a.nodeId}@${a.address}`, { identity: keyC, knownNodesPath: path.join(homeB.home, 'known_nodes') });
    const client = await clientOfC();
    const run = await client.call<{ outputs: Record<string, { shape: number[]; data: number[] | Uint8Array }>; handles?: Record<string, { handle: string }> }>('tensor/run', {
      inputs: { a: { shape: [2, 2], dtype: 'f32', data: [1, 2, 3, 4] }, b: { shape: [2, 2], dtype: 'f32', data: [1, 0, 0, 1] } },
      graph: [{ op: 'matmul', args: ['a', 'b'], out: 'c' }],
      outputs: ['c'],
      keep: ['c'],
    });
    assert.deepEqual(run.outputs.c!.shape, [2, 2]);
    const kept = JSON.stringify(run).match(/"handle":"([^"]+)"/)?.[1];
    assert.ok(kept, `a kept handle in ${JSON.stringify(run).slice(0, 200)}`);
    await client.call('tensor/read', { handle: kept, encoding: 'json' });
    // A frees C's handles once C's last connection to it has closed (A publishes peer.disconnected).
    const idC = nodeIdFromPublicKey(keyC.publicKey);
    const disconnected = new Promise<void>((resolve) => {
      const off = a.bus.subscribe('peer.disconnected', ({ nodeId }) => {
        if (nodeId === idC) {
          off();
          resolve();
        }
      });
    });
    await client.close();
    await disconnected;
    const again = await clientOfC();
    clients.push(again);
    const freed = await again.call('tensor/read', { handle: kept, encoding: 'json' }).then(() => false, (err: { code?: string }) => err.code === 'NOT_FOUND');
    assert.ok(freed, 'the handle was freed after its connection closed');
  });

  // Async child processes: a synchronous spawn would block this process, which also runs node A.
  const cli = async (...args: string[]) => {
    const env = { ...process.env, ALKNET_PASSPHRASE: PASSPHRASE };
    return promisify(execFile)(process.execPath, [BIN, '--home', homeB.home, ...args], { env, encoding: 'utf8', timeout: 30_000 }).then(
      ({ stdout, stderr }) => ({ status: 0, stdout, stderr }),
      (err: { code?: number; stdout: string; stderr: string }) => ({ status: err.code ?? -1, stdout: err.stdout, stderr: err.stderr }),
    );
  };

  test('the CLI prints the output as JSON, and an error as CODE: message with exit 1', async () => {
    const ok = await cli('call', `${a.nodeId}@${a.address}`, 'node/info');
    assert.equal(ok.status, 0, `call node/info: ${ok.stderr}`);
    assert.equal(JSON.parse(ok.stdout).nodeId, a.nodeId);
    const bad = await cli('call', `${a.nodeId}@${a.address}`, 'blobs/stat', '{"hash":"nope"}');
    assert.equal(bad.status, 1, `bad call: ${bad.stderr}`);
    assert.match(bad.stderr, /^alknet: INVALID_INPUT: .*hash/);
    assert.equal(bad.stderr.trim().split('\n').length, 1);
    const ops = await cli('ops', `${a.nodeId}@${a.address}`, '--json');
    assert.equal(ops.status, 0, `ops: ${ops.stderr}`);
    const names = (JSON.parse(ops.stdout) as { name: string }[]).map((o) => o.name);
    assert.ok(names.includes('node/info') && names.includes('test/ticks'), names.join(','));
  });
});
