// The supervisor's pure decisions, without actors.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { exceedsIntensity, exitOf, parseExit, planRestart, planStopAll, restartGroup, shouldRestart, startQueued } from '../../supervisors/plan.ts';
import type { ChildRecord, SupervisorContext } from '../../supervisors/types.ts';

function ctx(strategy: SupervisorContext['strategy'], over: Partial<SupervisorContext> = {}): SupervisorContext {
  const children: ChildRecord[] = [
    { id: 'a', restart: 'permanent', instance: 'a#1', generation: 1 },
    { id: 'b', restart: 'transient', instance: 'b#1', generation: 1 },
    { id: 'c', restart: 'temporary', instance: 'c#1', generation: 1 },
    { id: 'd', restart: 'permanent', instance: 'd#1', generation: 1 },
  ];
  return { id: 's', strategy, maxRestarts: 3, withinMs: 5000, children, restarts: 0, stopQueue: [], current: null, startQueue: [], escalation: null, ...over };
}

describe('plan', () => {
  it('parses xstate exit events and finds the instance', () => {
    assert.deepEqual(parseExit('xstate.error.actor.a#1'), { kind: 'error', instance: 'a#1' });
    assert.deepEqual(parseExit('xstate.done.actor.x.y#2'), { kind: 'done', instance: 'x.y#2' });
    assert.equal(parseExit('shutdown'), undefined);
    assert.equal(exitOf(ctx('one_for_one'), 'xstate.error.actor.b#1')?.child.id, 'b');
    assert.equal(exitOf(ctx('one_for_one'), 'xstate.error.actor.b#0'), undefined, 'stale instance');
  });

  it('restart types', () => {
    assert.equal(shouldRestart('permanent', 'done'), true);
    assert.equal(shouldRestart('transient', 'done'), false);
    assert.equal(shouldRestart('transient', 'error'), true);
    assert.equal(shouldRestart('temporary', 'error'), false);
  });

  it('intensity: more than maxRestarts', () => {
    assert.equal(exceedsIntensity(ctx('one_for_one', { restarts: 2 })), false);
    assert.equal(exceedsIntensity(ctx('one_for_one', { restarts: 3 })), true);
  });

  it('groups by strategy', () => {
    const children = ctx('one_for_one').children;
    assert.deepEqual(restartGroup('one_for_one', children, 'b').map((c) => c.id), ['b']);
    assert.deepEqual(restartGroup('one_for_all', children, 'b').map((c) => c.id), ['a', 'b', 'c', 'd']);
    assert.deepEqual(restartGroup('rest_for_one', children, 'b').map((c) => c.id), ['b', 'c', 'd']);
  });

  it('plans stops in reverse order and starts in order, without temporary children', () => {
    const c = ctx('rest_for_one');
    const afterExit = { ...c, children: c.children.map((x) => (x.id === 'b' ? { ...x, instance: null } : x)) };
    assert.deepEqual(planRestart(afterExit, 'b'), { stopQueue: ['d', 'c'], startQueue: ['b', 'd'] });
    const all = { ...c, strategy: 'one_for_all' as const, children: afterExit.children };
    assert.deepEqual(planRestart(all, 'b'), { stopQueue: ['d', 'c', 'a'], startQueue: ['a', 'b', 'd'] });
    // merged into a restart in progress: d is being stopped, a already queued
    const merging = { ...afterExit, current: { id: 'd', instance: 'd#1' }, stopQueue: ['c'], startQueue: ['b', 'd'] };
    const aFailed = { ...merging, children: merging.children.map((x) => (x.id === 'a' ? { ...x, instance: null } : x)) };
    assert.deepEqual(planRestart(aFailed, 'a'), { stopQueue: ['c'], startQueue: ['a', 'b', 'd'] });
    assert.deepEqual(planStopAll(c), { stopQueue: ['d', 'c', 'b', 'a'], startQueue: [] });
  });

  it('gives started children their next instance', () => {
    const c = ctx('one_for_one', { startQueue: ['b'] });
    const b = startQueued(c).find((x) => x.id === 'b');
    assert.deepEqual(b, { id: 'b', restart: 'transient', instance: 'b#2', generation: 2 });
  });
});
