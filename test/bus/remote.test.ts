import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor } from 'xstate';
import {
  Bus,
  BusError,
  decodeEnvelope,
  encodeEnvelope,
  toErrorShape,
  type BusLogger,
  type RemoteRequestOptions,
  type RemoteTransport,
} from '../../bus/index.ts';
import { flush, track } from '../support/settle.ts';
import { echoMachine } from './fixtures/machine.ts';
import './fixtures/messages.ts';

const NODE_A = 'y'.repeat(52);
const NODE_B = 'b'.repeat(52);

function quietLogger(): BusLogger {
  return { warn: () => {} };
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

interface Call {
  node: string;
  actor: string;
  type: string;
  payload: unknown;
  opts: RemoteRequestOptions;
}

function fakeRemote(answer: (call: Call) => Promise<unknown>): RemoteTransport & { calls: Call[] } {
  const calls: Call[] = [];
  return {
    calls,
    request(node, actor, type, payload, opts) {
      const call = { node, actor, type, payload, opts };
      calls.push(call);
      return answer(call);
    },
  };
}

test('a remote address goes through the RemoteTransport with deadline and correlation id', async () => {
  const remote = fakeRemote(async (call) => ({ sum: (call.payload as { a: number; b: number }).a + 1 }));
  const bus = new Bus({ nodeId: NODE_A, logger: quietLogger() });
  bus.setRemote(remote);
  const reply = await bus.request({ node: NODE_B, actor: 'math' }, 'bustest.add', { a: 41, b: 0 }, { deadlineMs: 1000, correlationId: 'cid-1' });
  assert.deepEqual(reply, { sum: 42 });
  assert.equal(remote.calls.length, 1);
  const [call] = remote.calls;
  assert.equal(call!.node, NODE_B);
  assert.equal(call!.actor, 'math');
  assert.equal(call!.type, 'bustest.add');
  assert.equal(call!.opts.correlationId, 'cid-1');
  assert.ok(call!.opts.deadlineMs > 900 && call!.opts.deadlineMs <= 1000);
  assert.ok(call!.opts.signal instanceof AbortSignal);
  bus.close();
});

test('a remote payload is validated before it leaves; a bad reply is INTERNAL', async () => {
  const remote = fakeRemote(async () => ({ sum: 'forty-two' }));
  const bus = new Bus({ nodeId: NODE_A, logger: quietLogger(), remote });
  const bad = await rejection(bus.request({ node: NODE_B, actor: 'math' }, 'bustest.add', { a: 1 } as unknown as { a: number; b: number }));
  assert.equal(bad.code, 'INVALID_INPUT');
  assert.match(bad.message, /field "b"/);
  assert.equal(remote.calls.length, 0, 'nothing was sent');
  const badReply = await rejection(bus.request({ node: NODE_B, actor: 'math' }, 'bustest.add', { a: 1, b: 2 }));
  assert.equal(badReply.code, 'INTERNAL');
  assert.match(badReply.message, /field "sum"/);
  bus.close();
});

test('without a transport a remote request is UNAVAILABLE; its own node is served locally', async () => {
  const bus = new Bus({ nodeId: NODE_A, logger: quietLogger() });
  const err = await rejection(bus.request({ node: NODE_B, actor: 'math' }, 'bustest.add', { a: 1, b: 2 }));
  assert.equal(err.code, 'UNAVAILABLE');
  assert.match(err.message, /no remote transport/);
  const actor = createActor(echoMachine).start();
  bus.register('echo', actor);
  assert.deepEqual(await bus.request({ node: NODE_A, actor: 'echo' }, 'bustest.add', { a: 1, b: 2 }), { sum: 3 });
  actor.stop();
  bus.close();
});

test('remote errors: a BusError or error shape keeps its code; a transport failure is UNAVAILABLE; a hang hits TIMEOUT', async (t) => {
  // The bus's deadline timer is a plain setTimeout: mock timers move it, the machine's speed does not.
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  let mode = 'shape';
  const remote = fakeRemote(async () => {
    if (mode === 'shape') throw { code: 'FORBIDDEN', message: 'no scope', retryable: false };
    if (mode === 'buserror') throw new BusError('NOT_FOUND', 'no actor "math"');
    if (mode === 'socket') throw new Error('ECONNRESET');
    return new Promise(() => {});
  });
  const bus = new Bus({ nodeId: NODE_A, logger: quietLogger(), remote });
  const to = { node: NODE_B, actor: 'math' };
  assert.equal((await rejection(bus.request(to, 'bustest.add', { a: 1, b: 2 }))).code, 'FORBIDDEN');
  mode = 'buserror';
  assert.equal((await rejection(bus.request(to, 'bustest.add', { a: 1, b: 2 }))).code, 'NOT_FOUND');
  mode = 'socket';
  const down = await rejection(bus.request(to, 'bustest.add', { a: 1, b: 2 }));
  assert.equal(down.code, 'UNAVAILABLE');
  assert.doesNotMatch(down.message, /ECONNRESET/);
  mode = 'hang';
  const hanging = track(bus.request(to, 'bustest.add', { a: 1, b: 2 }, { deadlineMs: 80 }));
  t.mock.timers.tick(79);
  await flush();
  assert.equal(hanging.outcome.state, 'pending', 'the bus waits for the transport until the deadline');
  assert.equal(remote.calls.at(-1)!.opts.signal!.aborted, false);
  t.mock.timers.tick(1);
  await flush();
  assert.equal(hanging.outcome.state, 'rejected', 'the bus keeps its own deadline even when the transport hangs');
  const timeout = await rejection(hanging.promise);
  assert.equal(timeout.code, 'TIMEOUT');
  assert.equal(remote.calls.at(-1)!.opts.signal!.aborted, true, 'the transport is told to give up');
  bus.close();
});

test('two buses bridged through encoded envelopes and serveRemote (the call protocol in miniature)', async () => {
  const server = new Bus({ nodeId: NODE_B, logger: quietLogger() });
  const actor = createActor(echoMachine).start();
  server.register('echo', actor);
  // The "wire": request envelope out, reply or error shape back, both as msgpack bytes.
  const wire: RemoteTransport = {
    async request(_node, actor, type, payload, opts) {
      const frame = encodeEnvelope({ type, correlationId: opts.correlationId, to: actor, deadlineMs: opts.deadlineMs, payload });
      const received = decodeEnvelope(frame);
      let answer: Uint8Array;
      try {
        const reply = await server.serveRemote({
          from: NODE_A,
          actor: received.to!,
          type: received.type,
          payload: received.payload,
          deadlineMs: received.deadlineMs,
          correlationId: received.correlationId,
        });
        answer = encodeEnvelope({ type: 'reply', correlationId: received.correlationId, payload: reply });
      } catch (err) {
        answer = encodeEnvelope({ type: 'error', correlationId: received.correlationId, payload: toErrorShape(err) });
      }
      const back = decodeEnvelope(answer);
      if (back.type === 'error') throw back.payload;
      return back.payload;
    },
  };
  const client = new Bus({ nodeId: NODE_A, logger: quietLogger(), remote: wire });
  const bytes = new Uint8Array([0, 1, 254, 255]);
  const reply = await client.request({ node: NODE_B, actor: 'echo' }, 'bustest.echo', { text: 'over the wire', bytes });
  assert.equal(reply.text, 'over the wire');
  assert.ok(reply.bytes instanceof Uint8Array);
  assert.deepEqual([...reply.bytes], [...bytes]);
  const missing = await rejection(client.request({ node: NODE_B, actor: 'nobody' }, 'bustest.add', { a: 1, b: 1 }, { deadlineMs: 50 }));
  assert.equal(missing.code, 'UNAVAILABLE');
  assert.match(missing.message, /"nobody" is not registered/);
  // serveRemote refuses what a hostile peer could send.
  const unknownType = await rejection(server.serveRemote({ from: NODE_A, actor: 'echo', type: 'vault.steal', payload: {} }));
  assert.equal(unknownType.code, 'INVALID_INPUT');
  const event = await rejection(server.serveRemote({ from: NODE_A, actor: 'echo', type: 'connection.closed', payload: { connId: 'x', reason: '' } }));
  assert.match(event.message, /is an event/);
  const badPayload = await rejection(server.serveRemote({ from: NODE_A, actor: 'echo', type: 'bustest.echo', payload: { text: 7 } }));
  assert.match(badPayload.message, /field "text"/);
  // The serving actor learns which node asked (for authorization).
  server.registerHandler('who', { 'bustest.echo': (_payload, meta) => ({ text: JSON.stringify(meta.from) }) });
  const who = await client.request({ node: NODE_B, actor: 'who' }, 'bustest.echo', { text: '' });
  assert.deepEqual(JSON.parse(who.text), { node: NODE_A });
  actor.stop();
  client.close();
  server.close();
});
