// Scripted actor tests of the supervisor: real xstate actors, time driven by a SimulatedClock, and
// the children's journal (start/shutdown lines) as the side channel that shows what happened.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AnyActorRef } from 'xstate';
import { createSupervisor, SupervisorEscalation } from '../../supervisors/supervisor.ts';
import type { ChildSpec, Restart } from '../../supervisors/types.ts';
import { lines, startSupervisor, testChild } from './fixtures.ts';
import type { ChildOptions } from './fixtures.ts';

function child(journal: string[], id: string, restart: Restart = 'permanent', options: ChildOptions & { shutdownMs?: number } = {}): ChildSpec {
  const { shutdownMs, ...childOptions } = options;
  return { id, systemId: id, logic: testChild(journal, childOptions), restart, ...(shutdownMs === undefined ? {} : { shutdownMs }) };
}

function statusOf(ref: AnyActorRef): string {
  return (ref.getSnapshot() as { status: string }).status;
}

describe('restart intensity', () => {
  it('restarts a crashing child maxRestarts times within the window, then escalates', () => {
    const journal: string[] = [];
    const sup = createSupervisor({
      id: 'root',
      strategy: 'one_for_one',
      intensity: { maxRestarts: 3, withinMs: 5000 },
      children: [child(journal, 'a'), child(journal, 'b')],
    });
    const s = startSupervisor(sup);
    assert.deepEqual(journal, ['start a#1', 'start b#1']);

    for (let n = 1; n <= 3; n++) {
      s.get('a').send({ type: 'crash' });
      s.clock.increment(1000); // all three crashes inside the 5 s window
      assert.equal(lines(journal, 'start a').length, n + 1, `crash ${n} restarts a`);
      assert.equal(s.actor.getSnapshot().value, 'running');
    }
    assert.deepEqual(lines(journal, 'start a'), ['start a#1', 'start a#2', 'start a#3', 'start a#4']);
    assert.deepEqual(lines(journal, 'start b'), ['start b#1'], 'one_for_one leaves b alone');
    assert.equal(s.errors.length, 0);

    const lastA = s.get('a');
    const b = s.get('b');
    lastA.send({ type: 'crash' });
    assert.equal(s.actor.getSnapshot().status, 'error', 'the supervisor failed');
    assert.equal(s.errors.length, 1);
    const err = s.errors[0];
    assert.ok(err instanceof SupervisorEscalation);
    assert.equal(err.childId, 'a');
    assert.equal(err.supervisorId, 'root');
    assert.match(err.message, /more than 3 restarts within 5000 ms/);
    assert.equal(lines(journal, 'start a').length, 4, 'no fifth start');
    assert.deepEqual(lines(journal, 'shutdown'), ['shutdown b#1'], 'the surviving child was shut down first');
    assert.notEqual(statusOf(b), 'active');
    assert.notEqual(statusOf(lastA), 'active');
    assert.equal(s.actor.system.get('a'), undefined);
    assert.equal(s.actor.system.get('b'), undefined);
  });

  it('does not escalate when the crashes are spread beyond the window', () => {
    const journal: string[] = [];
    const sup = createSupervisor({
      id: 'root',
      strategy: 'one_for_one',
      intensity: { maxRestarts: 2, withinMs: 1000 },
      children: [child(journal, 'a')],
    });
    const s = startSupervisor(sup);
    for (let n = 0; n < 10; n++) {
      s.get('a').send({ type: 'crash' });
      s.clock.increment(600); // at most two restarts are ever inside a 1000 ms window
    }
    assert.equal(s.actor.getSnapshot().status, 'active');
    assert.equal(s.errors.length, 0);
    assert.equal(lines(journal, 'start a').length, 11);
  });

  it('counts restarts in a sliding window', () => {
    const journal: string[] = [];
    const sup = createSupervisor({
      id: 'root',
      strategy: 'one_for_one',
      intensity: { maxRestarts: 2, withinMs: 1000 },
      children: [child(journal, 'a')],
    });
    const s = startSupervisor(sup);
    s.get('a').send({ type: 'crash' }); // t=0
    s.clock.increment(700);
    s.get('a').send({ type: 'crash' }); // t=700
    s.clock.increment(400); // t=1100: the first restart left the window, the second has not
    assert.equal(s.actor.getSnapshot().context.restarts, 1);
    s.get('a').send({ type: 'crash' }); // 2 in window: allowed
    assert.equal(s.actor.getSnapshot().status, 'active');
    s.get('a').send({ type: 'crash' }); // 3 in window: too many
    assert.equal(s.actor.getSnapshot().status, 'error');
    assert.ok(s.errors[0] instanceof SupervisorEscalation);
  });

  it('with maxRestarts 0, the first restart escalates', () => {
    const journal: string[] = [];
    const s = startSupervisor(
      createSupervisor({ id: 'r', strategy: 'one_for_one', intensity: { maxRestarts: 0, withinMs: 1000 }, children: [child(journal, 'a')] }),
    );
    s.get('a').send({ type: 'crash' });
    assert.equal(s.actor.getSnapshot().status, 'error');
    assert.deepEqual(lines(journal, 'start'), ['start a#1']);
  });
});

