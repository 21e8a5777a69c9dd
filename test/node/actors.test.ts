// `node/actors` over alknet/call: the node's own key (every scope) gets the supervision tree with
// the services, one actor per ALPN and the listener; an anonymous peer is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dial } from '../../actors/listener/dial.ts';
import { CallClient } from '../../protocols/call/client.ts';
import type { ActorTreeNode } from '../../operations/builtins.ts';
import { newKeys } from '../listener/fixtures.ts';
import { echoProtocol, homeIdentity, makeHome, startTestNode } from './helpers.ts';

function flatten(node: ActorTreeNode): ActorTreeNode[] {
  return [node, ...node.children.flatMap(flatten)];
}

test('node/actors returns the tree (vault, fs, protocol actors, listener) to the node itself, not to a stranger', async () => {
  const home = await makeHome();
  const node = await startTestNode(home, { protocols: [echoProtocol('test/echo')] });
  try {
    const self = await dial(`${node.nodeId}@${node.address}`, { alpn: 'alknet/call', transport: 'quic', identity: await homeIdentity(home.home) });
    try {
      assert.equal(self.peer?.nodeId, node.nodeId);
      const { root } = await new CallClient(() => self.openStream()).call<{ root: ActorTreeNode }>('node/actors', {}, { deadlineMs: 5000 });
      const all = flatten(root);
      const bySystemId = new Map(all.filter((n) => n.systemId).map((n) => [n.systemId!, n]));
      for (const systemId of ['vault', 'peers', 'fs', 'listener', 'protocol:alknet/call', 'protocol:test/echo']) {
        const actor = bySystemId.get(systemId);
        assert.ok(actor, `${systemId} is in the tree: ${JSON.stringify(root).slice(0, 2000)}`);
        assert.equal(actor.status, 'active', `${systemId} is active`);
      }
      assert.ok(!bySystemId.has('tensor'), 'started without the tensor service');
      // Services, protocols and listener hang under the node's root in that order (DESIGN.md's tree).
      const ids = root.children.map((c) => c.id);
      assert.deepEqual(ids.filter((id) => ['services', 'protocols', 'listener'].includes(id)), ['services', 'protocols', 'listener'], `root children: ${ids}`);
      // The services in their start order: the vault first, then peers, fs, git and pkarr (DESIGN.md's tree).
      const services = root.children.find((c) => c.id === 'services')!;
      assert.deepEqual(services.children.map((c) => c.systemId), ['vault', 'peers', 'fs', 'git', 'pkarr']);
      // The live call session of this very request shows under its protocol actor.
      assert.ok(bySystemId.get('protocol:alknet/call')!.children.length >= 1, 'the call session is in the tree');
      // No key material in the tree.
      const text = JSON.stringify(root);
      const identity = await homeIdentity(home.home);
      assert.ok(!text.includes(Buffer.from(identity.privateKey).toString('hex')), 'no private key');
      assert.ok(!text.includes(home.passphrase), 'no passphrase');
    } finally {
      await self.close();
    }

    const stranger = await dial(`${node.nodeId}@${node.address}`, { alpn: 'alknet/call', transport: 'tls', identity: newKeys() });
    try {
      await assert.rejects(
        new CallClient(() => stranger.openStream()).call('node/actors', {}, { deadlineMs: 5000 }),
        (err: Error & { code?: string }) => err.code === 'FORBIDDEN',
      );
    } finally {
      await stranger.close();
    }
  } finally {
    await node.stop();
    home.cleanup();
  }
});
