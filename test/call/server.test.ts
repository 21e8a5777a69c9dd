// alknet/call end to end over real TCP sockets on 127.0.0.1 (each connection = one call stream; a
// client keeps one and sends its calls on it, a raw socket here carries one call).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CallFrameDecoder, encodeFrame, type CallEnvelope } from '../../protocols/call/callFrameCodec.ts';
import { CallError } from '../../operations/errors.ts';
import { encode } from '../../bus/codec.ts';
import { callerWith, rawExchange, sampleRegistry, startTcpCallServer, type TcpCallServer } from './helpers.ts';
import { flush, track } from '../support/settle.ts';

function frameOf(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

function framesIn(bytes: Uint8Array): CallEnvelope[] {
  const decoder = new CallFrameDecoder();
  decoder.push(bytes);
  decoder.end();
  const out: CallEnvelope[] = [];
  for (let e = decoder.pull(); e; e = decoder.pull()) out.push(e);
  return out;
}

async function rejectsWithCode(promise: Promise<unknown>, code: string, messagePart?: string | RegExp): Promise<CallError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof CallError, `expected a CallError, got ${String(err)}`);
    assert.equal(err.code, code, `code of "${err.message}"`);
    if (typeof messagePart === 'string') assert.ok(err.message.includes(messagePart), `"${err.message}" should mention ${messagePart}`);
    else if (messagePart) assert.match(err.message, messagePart);
    return err;
  }
  assert.fail(`expected ${code}, but the call succeeded`);
}

