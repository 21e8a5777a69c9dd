// The pkarr service on real nodes: the store's bound and eviction, publish on node A and resolve on
// node B through A as its relay (the node's HTTP front end over pinned TLS), a private Mainline DHT
// of nodes on 127.0.0.1 bootstrapped from each other (never the public one), and messages another
// node may not send.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { PkarrStore } from '../../actors/pkarr/store.ts';
import { nodeIdFromPublicKey } from '../../lib/nodeId.ts';
import { buildNodeDnsPacket, readNodeRecords } from '../../lib/pkarr/records.ts';
import { decodeSignedPacket, signWithSeed, verifySignedPacket } from '../../lib/pkarr/signedPacket.ts';
import { startPkarrNode, type PkarrNode } from './helpers.ts';

const nodes: PkarrNode[] = [];
after(async () => {
  await Promise.all(nodes.map((n) => n.stop().catch(() => {})));
  for (const n of nodes) n.cleanup();
});

async function node(pkarr: Parameters<typeof startPkarrNode>[0] = {}): Promise<PkarrNode> {
  const n = await startPkarrNode(pkarr);
  nodes.push(n);
  return n;
}

function key(): { seed: Uint8Array; z32: string } {
  const seed = new Uint8Array(randomBytes(32));
  return { seed, z32: nodeIdFromPublicKey(ed25519.getPublicKey(seed)) };
}

