// Model-based test: @xstate/graph walks the supervisor's statechart (every abstract state reachable
// by child crashes, normal exits, kill timeouts, window expiries and shutdown), and each shortest path
// is replayed against a live supervisor with real children. After every step the live supervisor
// must be in the state the model predicts, and the children the model thinks run must really run.
//
// Mapping of model events onto the live system: a child's error/done exit is caused for real (the
// live child is sent `crash`/`finish`); the timer events (`supervisor.kill`,
// `supervisor.restartExpired`) are delivered as the model's event, with the SimulatedClock never
// advanced so the real timers never fire twice.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getShortestPaths } from '@xstate/graph';
import type { AnyActorRef, SnapshotFrom } from 'xstate';
import { createSupervisor } from '../../supervisors/supervisor.ts';
import type { SupervisorEvent, SupervisorLogic } from '../../supervisors/supervisor.ts';
import type { Strategy } from '../../supervisors/types.ts';
import { startSupervisor, testChild } from './fixtures.ts';

type Snap = SnapshotFrom<SupervisorLogic>;

function build(strategy: Strategy): SupervisorLogic {
  const journal: string[] = [];
  // No systemIds: the graph walk spawns (unstarted) children in one shared mock system, where a
  // systemId would collide across branches. Stubborn children make every drain wait for an event.
  const logic = testChild(journal, { stubborn: true });
  return createSupervisor({
    id: `model-${strategy}`,
    strategy,
    intensity: { maxRestarts: 2, withinMs: 1000 },
    children: [
      { id: 'p', logic, restart: 'permanent', shutdownMs: 100 },
      { id: 't', logic, restart: 'transient', shutdownMs: 100 },
      { id: 'x', logic, restart: 'temporary', shutdownMs: 100 },
    ],
  });
}

/** The abstract state: what the supervisor decided, without instance generations (unbounded). */
function abstract(snapshot: Snap): string {
  const c = snapshot.context;
  return JSON.stringify({
    value: snapshot.value,
    restarts: c.restarts,
    running: c.children.filter((child) => child.instance !== null).map((child) => child.id),
    current: c.current?.id ?? null,
    stopQueue: c.stopQueue,
    startQueue: c.startQueue,
  });
}

function modelEvents(snapshot: Snap): SupervisorEvent[] {
  if (snapshot.status !== 'active' || snapshot.value === 'failed') return [];
  const c = snapshot.context;
  const events: SupervisorEvent[] = [];
  for (const child of c.children) {
    if (child.instance === null) continue;
    events.push({ type: `xstate.error.actor.${child.instance}`, error: new Error('model crash'), actorId: child.instance });
    events.push({ type: `xstate.done.actor.${child.instance}`, output: undefined, actorId: child.instance });
  }
  if (c.current) events.push({ type: 'supervisor.kill', instance: c.current.instance });
  if (c.restarts > 0) events.push({ type: 'supervisor.restartExpired' });
  events.push({ type: 'supervisor.shutdown' });
  return events;
}

function serializeEvent(event: SupervisorEvent): string {
  return event.type === 'supervisor.kill' ? `${event.type}:${event.instance}` : event.type;
}

function liveChild(actor: AnyActorRef, instance: string): AnyActorRef {
  const children = (actor.getSnapshot() as { children: Record<string, AnyActorRef | undefined> }).children;
  const child = children[instance];
  assert.ok(child, `live supervisor has no child ${instance}`);
  return child;
}

function replay(logic: SupervisorLogic, events: readonly SupervisorEvent[], expected: readonly Snap[], label: string): void {
  const s = startSupervisor(logic);
  events.forEach((event, i) => {
    const at = `${label}, step ${i + 1} (${serializeEvent(event)})`;
    if (event.type.startsWith('xstate.error.actor.')) {
      liveChild(s.actor, event.type.slice('xstate.error.actor.'.length)).send({ type: 'crash' });
    } else if (event.type.startsWith('xstate.done.actor.')) {
      liveChild(s.actor, event.type.slice('xstate.done.actor.'.length)).send({ type: 'finish' });
    } else {
      s.actor.send(event);
    }
    const want = expected[i]!;
    const live = s.actor.getSnapshot();
    if (want.value === 'failed') {
      assert.equal(live.status, 'error', `${at}: the supervisor should have failed`);
      return;
    }
    assert.equal(abstract(live), abstract(want), at);
    assert.equal(live.status, want.status, at);
    const running = live.context.children.flatMap((child) => (child.instance === null ? [] : [child.instance]));
    const liveChildren = (live as { children: Record<string, AnyActorRef> }).children;
    assert.deepEqual(Object.keys(liveChildren).sort(), [...running].sort(), `${at}: children map`);
    for (const instance of running) {
      const status = (liveChild(s.actor, instance).getSnapshot() as { status: string }).status;
      assert.equal(status, 'active', `${at}: ${instance} should run`);
    }
  });
  if (s.actor.getSnapshot().status === 'active') s.actor.stop();
}

describe('model-based: shortest paths of the supervisor statechart, replayed live', () => {
  for (const strategy of ['one_for_one', 'one_for_all', 'rest_for_one'] as const) {
    it(strategy, (t) => {
      const logic = build(strategy);
      const paths = getShortestPaths(logic, {
        events: modelEvents,
        serializeState: (snapshot) => abstract(snapshot),
        serializeEvent,
        limit: 20_000,
      });
      const reached = new Set(paths.map((path) => abstract(path.state)));
      // the model must at least cover restarting, escalation and a clean shutdown (one_for_one
      // never waits while restarting: the failed child is already gone and no sibling is stopped)
      const mustReach = ['"running"', '"failed"', '"stopped"', '{"shuttingDown":"waiting"}', '{"escalating":"waiting"}'];
      if (strategy !== 'one_for_one') mustReach.push('{"restarting":"waiting"}');
      for (const value of mustReach) {
        assert.ok([...reached].some((key) => key.includes(`"value":${value}`)), `${strategy}: no path reaches ${value}`);
      }
      assert.ok(paths.length > 20, `${strategy}: only ${paths.length} paths`);
      t.diagnostic(`${strategy}: ${paths.length} paths, longest ${Math.max(...paths.map((p) => p.steps.length))} steps`);
      for (const path of paths) {
        replay(
          logic,
          path.steps.map((step) => step.event),
          path.steps.map((step) => step.state),
          `${strategy} path ${path.steps.map((step) => serializeEvent(step.event)).join(' → ')}`,
        );
      }
    });
  }
});