describe('alknet/call over TCP', () => {
  const { registry, observed } = sampleRegistry();
  let server: TcpCallServer;
  const streamErrors: Error[] = [];

  before(async () => {
    server = await startTcpCallServer({
      registry,
      caller: () => callerWith(),
      limits: { maxFrameBytes: 64 * 1024, requestTimeoutMs: 1_000, closeTimeoutMs: 1_000 },
      onStreamError: (err) => streamErrors.push(err),
    });
  });
  after(() => server.close());

  test('query answers its output', async () => {
    assert.equal(await server.client().call('/math/add', { a: 2, b: 40 }), 42);
    assert.equal(await server.client().call('math/add', { a: -1, b: 1 }), 0, 'the name without "/" works too');
  });

  test('mutation without its scope is FORBIDDEN naming the scope', async () => {
    await rejectsWithCode(server.client().call('/kv/set', { key: 'k', value: 'v' }), 'FORBIDDEN', 'kv:write');
  });

  test('subscription yields several outputs then completes', async () => {
    const seen: number[] = [];
    for await (const n of server.client().subscribe<number>('/count/up', { to: 5 })) seen.push(n);
    assert.deepEqual(seen, [1, 2, 3, 4, 5]);
  });

  test('empty subscription completes with no outputs', async () => {
    const seen: number[] = [];
    for await (const n of server.client().subscribe<number>('/count/up', { to: 0 })) seen.push(n);
    assert.deepEqual(seen, []);
  });

  test('unknown operation is NOT_FOUND; internal operations look absent', async () => {
    await rejectsWithCode(server.client().call('/no/such', {}), 'NOT_FOUND', 'no/such');
    await rejectsWithCode(server.client().call('/wait/inner', { tag: 'x' }), 'NOT_FOUND');
  });

  test('schema failure is INVALID_INPUT naming the field', async () => {
    await rejectsWithCode(server.client().call('/math/add', { a: 1, b: 'two' }), 'INVALID_INPUT', 'input/b');
  });

  test('a handler crash is INTERNAL without its message', async () => {
    const err = await rejectsWithCode(server.client().call('/fail/secret', {}), 'INTERNAL');
    assert.ok(!err.message.includes('hunter2') && !err.message.includes('/etc'), err.message);
  });

  // Aborts happen when the handler has really started (it reports so), never after a sleep; the
  // deadline is moved by mock timers (client and server share this process and its setTimeout).
  test('deadline expiry is TIMEOUT from the server and aborts the handler', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    const call = track(server.client().call('/wait/forever', { tag: 'deadline' }, { deadlineMs: 50 }));
    await observed.when('started', 'deadline');
    t.mock.timers.tick(49);
    await flush();
    assert.equal(call.outcome.state, 'pending', 'not before the deadline');
    assert.deepEqual(observed.aborted.filter((tag) => tag === 'deadline'), []);
    // At the deadline the server aborts the handler and answers TIMEOUT; the client's own timer
    // (deadline + grace) has not fired, so the TIMEOUT is the server's answer.
    t.mock.timers.tick(1);
    await observed.when('aborted', 'deadline');
    const err = await rejectsWithCode(call.promise, 'TIMEOUT');
    assert.match(err.message, /wait\/forever did not finish within its 50 ms deadline/);
  });

  test('AbortSignal aborts the call, cascading into the nested call', async () => {
    const controller = new AbortController();
    const pending = track(server.client().call('/wait/nested', { tag: 'signal' }, { signal: controller.signal }));
    await observed.when('started', 'inner:signal');
    assert.equal(pending.outcome.state, 'pending');
    controller.abort(new Error('user pressed ctrl-c'));
    await assert.rejects(pending.promise, /ctrl-c/);
    await observed.when('aborted', 'inner:signal');
  });

  test('closing the socket aborts the handler', async () => {
    const socket = await server.connect();
    socket.on('error', () => {});
    socket.write(encodeFrame({ type: 'call.requested', id: 'c1', payload: { operationId: '/wait/forever', input: { tag: 'closed' } } }));
    await observed.when('started', 'closed');
    socket.destroy();
    await observed.when('aborted', 'closed');
  });

  test('call.aborted frame aborts the handler', async () => {
    const socket = await server.connect();
    socket.on('error', () => {});
    socket.write(encodeFrame({ type: 'call.requested', id: 'c2', payload: { operationId: '/wait/forever', input: { tag: 'frame' } } }));
    await observed.when('started', 'frame');
    socket.write(encodeFrame({ type: 'call.aborted', id: 'c2', payload: { reason: 'enough' } }));
    await observed.when('aborted', 'frame');
    socket.destroy();
  });

  test('breaking out of a subscription aborts it on the server', async () => {
    const before = observed.aborted.filter((tag) => tag === 'ticks').length;
    let got = 0;
    for await (const n of server.client().subscribe<number>('/ticks/forever', {})) {
      assert.equal(typeof n, 'number');
      if (++got === 3) break;
    }
    await observed.when('aborted', 'ticks', before + 1);
  });

  test('a half-closing client (request then FIN) still gets its answer', async () => {
    const bytes = await rawExchange(
      server.connect,
      encodeFrame({ type: 'call.requested', id: 'h1', payload: { operationId: '/math/add', input: { a: 1, b: 2 } } }),
    );
    // A TCP server socket without allowHalfOpen closes with the client's FIN; the server then
    // gives up on the call. Either way the stream ends and nothing else is affected.
    const frames = framesIn(bytes);
    if (frames.length > 0) assert.deepEqual(frames.map((f) => f.type), ['call.responded', 'call.completed']);
    assert.equal(await server.client().call('/math/add', { a: 1, b: 2 }), 3);
  });

  describe('bad input is answered with the right code', () => {
    const cases: { name: string; bytes: () => Uint8Array; code: string; match: RegExp }[] = [
      { name: 'length 0', bytes: () => new Uint8Array(4), code: 'INVALID_INPUT', match: /length is 0/ },
      {
        name: 'length above the limit',
        bytes: () => Uint8Array.from([0, 2, 0, 0, 1, 2, 3]),
        code: 'INVALID_INPUT',
        match: /above the 65536-byte limit/,
      },
      {
        name: 'truncated frame',
        bytes: () => encodeFrame({ type: 'call.requested', id: 't', payload: { operationId: '/math/add', input: {} } }).subarray(0, 12),
        code: 'INVALID_INPUT',
        match: /ended inside a frame/,
      },
      { name: 'not msgpack', bytes: () => frameOf(Uint8Array.from([0xc1, 0xc1])), code: 'INVALID_INPUT', match: /msgpack|not a map|trailing/ },
      {
        name: 'trailing bytes',
        bytes: () => frameOf(Uint8Array.from([...encode({ type: 'call.aborted', id: 'x', payload: {} }), 0x01])),
        code: 'INVALID_INPUT',
        match: /trailing bytes/,
      },
      {
        name: 'unknown type',
        bytes: () => frameOf(encode({ type: 'call.hello', id: 'x', payload: {} })),
        code: 'INVALID_INPUT',
        match: /unknown envelope type "call.hello"/,
      },
      {
        name: 'wrong field type',
        bytes: () => frameOf(encode({ type: 'call.requested', id: 'x', payload: { operationId: 7, input: {} } })),
        code: 'INVALID_INPUT',
        match: /payload\/operationId/,
      },
      {
        name: 'a reply-type envelope from a client',
        bytes: () => encodeFrame({ type: 'call.responded', id: 'r', payload: { output: 1 } }),
        code: 'INVALID_INPUT',
        match: /may not send call.responded/,
      },
      {
        name: 'unknown operation',
        bytes: () => encodeFrame({ type: 'call.requested', id: 'u', payload: { operationId: '/nope/nope', input: {} } }),
        code: 'NOT_FOUND',
        match: /nope\/nope/,
      },
      {
        name: 'schema failure',
        bytes: () => encodeFrame({ type: 'call.requested', id: 's', payload: { operationId: '/math/add', input: { a: 1 } } }),
        code: 'INVALID_INPUT',
        match: /input\/b/,
      },
    ];
    for (const c of cases) {
      test(c.name, async () => {
        // Not half-closed (the answer must not depend on a FIN), except for truncation which needs the end.
        const bytes = await rawExchangeKeepOpen(server, c.bytes(), c.name === 'truncated frame');
        const frames = framesIn(bytes);
        assert.equal(frames.length, 1, `one frame back, got ${frames.map((f) => f.type).join(', ')}`);
        const [reply] = frames;
        assert.equal(reply!.type, 'call.error');
        if (reply!.type !== 'call.error') return;
        assert.equal(reply!.payload.code, c.code);
        assert.match(reply!.payload.message, c.match);
      });
    }
  });

  test('no call.requested in time is answered TIMEOUT and closed', async () => {
    const bytes = await rawExchangeKeepOpen(server, new Uint8Array(0), false);
    const frames = framesIn(bytes);
    assert.equal(frames[0]?.type, 'call.error');
    if (frames[0]?.type === 'call.error') assert.equal(frames[0].payload.code, 'TIMEOUT');
  });

  test('other streams keep working after all that', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => server.client().call('/math/add', { a: i, b: i })));
    assert.deepEqual(results, Array.from({ length: 20 }, (_, i) => 2 * i));
  });
});

/** Writes bytes without FIN (unless `end`), collects the answer until the server closes. */
async function rawExchangeKeepOpen(server: TcpCallServer, bytes: Uint8Array, end: boolean): Promise<Buffer> {
  const socket = await server.connect();
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => {});
  const ended = new Promise<void>((resolve) => {
    socket.on('end', () => resolve());
    socket.on('close', () => resolve());
  });
  if (bytes.length > 0) socket.write(bytes);
  if (end) socket.end();
  const timer = setTimeout(() => socket.destroy(), 5_000);
  await ended;
  clearTimeout(timer);
  socket.destroy();
  return Buffer.concat(chunks);
}
