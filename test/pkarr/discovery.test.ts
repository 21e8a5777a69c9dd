// Two nodes find each other by id alone: each publishes its signed packet (a private Mainline DHT on
// 127.0.0.1, or a relay node), and `connect('NODEID')` / `alknet connect NODEID` look it up, dial the
// published address with the key pinned, and remember it in known_nodes. A stale known_nodes entry
// falls through to the DHT; an id nobody published fails in one line.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { connect } from '../../protocols/call/connect.ts';
import { readKnownNodes } from '../../actors/peers/knownNodes.ts';
import { nodeIdFromPublicKey } from '../../lib/nodeId.ts';
import { echoProtocol, homeIdentity, makeHome, type TestHome } from '../node/helpers.ts';
import { alknet } from '../cli/run.ts';
import { startPkarrNode, type PkarrNode } from './helpers.ts';

const started: PkarrNode[] = [];
const homes: TestHome[] = [];
let first: PkarrNode;
let a: PkarrNode;
let b: PkarrNode;
let relay: PkarrNode;
let firstDht: string;

before(async () => {
  first = await startPkarrNode({ dht: true, dhtListen: '127.0.0.1:0' });
  started.push(first);
  firstDht = (await first.node.bus.request('pkarr', 'pkarr.stats', {}, { deadlineMs: 5_000 })).dht!;
  const joined = { dht: true, dhtListen: '127.0.0.1:0', dhtBootstrap: [firstDht] };
  [a, b, relay] = await Promise.all([
    startPkarrNode(joined, { protocols: [echoProtocol('test/echo')] }),
    startPkarrNode(joined),
    startPkarrNode(),
  ]);
  started.push(a, b, relay);
});
after(async () => {
  await Promise.all(started.map((n) => n.stop().catch(() => {})));
  for (const n of started) n.cleanup();
  for (const h of homes) h.cleanup();
});

/** A valid key nobody publishes. */
function nobodyId(): string {
  return nodeIdFromPublicKey(ed25519.getPublicKey(new Uint8Array(randomBytes(32))));
}

async function home(): Promise<TestHome> {
  const h = await makeHome('alknet-pkarr-client-');
  homes.push(h);
  return h;
}

test('A and B find each other by id alone through the private DHT, and remember where', async () => {
  for (const [from, to] of [[b, a], [a, b]] as const) {
    const published = await to.node.bus.request('pkarr', 'pkarr.publishSelf', {}, { deadlineMs: 30_000 });
    assert.equal(published.dht, true, published.dhtDetail);
    // `from` dials as itself, with nothing but the id of `to` and the DHT node it joins through.
    const knownNodesPath = path.join(from.home.home, 'known_nodes');
    const client = await connect(to.node.nodeId, {
      identity: await homeIdentity(from.home.home),
      knownNodesPath,
      discovery: { dhtBootstrap: [firstDht], dhtListen: '127.0.0.1:0', dhtQueryTimeoutMs: 250 },
    });
    try {
      const info = await client.call<{ nodeId: string }>('node/info', {});
      assert.equal(info.nodeId, to.node.nodeId);
      assert.equal(client.nodeId, to.node.nodeId);
    } finally {
      await client.close();
    }
    const known = await readKnownNodes(knownNodesPath);
    assert.ok(known.some((e) => e.nodeId === to.node.nodeId && e.address === `127.0.0.1:${to.node.tcpPort}`), JSON.stringify(known));
  }
});

test('through a relay node: A publishes to the relay; a client with only the relay and the id connects', async () => {
  const r = await a.node.bus.request('pkarr', 'pkarr.publishSelf', { relays: [relay.address] }, { deadlineMs: 30_000 });
  assert.deepEqual(r.relays.map((x) => x.ok), [true]);
  const h = await home();
  const client = await connect(a.node.nodeId, { knownNodesPath: path.join(h.home, 'known_nodes'), discovery: { relays: [relay.address] } });
  try {
    assert.equal((await client.call<{ nodeId: string }>('node/info', {})).nodeId, a.node.nodeId);
  } finally {
    await client.close();
  }
});

