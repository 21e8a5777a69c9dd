import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor } from 'xstate';
import { Bus, BusError, type BusLogger, type TraceRecord } from '../../bus/index.ts';
import { flush, track, type Tracked } from '../support/settle.ts';
import { echoMachine } from './fixtures/machine.ts';
import './fixtures/messages.ts';

/** Collects what the bus logs, so tests stay quiet and can assert on it. */
function quietLogger(): BusLogger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, warn: (_obj, msg) => void lines.push(msg) };
}

async function rejection(promise: Promise<unknown>): Promise<BusError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof BusError, `expected a BusError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the promise to reject');
}

/** The BusError a tracked request has already failed with (after `flush()`); fails the test if it has not. */
function failedWith(req: Tracked<unknown>, what: string): BusError {
  const { outcome } = req;
  assert.equal(outcome.state, 'rejected', `${what}: expected it to have failed already, it is ${outcome.state}`);
  const err = (outcome as { reason: unknown }).reason;
  assert.ok(err instanceof BusError, `${what}: expected a BusError, got ${String(err)}`);
  return err;
}

// Deadlines: the bus's timers are plain setTimeout/Date.now, so node:test's mock timers freeze time
// and `tick` moves it; nothing here depends on how fast the machine runs.

test('request/reply with an xstate machine answering via replyTo', async () => {
  const bus = new Bus({ logger: quietLogger() });
  const actor = createActor(echoMachine).start();
  bus.register('echo', actor);
  try {
    assert.deepEqual(await bus.request('echo', 'bustest.add', { a: 2, b: 40 }), { sum: 42 });
    const reply = await bus.request('echo', 'bustest.echo', { text: 'hi' });
    assert.equal(reply.text, 'hi');
    assert.equal(actor.getSnapshot().context.served, 2);
  } finally {
    actor.stop();
    bus.close();
  }
});

test('an unanswered request fails TIMEOUT at its deadline, not before', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const bus = new Bus({ logger: quietLogger() });
  const actor = createActor(echoMachine).start();
  bus.register('echo', actor);
  try {
    const req = track(bus.request('echo', 'bustest.ignore', {}, { deadlineMs: 150 }));
    t.mock.timers.tick(149);
    await flush();
    assert.equal(req.outcome.state, 'pending', '1 ms before its deadline the request still waits');
    assert.equal(bus.pendingCount('echo'), 1);
    t.mock.timers.tick(1);
    await flush();
    const err = failedWith(req, 'at its deadline');
    assert.equal(err.code, 'TIMEOUT');
    assert.equal(err.retryable, true);
    assert.match(err.message, /echo did not answer bustest\.ignore/);
    assert.equal(bus.pendingCount('echo'), 0, 'a settled request frees its mailbox slot');
  } finally {
    actor.stop();
    bus.close();
  }
});

test('a request to a never-registered actor fails UNAVAILABLE at its deadline, naming the actor', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const bus = new Bus({ logger: quietLogger() });
  const req = track(bus.request('nobody', 'bustest.add', { a: 1, b: 1 }, { deadlineMs: 120 }));
  t.mock.timers.tick(119);
  await flush();
  assert.equal(req.outcome.state, 'pending', 'it waits for a registration until its deadline');
  assert.equal(bus.pendingCount('nobody'), 1);
  t.mock.timers.tick(1);
  await flush();
  const err = failedWith(req, 'at its deadline');
  assert.equal(err.code, 'UNAVAILABLE');
  assert.match(err.message, /"nobody" is not registered/);
  assert.equal(bus.pendingCount('nobody'), 0);
  bus.close();
});

test('a request to an actor that crashes fails UNAVAILABLE promptly and the actor is unregistered', async (t) => {
  // Time stands still: whatever fails here fails because of the crash, never at a deadline.
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const logger = quietLogger();
  const bus = new Bus({ logger });
  const actor = createActor(echoMachine).start();
  bus.register('echo', actor);
  const pendingBefore = track(bus.request('echo', 'bustest.ignore', {}, { deadlineMs: 5000 }));
  const crashing = track(bus.request('echo', 'bustest.crash', {}, { deadlineMs: 5000 }));
  await flush();
  const err = failedWith(crashing, 'the crashing request, with no time passed');
  assert.equal(err.code, 'UNAVAILABLE');
  assert.match(err.message, /actor "echo" stopped before replying/);
  // The other in-flight request of that actor fails the same way.
  assert.equal(failedWith(pendingBefore, 'the other in-flight request').code, 'UNAVAILABLE');
  assert.equal(bus.isRegistered('echo'), false);
  assert.ok(logger.lines.some((l) => l.includes('"echo" failed')));
  // The crash message itself is not logged (it could carry anything).
  assert.ok(!logger.lines.some((l) => l.includes('deliberate crash')));
  bus.close();
});

test('an actor that is stopped fails its in-flight requests UNAVAILABLE', async () => {
  const bus = new Bus({ logger: quietLogger() });
  const actor = createActor(echoMachine).start();
  bus.register('echo', actor);
  const pending = bus.request('echo', 'bustest.ignore', {}, { deadlineMs: 5000 });
  actor.stop();
  assert.equal((await rejection(pending)).code, 'UNAVAILABLE');
  assert.equal(bus.isRegistered('echo'), false);
  bus.close();
});

test('a request while the actor restarts waits and succeeds once it is registered again', async () => {
  const bus = new Bus({ logger: quietLogger() });
  const first = createActor(echoMachine).start();
  bus.register('echo', first);
  first.stop();
  assert.equal(bus.isRegistered('echo'), false);
  const pending = track(bus.request('echo', 'bustest.add', { a: 1, b: 2 }, { deadlineMs: 2000 }));
  await flush();
  assert.equal(pending.outcome.state, 'pending', 'the request waits for the restart');
  assert.equal(bus.pendingCount('echo'), 1);
  const second = createActor(echoMachine).start();
  bus.register('echo', second);
  try {
    assert.deepEqual(await pending.promise, { sum: 3 });
    assert.equal(second.getSnapshot().context.served, 1);
  } finally {
    second.stop();
    bus.close();
  }
});

test('registering a live systemId twice throws; an old unregister does not remove the new actor', () => {
  const bus = new Bus({ logger: quietLogger() });
  const a = createActor(echoMachine).start();
  const b = createActor(echoMachine).start();
  const unregisterA = bus.register('echo', a);
  assert.throws(() => bus.register('echo', b), /already registered/);
  unregisterA();
  const unregisterB = bus.register('echo', b);
  unregisterA();
  assert.equal(bus.isRegistered('echo'), true);
  unregisterB();
  assert.equal(bus.isRegistered('echo'), false);
  a.stop();
  b.stop();
  const stopped = createActor(echoMachine).start();
  stopped.stop();
  assert.throws(() => bus.register('echo', stopped), /the actor is stopped/);
  bus.close();
});

test('a full mailbox answers BUSY at once and accepts again after draining', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const bus = new Bus({ logger: quietLogger() });
  const gates: Array<() => void> = [];
  bus.registerHandler(
    'slow',
    (_type, payload) =>
      new Promise((resolve) => {
        gates.push(() => resolve({ sum: (payload as { a: number }).a }));
      }),
    { mailbox: 3 },
  );
  const inFlight = [1, 2, 3].map((a) => track(bus.request('slow', 'bustest.add', { a, b: 0 })));
  const fourth = track(bus.request('slow', 'bustest.add', { a: 4, b: 0 }));
  await flush();
  // At once: no time has passed and none of the slow handlers has finished.
  const busy = failedWith(fourth, 'the request over capacity');
  assert.equal(busy.code, 'BUSY');
  assert.equal(busy.retryable, true);
  assert.deepEqual(inFlight.map((r) => r.outcome.state), ['pending', 'pending', 'pending'], 'BUSY came before any handler finished');
  assert.ok(bus.send('slow', 'bustest.add', { a: 5, b: 0 }) instanceof BusError, 'send is BUSY-checked too');
  assert.equal(bus.pendingCount('slow'), 3);
  for (const open of gates.splice(0)) open();
  assert.deepEqual(await Promise.all(inFlight.map((r) => r.promise)), [{ sum: 1 }, { sum: 2 }, { sum: 3 }]);
  const again = bus.request('slow', 'bustest.add', { a: 6, b: 0 });
  gates.shift()!();
  assert.deepEqual(await again, { sum: 6 });
  bus.close();
});

test('requests waiting for a restarting actor are bounded by its mailbox too', async () => {
  const bus = new Bus({ logger: quietLogger() });
  const actor = createActor(echoMachine).start();
  bus.register('echo', actor, { mailbox: 2 });
  actor.stop();
  const waiting = [1, 2].map((a) => bus.request('echo', 'bustest.add', { a, b: 0 }, { deadlineMs: 2000 }));
  assert.equal((await rejection(bus.request('echo', 'bustest.add', { a: 3, b: 0 }))).code, 'BUSY');
  const next = createActor(echoMachine).start();
  bus.register('echo', next, { mailbox: 2 });
  assert.deepEqual(await Promise.all(waiting), [{ sum: 1 }, { sum: 2 }]);
  next.stop();
  bus.close();
});

test('the first answer wins; later answers are ignored', async () => {
  const bus = new Bus({ logger: quietLogger() });
  let port: { reply(v: unknown): void; fail(c: 'INTERNAL', m: string): void; settled: boolean } | undefined;
  const fake = createActor(echoMachine).start();
  // A handler map: typed per message type.
  bus.registerHandler('twice', {
    'bustest.add': ({ a, b }) => ({ sum: a + b }),
  });
  assert.deepEqual(await bus.request('twice', 'bustest.add', { a: 1, b: 1 }), { sum: 2 });
  assert.equal((await rejection(bus.request('twice', 'bustest.echo', { text: 'x' }))).code, 'NOT_FOUND');
  // With an actor: capture the port from the event and answer twice.
  bus.register('capture', fake);
  const sub = fake.subscribe(() => {});
  const original = fake.send.bind(fake);
  fake.send = (event) => {
    port = (event as unknown as { replyTo: typeof port }).replyTo;
    original(event);
  };
  const reply = bus.request('capture', 'bustest.ignore', {});
  assert.ok(port);
  assert.equal(port.settled, false);
  port.reply({ first: true });
  port.reply({ second: true });
  port.fail('INTERNAL', 'late');
  assert.deepEqual(await reply, { first: true });
  assert.equal(port.settled, true);
  sub.unsubscribe();
  fake.stop();
  bus.close();
});

test('handler errors: BusError keeps its code, other throws become a generic INTERNAL', async () => {
  const logger = quietLogger();
  const bus = new Bus({ logger });
  bus.registerHandler('svc', async (type) => {
    if (type === 'bustest.add') throw new BusError('FORBIDDEN', 'no scope "math"');
    throw new Error('secret path /home/x/.alknet/vault.json');
  });
  const forbidden = await rejection(bus.request('svc', 'bustest.add', { a: 1, b: 1 }));
  assert.equal(forbidden.code, 'FORBIDDEN');
  assert.equal(forbidden.retryable, false);
  const internal = await rejection(bus.request('svc', 'bustest.echo', { text: 'x' }));
  assert.equal(internal.code, 'INTERNAL');
  assert.doesNotMatch(internal.message, /secret|vault\.json/);
  assert.ok(!logger.lines.join('\n').includes('vault.json'));
  bus.close();
});

test('a handler sees its signal aborted when the caller stops waiting', async () => {
  const bus = new Bus({ logger: quietLogger() });
  let seen: AbortSignal | undefined;
  bus.registerHandler('svc', (_type, _payload, meta) => {
    seen = meta.signal;
    return new Promise(() => {});
  });
  const controller = new AbortController();
  const pending = bus.request('svc', 'bustest.ignore', {}, { signal: controller.signal, deadlineMs: 5000 });
  controller.abort();
  const err = await rejection(pending);
  assert.equal(err.code, 'UNAVAILABLE');
  assert.match(err.message, /aborted/);
  assert.equal(seen?.aborted, true);
  assert.equal(bus.pendingCount('svc'), 0);
  // A signal that times out maps to TIMEOUT; an already-aborted one fails at once.
  const timedOut = await rejection(bus.request('svc', 'bustest.ignore', {}, { signal: AbortSignal.timeout(30) }));
  assert.equal(timedOut.code, 'TIMEOUT');
  assert.equal((await rejection(bus.request('svc', 'bustest.ignore', {}, { signal: controller.signal }))).code, 'UNAVAILABLE');
  bus.close();
});

test('send delivers fire-and-forget to an actor and reports an unregistered target', () => {
  const bus = new Bus({ logger: quietLogger() });
  const actor = createActor(echoMachine).start();
  bus.register('echo', actor);
  assert.equal(bus.send('echo', 'bustest.happened', { n: 1 }), undefined);
  assert.equal(bus.send('echo', 'bustest.happened', { n: 2 }), undefined);
  assert.equal(actor.getSnapshot().context.happened, 2);
  const err = bus.send('nobody', 'bustest.happened', { n: 3 });
  assert.ok(err instanceof BusError);
  assert.equal(err.code, 'UNAVAILABLE');
  actor.stop();
  bus.close();
});

test('publish/subscribe: every subscriber gets the event, a throwing one is logged and skipped', async () => {
  const logger = quietLogger();
  const bus = new Bus({ logger });
  const got: string[] = [];
  const event = {
    connId: 'c1',
    alpn: 'alknet/call',
    transport: 'quic' as const,
    peer: null,
    remote: { host: '127.0.0.1', port: 4433 },
  };
  bus.subscribe('connection.accepted', () => {
    throw new Error('subscriber bug');
  });
  bus.subscribe('connection.accepted', async () => {
    throw new Error('async subscriber bug');
  });
  const off = bus.subscribe('connection.accepted', (payload, meta) => {
    got.push(`${payload.connId}/${payload.alpn}/${meta.correlationId.length > 0}`);
  });
  bus.publish('connection.accepted', event);
  bus.publish('connection.closed', { connId: 'c1', reason: 'nobody listens' });
  off();
  bus.publish('connection.accepted', { ...event, connId: 'c2' });
  await flush();
  assert.deepEqual(got, ['c1/alknet/call/true']);
  assert.equal(logger.lines.filter((l) => l === 'subscriber failed').length, 4);
  bus.close();
});

test('the correlation id follows one request through the tree in the trace', async () => {
  const records: TraceRecord[] = [];
  const bus = new Bus({ logger: quietLogger(), trace: (r) => records.push(r) });
  const actor = createActor(echoMachine).start();
  bus.register('echo', actor);
  // A front service that, while handling a request, asks the echo actor with the parent's id.
  bus.registerHandler('front', async (_type, payload, meta) => {
    const { a, b } = payload as { a: number; b: number };
    return bus.request('echo', 'bustest.add', { a, b }, { correlationId: meta.correlationId, deadline: meta.deadline });
  });
  await bus.request('front', 'bustest.add', { a: 1, b: 2 }, { correlationId: 'trace-me' });
  await bus.request('front', 'bustest.add', { a: 1, b: 2 });
  const mine = records.filter((r) => r.correlationId === 'trace-me');
  assert.deepEqual(
    mine.map((r) => `${r.to}:${r.phase}`),
    ['front:request', 'echo:request', 'echo:reply', 'front:reply'],
  );
  assert.ok(mine.every((r) => r.type === 'bustest.add' && r.ms >= 0));
  const others = new Set(records.filter((r) => r.correlationId !== 'trace-me').map((r) => r.correlationId));
  assert.equal(others.size, 1, 'a new request without a parent gets one fresh id, shared by its child');
  actor.stop();
  bus.close();
});

test('close fails everything pending and refuses new requests', async () => {
  const bus = new Bus({ logger: quietLogger() });
  const waiting = bus.request('later', 'bustest.add', { a: 1, b: 1 }, { deadlineMs: 5000 });
  bus.registerHandler('hang', () => new Promise(() => {}));
  const hanging = bus.request('hang', 'bustest.add', { a: 1, b: 1 }, { deadlineMs: 5000 });
  bus.close();
  assert.equal((await rejection(waiting)).code, 'UNAVAILABLE');
  assert.equal((await rejection(hanging)).code, 'UNAVAILABLE');
  assert.equal((await rejection(bus.request('hang', 'bustest.add', { a: 1, b: 1 }))).code, 'UNAVAILABLE');
});

test('validateLocal checks local payloads and replies', async () => {
  const bus = new Bus({ logger: quietLogger(), validateLocal: true });
  bus.registerHandler('svc', () => ({ sum: 'not a number' }));
  const bad = await rejection(bus.request('svc', 'bustest.add', { a: 1, b: 'x' as unknown as number }));
  assert.equal(bad.code, 'INVALID_INPUT');
  assert.match(bad.message, /field "b"/);
  const badReply = await rejection(bus.request('svc', 'bustest.add', { a: 1, b: 2 }));
  assert.equal(badReply.code, 'INTERNAL');
  assert.match(badReply.message, /field "sum"/);
  bus.close();
});