describe('strategies', () => {
  it('one_for_all stops the others in reverse order and restarts all in order', () => {
    const journal: string[] = [];
    const s = startSupervisor(
      createSupervisor({ id: 'root', strategy: 'one_for_all', children: ['a', 'b', 'c', 'd'].map((id) => child(journal, id)) }),
    );
    const a1 = s.get('a');
    journal.length = 0;
    s.get('b').send({ type: 'crash' });
    assert.deepEqual(journal, [
      'shutdown d#1',
      'shutdown c#1',
      'shutdown a#1',
      'start a#2',
      'start b#2',
      'start c#2',
      'start d#2',
    ]);
    assert.notEqual(s.get('a'), a1);
    assert.equal(statusOf(a1), 'done', 'the old a drained (reached its final state)');
    assert.equal(s.actor.getSnapshot().value, 'running');
  });

  it('rest_for_one restarts the failed child and those started after it', () => {
    const journal: string[] = [];
    const s = startSupervisor(
      createSupervisor({ id: 'root', strategy: 'rest_for_one', children: ['a', 'b', 'c', 'd'].map((id) => child(journal, id)) }),
    );
    const a1 = s.get('a');
    journal.length = 0;
    s.get('b').send({ type: 'crash' });
    assert.deepEqual(journal, ['shutdown d#1', 'shutdown c#1', 'start b#2', 'start c#2', 'start d#2']);
    assert.equal(s.get('a'), a1, 'a (started before b) is untouched');
    journal.length = 0;
    s.get('d').send({ type: 'crash' });
    assert.deepEqual(journal, ['start d#3'], 'the last child restarts alone');
  });

  it('rest_for_one merges a failure that arrives during a restart', () => {
    const journal: string[] = [];
    const s = startSupervisor(
      createSupervisor({
        id: 'root',
        strategy: 'rest_for_one',
        intensity: { maxRestarts: 5, withinMs: 5000 },
        children: [child(journal, 'a'), child(journal, 'b'), child(journal, 'c', 'permanent', { stubborn: true, shutdownMs: 100 })],
      }),
    );
    journal.length = 0;
    s.get('b').send({ type: 'crash' }); // c must be stopped first; it ignores shutdown
    assert.deepEqual(journal, ['shutdown c#1']);
    assert.deepEqual(s.actor.getSnapshot().value, { restarting: 'waiting' });
    s.get('a').send({ type: 'crash' }); // joins the restart: a, b and c all start again
    s.clock.increment(100); // c's timeout: killed
    assert.deepEqual(journal, ['shutdown c#1', 'start a#2', 'start b#2', 'start c#2']);
    assert.equal(s.actor.getSnapshot().value, 'running');
    assert.equal(s.actor.getSnapshot().context.restarts, 2);
  });
});

describe('restart types', () => {
  it('never restarts a temporary child', () => {
    const journal: string[] = [];
    const s = startSupervisor(
      createSupervisor({ id: 'root', strategy: 'one_for_one', children: [child(journal, 't', 'temporary'), child(journal, 'p')] }),
    );
    s.get('t').send({ type: 'crash' });
    assert.deepEqual(lines(journal, 'start t'), ['start t#1']);
    assert.equal(s.actor.system.get('t'), undefined);
    assert.equal(s.actor.getSnapshot().context.restarts, 0, 'not a restart');
    assert.equal(s.actor.getSnapshot().value, 'running');
  });

  it('does not restart a transient child after a normal exit, but does after an error', () => {
    const journal: string[] = [];
    const s = startSupervisor(
      createSupervisor({ id: 'root', strategy: 'one_for_one', children: [child(journal, 'x', 'transient'), child(journal, 'y', 'transient')] }),
    );
    s.get('x').send({ type: 'finish' });
    assert.deepEqual(lines(journal, 'start x'), ['start x#1']);
    assert.equal(s.actor.system.get('x'), undefined);
    s.get('y').send({ type: 'crash' });
    assert.deepEqual(lines(journal, 'start y'), ['start y#1', 'start y#2']);
  });

  it('restarts a permanent child even after a normal exit', () => {
    const journal: string[] = [];
    const s = startSupervisor(createSupervisor({ id: 'root', strategy: 'one_for_one', children: [child(journal, 'p')] }));
    s.get('p').send({ type: 'finish' });
    assert.deepEqual(lines(journal, 'start p'), ['start p#1', 'start p#2']);
  });

  it('drops temporary siblings in a one_for_all restart', () => {
    const journal: string[] = [];
    const s = startSupervisor(
      createSupervisor({ id: 'root', strategy: 'one_for_all', children: [child(journal, 't', 'temporary'), child(journal, 'p')] }),
    );
    journal.length = 0;
    s.get('p').send({ type: 'crash' });
    assert.deepEqual(journal, ['shutdown t#1', 'start p#2']);
  });
});