test('a stale known_nodes address is tried first, then the DHT answer', async () => {
  await a.node.bus.request('pkarr', 'pkarr.publishSelf', {}, { deadlineMs: 30_000 });
  const h = await home();
  const knownNodesPath = path.join(h.home, 'known_nodes');
  fs.writeFileSync(knownNodesPath, `127.0.0.1:1 ${a.node.nodeId}\n`);
  // Over TLS a closed port is refused at once (QUIC would wait out the dial deadline).
  const client = await connect(a.node.nodeId, { knownNodesPath, transport: 'tls', discovery: { dhtBootstrap: [firstDht], dhtListen: '127.0.0.1:0', dhtQueryTimeoutMs: 250 } });
  try {
    assert.equal((await client.call<{ nodeId: string }>('node/info', {})).nodeId, a.node.nodeId);
  } finally {
    await client.close();
  }
});

test("through DNS: the relay node's DNS front end answers _alknet.<id> from the packet it stores; connect by id", async () => {
  const dnsNode = await startPkarrNode({}, { dns: '127.0.0.1:0' });
  started.push(dnsNode);
  assert.ok(dnsNode.node.dns, 'the node serves plain DNS');
  // A publishes to that node as its relay; the client knows only its DNS server.
  const r = await a.node.bus.request('pkarr', 'pkarr.publishSelf', { relays: [dnsNode.address] }, { deadlineMs: 30_000 });
  assert.deepEqual(r.relays.map((x) => x.ok), [true]);
  const h = await home();
  const client = await connect(a.node.nodeId, { knownNodesPath: path.join(h.home, 'known_nodes'), discovery: { dnsServers: [dnsNode.node.dns!] } });
  try {
    assert.equal((await client.call<{ nodeId: string }>('node/info', {})).nodeId, a.node.nodeId);
  } finally {
    await client.close();
  }
});

test('an id nobody published: one line saying what was asked', async () => {
  const h = await home();
  const nobody = nobodyId();
  await assert.rejects(
    connect(nobody, { knownNodesPath: path.join(h.home, 'known_nodes'), discovery: { relays: [relay.address], dhtBootstrap: [firstDht], dhtListen: '127.0.0.1:0', dhtQueryTimeoutMs: 250 } }),
    (err: Error) => /cannot find node/.test(err.message) && !err.message.includes('\n'),
  );
  await assert.rejects(connect(nobody, { knownNodesPath: path.join(h.home, 'known_nodes'), discovery: {} }), /no relays, DHT or DNS servers are configured/);
});

test('alknet connect NODEID --alpn: the CLI finds the node through [pkarr] relays of its home', async () => {
  await a.node.bus.request('pkarr', 'pkarr.publishSelf', { relays: [relay.address] }, { deadlineMs: 30_000 });
  const h = await home();
  fs.writeFileSync(path.join(h.home, 'config.toml'), `[pkarr]\nrelays = ["${relay.address}"]\n`);
  const r = await alknet(['--home', h.home, 'connect', a.node.nodeId, '--alpn', 'test/echo', '--tls', '-v'], { stdin: 'hello by id\n' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'hello by id\n');
  assert.match(r.stderr, new RegExp(`found ${a.node.nodeId} at 127\\.0\\.0\\.1:${a.node.tcpPort}`));
  const unknown = await alknet(['--home', h.home, 'connect', nobodyId(), '--alpn', 'test/echo']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^alknet: cannot find node \w{52}: .*no signed packet from 1 relay/m);
  // 52 z-base-32 characters that are no Ed25519 key: refused before asking anyone.
  const notAKey = await alknet(['--home', h.home, 'connect', nodeIdFromPublicKey(Buffer.alloc(32, 2)), '--alpn', 'test/echo']);
  assert.equal(notAKey.code, 1);
  assert.match(notAKey.stderr, /not an Ed25519 public key/);
});
