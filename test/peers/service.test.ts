// The peers service by message: who a caller is and what it may do, ALPN rules from peers.toml,
// live reload, the node's own key, and known_nodes lookups. The actor runs under a real bus with a
// stand-in vault that answers vault.identity (the only thing peers asks of it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createActor } from 'xstate';
import { createBus } from '../../bus/index.ts';
import { peersMachine } from '../../actors/peers/machine.ts';
import { addPeer, addToken, parsePeersToml, stringifyPeersConfig } from '../../actors/peers/peersFile.ts';
import { nodeIdFromPublicKey } from '../../actors/vault/nodeId.ts';
import { newKeys } from '../listener/fixtures.ts';

function someNodeId(): string {
  return nodeIdFromPublicKey(newKeys().publicKey);
}

async function startPeers(home: string, selfId: string) {
  const bus = createBus();
  bus.registerHandler('vault', { 'vault.identity': async () => ({ nodeId: selfId, publicKey: '0'.repeat(64), fingerprint: '', sshHostPublicKey: '0'.repeat(64), messagingPublicKey: '0'.repeat(64) }) });
  const actor = createActor(peersMachine, { input: { home, bus } });
  actor.start();
  bus.register('peers', actor);
  return { bus, actor, stop: () => { actor.stop(); bus.close(); } };
}

test('peers.authorize: anonymous, listed peers, tokens, the node itself, ALPN rules, live reload', async () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-peers-'));
  const self = someNodeId();
  const friend = someNodeId();
  const stranger = someNodeId();
  addPeer(home, friend, { scopes: ['tensor'] });
  const { token } = addToken(home, 'ci', ['blobs:read']);
  const { bus, stop } = await startPeers(home, self);
  try {
    const ask = (req: Parameters<typeof bus.request<'peers.authorize'>>[2]) => bus.request('peers', 'peers.authorize', req);
    assert.deepEqual(await ask({ nodeId: stranger, alpn: 'alknet/call' }), { allowed: true, nodeId: stranger, scopes: [], known: false });
    assert.deepEqual(await ask({ nodeId: friend, alpn: 'alknet/call' }), { allowed: true, nodeId: friend, scopes: ['tensor'], known: true });
    assert.deepEqual(await ask({ nodeId: self, alpn: 'alknet/call' }), { allowed: true, nodeId: self, scopes: ['*'], known: true });
    assert.deepEqual(await ask({ nodeId: null, alpn: 'alknet/call', token }), { allowed: true, nodeId: null, scopes: ['blobs:read'], known: false });
    const badToken = await ask({ nodeId: null, alpn: 'alknet/call', token: 'alk_' + 'x'.repeat(43) });
    assert.equal(badToken.allowed, false);
    assert.ok(!badToken.allowed && !badToken.reason.includes('xxxx'), 'the token is not echoed');
    const missing = await ask({ nodeId: friend, alpn: 'alknet/call', scopes: ['git:write'] });
    assert.deepEqual(missing, { allowed: false, reason: 'needs scope "git:write"' });

    // ALPN rules, picked up without a restart.
    fs.writeFileSync(
      path.join(home, 'peers.toml'),
      `[anonymous]\ndenyAlpns = ["alknet/ssh"]\n[peers.${friend}]\nscopes = ["tensor"]\nalpns = ["alknet/call"]\n`,
    );
    assert.equal((await ask({ nodeId: stranger, alpn: 'alknet/ssh' })).allowed, false);
    assert.equal((await ask({ nodeId: stranger, alpn: 'alknet/call' })).allowed, true);
    assert.equal((await ask({ nodeId: friend, alpn: 'alknet/blobs' })).allowed, false, 'not on the peer allow-list');
    assert.equal((await ask({ nodeId: friend, alpn: 'alknet/call' })).allowed, true);
    assert.equal((await ask({ nodeId: self, alpn: 'alknet/ssh' })).allowed, true, 'the node itself is never refused');

    // A malformed edit keeps the last good grants.
    fs.writeFileSync(path.join(home, 'peers.toml'), '[peers.nope\n');
    assert.equal((await ask({ nodeId: friend, alpn: 'alknet/blobs' })).allowed, false, 'still the last good rules');
  } finally {
    stop();
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test('peers.resolve reads known_nodes; peers.list never shows tokens', async () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-peers-'));
  const other = someNodeId();
  fs.writeFileSync(path.join(home, 'known_nodes'), `127.0.0.1:4433 ${other}\n`);
  addPeer(home, other, { scopes: ['bus'] });
  addToken(home, 'secret-label', ['tensor']);
  const { bus, stop } = await startPeers(home, someNodeId());
  try {
    assert.deepEqual(await bus.request('peers', 'peers.resolve', { nodeId: other }), { address: `${other}@127.0.0.1:4433` });
    assert.deepEqual(await bus.request('peers', 'peers.resolve', { nodeId: someNodeId() }), { address: null });
    const list = await bus.request('peers', 'peers.list', {});
    assert.deepEqual(list.peers.map((p) => p.nodeId), [other]);
    assert.ok(!JSON.stringify(list).includes('sha256'), 'no token hashes');
  } finally {
    stop();
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test('peers.toml ALPN rules: parsed, checked, written back; a bad ALPN list is a clear error', () => {
  const id = someNodeId();
  const config = parsePeersToml(`[anonymous]\nscopes = []\nalpns = ["alknet/call"]\n[peers.${id}]\nscopes = ["ssh"]\ndenyAlpns = ["alknet/blobs"]\n`);
  assert.deepEqual(config.anonymousAlpns, { alpns: ['alknet/call'] });
  assert.deepEqual(config.peers[0], { nodeId: id, scopes: ['ssh'], enabled: true, denyAlpns: ['alknet/blobs'] });
  assert.deepEqual(parsePeersToml(stringifyPeersConfig(config)), config, 'round trip');
  assert.throws(() => parsePeersToml(`[peers.${id}]\nalpns = "alknet/call"\n`), /alpns must be an array of ALPN names/);
  assert.throws(() => parsePeersToml(`[anonymous]\ndenyAlpns = ["has space"]\n`), /denyAlpns must be an array/);
});