describe('shutdown', () => {
  it('stops children in reverse start order and kills one that ignores shutdown after its shutdownMs', () => {
    const journal: string[] = [];
    const s = startSupervisor(
      createSupervisor({
        id: 'root',
        strategy: 'one_for_one',
        children: [child(journal, 'a'), child(journal, 'b', 'permanent', { stubborn: true, shutdownMs: 1000 }), child(journal, 'c')],
      }),
    );
    const a = s.get('a');
    const b = s.get('b');
    const c = s.get('c');
    journal.length = 0;
    s.actor.send({ type: 'supervisor.shutdown' });
    assert.deepEqual(journal, ['shutdown c#1', 'shutdown b#1']);
    assert.equal(statusOf(c), 'done');
    assert.equal(statusOf(b), 'active', 'b is given its time');
    s.clock.increment(999);
    assert.equal(statusOf(b), 'active');
    assert.deepEqual(journal, ['shutdown c#1', 'shutdown b#1'], 'a is not asked before b is gone');
    s.clock.increment(1);
    assert.equal(statusOf(b), 'stopped', 'b was killed');
    assert.deepEqual(journal, ['shutdown c#1', 'shutdown b#1', 'shutdown a#1']);
    assert.equal(statusOf(a), 'done');
    assert.equal(s.actor.getSnapshot().status, 'done');
    assert.equal(s.errors.length, 0);
  });

  it('a restart waits for the old instance to stop and then reuses its systemId', () => {
    const journal: string[] = [];
    const s = startSupervisor(
      createSupervisor({
        id: 'root',
        strategy: 'one_for_all',
        children: [child(journal, 'svc', 'permanent', { stubborn: true, shutdownMs: 500 }), child(journal, 'other')],
      }),
    );
    const old = s.get('svc');
    s.get('other').send({ type: 'crash' });
    assert.equal(s.get('svc'), old, 'still the old instance while it has time to drain');
    assert.deepEqual(lines(journal, 'start svc'), ['start svc#1']);
    s.clock.increment(500);
    const fresh = s.get('svc');
    assert.notEqual(fresh, old);
    assert.equal(fresh.id, 'svc#2');
    assert.equal(statusOf(old), 'stopped');
    assert.equal(statusOf(fresh), 'active');
    // the crashed child's systemId too
    const other = s.get('other');
    assert.equal(other.id, 'other#2');
    other.send({ type: 'crash' });
    assert.equal(s.actor.system.get('other'), undefined, 'not back before svc is gone');
    s.clock.increment(500);
    assert.equal(s.get('other').id, 'other#3');
    assert.equal(s.get('svc').id, 'svc#3');
  });
});

describe('nested supervisors', () => {
  it('a failing inner supervisor is restarted by its parent; shutdown goes down the tree', () => {
    const journal: string[] = [];
    const inner = createSupervisor({
      id: 'inner',
      strategy: 'one_for_one',
      intensity: { maxRestarts: 1, withinMs: 1000 },
      children: [child(journal, 'x'), child(journal, 'y')],
    });
    const s = startSupervisor(
      createSupervisor({
        id: 'outer',
        strategy: 'one_for_one',
        children: [child(journal, 'first'), { id: 'inner', logic: inner, restart: 'permanent', shutdownMs: Infinity }, child(journal, 'last')],
      }),
    );
    assert.deepEqual(journal, ['start first#1', 'start x#1', 'start y#1', 'start last#1']);
    journal.length = 0;
    s.get('x').send({ type: 'crash' });
    s.get('x').send({ type: 'crash' }); // second restart within 1 s: inner escalates
    assert.deepEqual(journal, ['start x#2', 'shutdown y#1', 'start x#1', 'start y#1']);
    assert.equal(s.actor.getSnapshot().status, 'active');
    assert.equal(s.actor.getSnapshot().context.restarts, 1);

    journal.length = 0;
    s.actor.send({ type: 'supervisor.shutdown' });
    assert.deepEqual(journal, ['shutdown last#1', 'shutdown y#1', 'shutdown x#1', 'shutdown first#1']);
    assert.equal(s.actor.getSnapshot().status, 'done');
  });
});

