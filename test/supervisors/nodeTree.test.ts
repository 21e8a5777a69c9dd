// The node's default tree with tiny stand-in children: start order, one_for_one among services,
// recursive shutdown in reverse order, and describeTree's picture of it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createNodeTree } from '../../supervisors/nodeTree.ts';
import { describeTree } from '../../supervisors/describeTree.ts';
import type { TreeNode } from '../../supervisors/describeTree.ts';
import type { ChildSpec } from '../../supervisors/types.ts';
import { lines, startSupervisor, testChild } from './fixtures.ts';

function specs(journal: string[], ids: string[], restart: ChildSpec['restart'] = 'permanent'): ChildSpec[] {
  return ids.map((id) => ({ id, systemId: id, logic: testChild(journal), restart }));
}

function buildTree(journal: string[]) {
  return createNodeTree({
    services: specs(journal, ['vault', 'peers', 'fs', 'tensor']),
    protocols: specs(journal, ['alpn:call', 'alpn:ssh']),
    listener: { id: 'listener', systemId: 'listener', logic: testChild(journal), restart: 'permanent' },
  });
}

describe('createNodeTree', () => {
  it('starts services, then protocols, then the listener, and shuts down in reverse', () => {
    const journal: string[] = [];
    const s = startSupervisor(buildTree(journal));
    assert.deepEqual(journal, [
      'start vault#1',
      'start peers#1',
      'start fs#1',
      'start tensor#1',
      'start alpn:call#1',
      'start alpn:ssh#1',
      'start listener#1',
    ]);
    journal.length = 0;
    s.actor.send({ type: 'supervisor.shutdown' });
    assert.deepEqual(journal, [
      'shutdown listener#1',
      'shutdown alpn:ssh#1',
      'shutdown alpn:call#1',
      'shutdown tensor#1',
      'shutdown fs#1',
      'shutdown peers#1',
      'shutdown vault#1',
    ]);
    assert.equal(s.actor.getSnapshot().status, 'done');
  });

  it('restarts only the service that failed (one_for_one): fs and tensor never restart each other', () => {
    const journal: string[] = [];
    const s = startSupervisor(buildTree(journal));
    journal.length = 0;
    s.get('fs').send({ type: 'crash' });
    assert.deepEqual(lines(journal, 'start'), ['start fs#2']);
    assert.deepEqual(lines(journal, 'shutdown'), [], 'tensor, peers and the vault keep running');
    journal.length = 0;
    s.get('vault').send({ type: 'crash' });
    assert.deepEqual(lines(journal, 'start'), ['start vault#2']);
    assert.deepEqual(lines(journal, 'shutdown'), []);
    journal.length = 0;
    s.get('alpn:ssh').send({ type: 'crash' });
    assert.deepEqual(journal, ['start alpn:ssh#2'], 'protocols are one_for_one');
  });

  it('describeTree shows the tree in start order with states', () => {
    const journal: string[] = [];
    const s = startSupervisor(buildTree(journal));
    s.get('alpn:call').send({ type: 'finish' }); // permanent: comes back
    const tree = describeTree(s.actor);
    const names = (node: TreeNode): unknown => ({ id: node.id, children: node.children.map(names) });
    assert.deepEqual(names(tree), {
      id: 'node',
      children: [
        { id: 'services', children: ['vault', 'peers', 'fs', 'tensor'].map((id) => ({ id, children: [] })) },
        { id: 'protocols', children: ['alpn:call', 'alpn:ssh'].map((id) => ({ id, children: [] })) },
        { id: 'listener', children: [] },
      ],
    });
    assert.deepEqual(tree.state, { status: 'active', value: 'running' });
    const vault = tree.children[0]!.children[0]!;
    assert.deepEqual(vault, { id: 'vault', systemId: 'vault', state: { status: 'active', value: 'up' }, children: [] });
    assert.doesNotThrow(() => JSON.stringify(tree));
  });

  it('describeTree lists a child that is not running as stopped', () => {
    const journal: string[] = [];
    const tree = createNodeTree({
      services: specs(journal, ['peers']),
      protocols: specs(journal, ['alpn:once'], 'temporary'),
      listener: { id: 'listener', logic: testChild(journal), restart: 'permanent' },
    });
    const s = startSupervisor(tree);
    s.get('alpn:once').send({ type: 'crash' });
    const protocols = describeTree(s.actor).children[1]!;
    assert.deepEqual(protocols.children, [{ id: 'alpn:once', systemId: 'alpn:once', state: { status: 'stopped' }, children: [] }]);
  });
});