test('the store keeps at most maxRecords, evicting the least recently stored; a refresh makes a record young', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-pkarr-store-'));
  const store = new PkarrStore(dir, { maxRecords: 3 });
  try {
    const keys = Array.from({ length: 5 }, key);
    const packetOf = (k: { seed: Uint8Array; z32: string }, ts: number) => decodeSignedPacket(signWithSeed(k.seed, ts, buildNodeDnsPacket(k.z32, [{ host: '10.0.0.1', port: 1 }])));
    for (const k of keys.slice(0, 3)) assert.equal((await store.put(k.z32, packetOf(k, 10))).outcome, 'stored');
    // Key 0 is refreshed (a newer packet): it is now the youngest; key 1 is the oldest.
    assert.equal((await store.put(keys[0]!.z32, packetOf(keys[0]!, 11))).outcome, 'stored');
    const r = await store.put(keys[3]!.z32, packetOf(keys[3]!, 10));
    assert.deepEqual(r, { outcome: 'stored', evicted: 1 });
    assert.equal(store.get(keys[1]!.z32), null, 'the least recently stored record went');
    assert.ok(store.get(keys[0]!.z32));
    await store.put(keys[4]!.z32, packetOf(keys[4]!, 10));
    assert.equal(store.get(keys[2]!.z32), null);
    assert.equal(store.count(), 3);
    assert.equal((await store.put(keys[0]!.z32, packetOf(keys[0]!, 5))).outcome, 'older');
  } finally {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('pkarr publish on node A; node B resolves A through A as its relay (pinned TLS) and stores it', async () => {
  const a = await node();
  const b = await node();
  const published = await a.node.bus.request('pkarr', 'pkarr.publishSelf', {}, { deadlineMs: 20_000 });
  assert.equal(published.publicKey, a.node.nodeId);
  assert.equal(published.dht, false, 'the DHT is off by default');
  const own = verifySignedPacket(a.node.nodeId, published.packet);
  assert.deepEqual(readNodeRecords(own.dnsPacket, a.node.nodeId).addresses, [{ host: '127.0.0.1', port: a.node.tcpPort }]);
  const stored = await a.node.bus.request('pkarr', 'pkarr.get', { publicKey: a.node.nodeId }, { deadlineMs: 5_000 });
  assert.deepEqual(stored.packet, published.packet);

  // B knows nothing of A yet.
  const none = await b.node.bus.request('pkarr', 'pkarr.resolve', { publicKey: a.node.nodeId, localOnly: true }, { deadlineMs: 5_000 });
  assert.deepEqual(none, { packet: null, source: null });
  const r = await b.node.bus.request('pkarr', 'pkarr.resolve', { publicKey: a.node.nodeId, relays: [a.address] }, { deadlineMs: 20_000 });
  assert.equal(r.source, 'relay');
  assert.deepEqual(r.packet, published.packet);
  // Stored on B: the next resolve is local.
  const again = await b.node.bus.request('pkarr', 'pkarr.resolve', { publicKey: a.node.nodeId }, { deadlineMs: 5_000 });
  assert.equal(again.source, 'local');

  // A publishes again (newer); B, asked for a fresh answer, gets the newer one.
  const second = await a.node.bus.request('pkarr', 'pkarr.publishSelf', { addresses: ['127.0.0.1:1', '[::1]:2'] }, { deadlineMs: 20_000 });
  assert.ok(second.timestamp > published.timestamp);
  const fresh = await b.node.bus.request('pkarr', 'pkarr.resolve', { publicKey: a.node.nodeId, relays: [a.address], fresh: true }, { deadlineMs: 20_000 });
  assert.deepEqual(fresh.packet, second.packet);

  // A relay that holds nothing, and a relay address that is not one.
  const unknown = await b.node.bus.request('pkarr', 'pkarr.resolve', { publicKey: key().z32, relays: [a.address] }, { deadlineMs: 20_000 });
  assert.deepEqual(unknown, { packet: null, source: null });
  await assert.rejects(b.node.bus.request('pkarr', 'pkarr.resolve', { publicKey: key().z32, relays: ['not an address'] }, { deadlineMs: 5_000 }), /INVALID_INPUT|address/);
});

test('B publishes to A as its relay: A stores the packet (pkarr.publishSelf relays)', async () => {
  const a = await node();
  const b = await node({ relays: [] });
  const r = await b.node.bus.request('pkarr', 'pkarr.publishSelf', { relays: [a.address] }, { deadlineMs: 20_000 });
  assert.deepEqual(r.relays.map((x) => [x.url, x.ok]), [[a.address, true]], JSON.stringify(r.relays));
  const onA = await a.node.bus.request('pkarr', 'pkarr.get', { publicKey: b.node.nodeId }, { deadlineMs: 5_000 });
  assert.deepEqual(onA.packet, r.packet);
});

test('[pkarr] publish = true: the node publishes its own packet to its relays by itself after start', async () => {
  const relay = await node();
  const a = await node({ publish: true, relays: [relay.address] });
  // Bounded wait (not a timing assertion): the first publish is scheduled 1 s after start.
  let packet: Uint8Array | null = null;
  for (let i = 0; i < 100 && packet === null; i++) {
    packet = (await relay.node.bus.request('pkarr', 'pkarr.get', { publicKey: a.node.nodeId }, { deadlineMs: 5_000 })).packet;
    if (packet === null) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(packet, 'the relay got the packet');
  const p = verifySignedPacket(a.node.nodeId, packet);
  assert.deepEqual(readNodeRecords(p.dnsPacket, a.node.nodeId).addresses, [{ host: '127.0.0.1', port: a.node.tcpPort }]);
});

test('an empty dhtBootstrap joins nobody: never bittorrent-dht\'s public routers', async () => {
  const { PkarrDht } = await import('../../actors/pkarr/dht.ts');
  const alone = await PkarrDht.start({ listen: '127.0.0.1:0', bootstrap: [] });
  const joined = await PkarrDht.start({ listen: '127.0.0.1:0', bootstrap: [alone.address()] });
  try {
    assert.deepEqual(alone.bootstrapList(), []);
    assert.deepEqual(joined.bootstrapList(), [alone.address()]);
  } finally {
    await Promise.all([alone.destroy(), joined.destroy()]);
  }
  const { DEFAULT_CONFIG } = await import('../../supervisors/config.ts');
  assert.equal(DEFAULT_CONFIG.pkarr.dht, false);
  assert.deepEqual(DEFAULT_CONFIG.pkarr.dhtBootstrap, []);
});

test('a private Mainline DHT on 127.0.0.1: A publishes, D (knowing only the first DHT node) resolves', async () => {
  const first = await node({ dht: true, dhtListen: '127.0.0.1:0', dhtBootstrap: [] });
  const { dht: firstDht } = await first.node.bus.request('pkarr', 'pkarr.stats', {}, { deadlineMs: 5_000 });
  assert.ok(firstDht && firstDht.startsWith('127.0.0.1:'), `DHT socket ${firstDht}`);
  const joined = { dht: true, dhtListen: '127.0.0.1:0', dhtBootstrap: [firstDht] };
  const [a, b, c, d] = await Promise.all([node(joined), node(joined), node(joined), node(joined)]);
  const published = await a!.node.bus.request('pkarr', 'pkarr.publishSelf', {}, { deadlineMs: 30_000 });
  assert.equal(published.dht, true, published.dhtDetail);
  assert.match(published.dhtDetail ?? '', /stored on \d+ DHT node/);
  const r = await d!.node.bus.request('pkarr', 'pkarr.resolve', { publicKey: a!.node.nodeId, relays: [] }, { deadlineMs: 30_000 });
  assert.equal(r.source, 'dht');
  assert.deepEqual(r.packet, published.packet);
  // A relay PUT on B goes into the DHT too (Pkarr-Dht-Stored-Nodes); C then finds it there.
  const k = key();
  const bytes = signWithSeed(k.seed, 1_000, buildNodeDnsPacket(k.z32, [{ host: '192.0.2.1', port: 9 }]));
  const put = await b!.node.bus.request('pkarr', 'pkarr.put', { publicKey: k.z32, packet: bytes, publish: true }, { deadlineMs: 30_000 });
  assert.equal(put.stored, true);
  assert.ok((put.dhtNodes ?? 0) >= 1, `dhtNodes ${put.dhtNodes}`);
  const viaDht = await c!.node.bus.request('pkarr', 'pkarr.resolve', { publicKey: k.z32, relays: [] }, { deadlineMs: 30_000 });
  assert.deepEqual(viaDht, { packet: bytes, source: 'dht' });
});

test('another node may read and store packets over the remote bus, but not make this node resolve or publish', async () => {
  const a = await node();
  const from = { node: key().z32 };
  const got = await a.node.bus.request('pkarr', 'pkarr.get', { publicKey: a.node.nodeId }, { deadlineMs: 5_000, from });
  assert.deepEqual(got, { packet: null });
  await assert.rejects(a.node.bus.request('pkarr', 'pkarr.publishSelf', {}, { deadlineMs: 5_000, from }), (err: Error & { code?: string }) => err.code === 'FORBIDDEN');
  await assert.rejects(a.node.bus.request('pkarr', 'pkarr.resolve', { publicKey: a.node.nodeId }, { deadlineMs: 5_000, from }), (err: Error & { code?: string }) => err.code === 'FORBIDDEN');
});