describe('bus registration', () => {
  it('registers children with a systemId, unregisters the old instance before the new one registers', () => {
    const journal: string[] = [];
    const events: string[] = [];
    const live = new Map<string, AnyActorRef>();
    const bus = {
      register(systemId: string, ref: AnyActorRef) {
        assert.ok(!live.has(systemId), `${systemId} registered twice`);
        live.set(systemId, ref);
        events.push(`+${ref.id}`);
        return () => {
          live.delete(systemId);
          events.push(`-${ref.id}`);
        };
      },
    };
    const inner = createSupervisor({ id: 'inner', strategy: 'one_for_one', children: [child(journal, 'deep')] });
    const s = startSupervisor(
      createSupervisor({
        id: 'root',
        strategy: 'one_for_all',
        children: [
          child(journal, 'a', 'permanent', { stubborn: true, shutdownMs: 10 }),
          { id: 'plain', logic: testChild(journal), restart: 'permanent' }, // no systemId: not on the bus
          { id: 'inner', logic: inner, restart: 'permanent', shutdownMs: Infinity },
        ],
      }),
      { bus },
    );
    // (at the first start xstate starts the whole tree before running the supervisors' actions, so
    // the order of these two first registrations is xstate's; both happen within actor.start())
    assert.deepEqual([...events].sort(), ['+a#1', '+deep#1'], 'the nested supervisor got the bus too');
    events.length = 0;
    assert.equal(live.get('a'), s.get('a'));
    s.get('a').send({ type: 'crash' });
    assert.deepEqual(events, ['-a#1', '-deep#1', '+a#2', '+deep#1']);
    s.actor.send({ type: 'supervisor.shutdown' });
    s.clock.increment(10); // a ignores shutdown
    assert.equal(s.actor.getSnapshot().status, 'done');
    assert.equal(live.size, 0, 'everything unregistered');
  });

  it('unregisters when the root is stopped abruptly', () => {
    const journal: string[] = [];
    const live = new Set<string>();
    const bus = {
      register(systemId: string) {
        live.add(systemId);
        return () => void live.delete(systemId);
      },
    };
    const s = startSupervisor(createSupervisor({ id: 'root', strategy: 'one_for_one', children: [child(journal, 'a'), child(journal, 'b')] }), { bus });
    assert.equal(live.size, 2);
    s.actor.stop();
    assert.equal(live.size, 0);
  });
});

describe('createSupervisor', () => {
  it('refuses duplicate ids, duplicate systemIds and a bad intensity', () => {
    const journal: string[] = [];
    assert.throws(() => createSupervisor({ id: 'r', strategy: 'one_for_one', children: [child(journal, 'a'), child(journal, 'a')] }), /duplicate child id "a"/);
    assert.throws(
      () => createSupervisor({ id: 'r', strategy: 'one_for_one', children: [child(journal, 'a'), { ...child(journal, 'b'), systemId: 'a' }] }),
      /duplicate systemId "a"/,
    );
    assert.throws(() => createSupervisor({ id: 'r', strategy: 'one_for_one', intensity: { maxRestarts: -1, withinMs: 5 }, children: [] }), /intensity/);
  });

  it('ignores an exit event of an instance it already replaced', () => {
    const journal: string[] = [];
    const s = startSupervisor(createSupervisor({ id: 'root', strategy: 'one_for_one', children: [child(journal, 'a')] }));
    s.get('a').send({ type: 'crash' });
    const before = s.actor.getSnapshot().context;
    s.actor.send({ type: 'xstate.error.actor.a#1', error: new Error('late'), actorId: 'a#1' });
    assert.deepEqual(s.actor.getSnapshot().context, before);
    assert.equal(s.actor.getSnapshot().status, 'active');
  });

  it('an empty supervisor runs and shuts down', () => {
    const s = startSupervisor(createSupervisor({ id: 'empty', strategy: 'one_for_all', children: [] }));
    assert.equal(s.actor.getSnapshot().value, 'running');
    s.actor.send({ type: 'shutdown' });
    assert.equal(s.actor.getSnapshot().status, 'done');
  });
});
