// Many calls on one stream (the multiplexed wire): aborting one call by its id stops exactly that
// call; a bad frame closes only that stream, with its reason, and the client opens a new one on
// the same connection; a stream the server ended while idle is replaced, and a call that crossed the
// server's end on the wire is sent again (the server ran nothing after its end); an anonymous
// connection's request-size limit holds for every frame of a stream, not only the first; a client
// that does not read its answers is held back by flow control instead of being buffered for.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { Type } from '@sinclair/typebox';
import { CallClient } from '../../protocols/call/client.ts';
import { createCallLimiter, serveCallStream } from '../../protocols/call/server.ts';
import { CallFrameDecoder, encodeFrame, type CallEnvelope } from '../../protocols/call/callFrameCodec.ts';
import { CallError } from '../../operations/errors.ts';
import { defineOperation } from '../../operations/catalogue.ts';
import { dial } from '../../actors/listener/dial.ts';
import type { Connection } from '../../actors/listener/connection.ts';
import { callerWith, sampleRegistry, startTcpCallServer, type TcpCallServer } from './helpers.ts';
import { makeHome, startTestNode, type TestHome } from '../node/helpers.ts';
import { newKeys } from '../listener/fixtures.ts';
import { track } from '../support/settle.ts';
import type { RunningNode } from '../../supervisors/startNode.ts';

describe('calls multiplexed on one TCP stream', () => {
  const { registry, observed } = sampleRegistry();
  let server: TcpCallServer;
  /** Every socket the client opened, in order: the test can tell whether a new stream was opened. */
  const opened: net.Socket[] = [];
  const clientOnServer = () =>
    new CallClient(async () => {
      const socket = await server.connect();
      opened.push(socket);
      return socket;
    });

  before(async () => {
    server = await startTcpCallServer({
      registry,
      caller: () => callerWith(),
      limits: { requestTimeoutMs: 1_000, closeTimeoutMs: 1_000 },
    });
  });
  after(() => server.close());

  test('aborting one call by its id stops exactly that call; the others and the stream go on', async () => {
    const client = clientOnServer();
    const before = opened.length;
    const stopMe = new AbortController();
    const keepMe = new AbortController();
    const aborted = track(client.call('/wait/forever', { tag: 'stop-me' }, { signal: stopMe.signal }));
    const kept = track(client.call('/wait/forever', { tag: 'keep-me' }, { signal: keepMe.signal }));
    await Promise.all([observed.when('started', 'stop-me'), observed.when('started', 'keep-me')]);
    assert.equal(opened.length, before + 1, 'both calls share one stream');

    stopMe.abort(new Error('not needed any more'));
    await assert.rejects(aborted.promise, /not needed any more/);
    await observed.when('aborted', 'stop-me');
    // The same stream still carries calls, and the other call is still running on the server.
    assert.equal(await client.call('/math/add', { a: 1, b: 2 }), 3);
    assert.equal(opened.length, before + 1, 'no new stream');
    assert.equal(kept.outcome.state, 'pending');
    assert.ok(!observed.aborted.includes('keep-me'), 'the other call was not aborted');

    keepMe.abort(new Error('done'));
    await assert.rejects(kept.promise, /done/);
    await observed.when('aborted', 'keep-me');
    client.close();
  });

  test('a subscription has a stream of its own; breaking out of it aborts only it', async () => {
    const client = clientOnServer();
    assert.equal(await client.call('/math/add', { a: 2, b: 2 }), 4);
    const before = opened.length;
    const abortsBefore = observed.aborted.filter((t) => t === 'ticks').length;
    let got = 0;
    for await (const n of client.subscribe<number>('/ticks/forever', {})) {
      assert.equal(typeof n, 'number');
      if (++got === 3) break;
    }
    await observed.when('aborted', 'ticks', abortsBefore + 1);
    assert.equal(opened.length, before + 1, 'the subscription opened one stream');
    assert.equal(await client.call('/math/add', { a: 3, b: 3 }), 6, 'the shared stream still serves');
    assert.equal(opened.length, before + 1);
    client.close();
  });

  test('a call sent as the server ends its idle stream is sent again on a new stream', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const client = clientOnServer();
    assert.equal(await client.call('/math/add', { a: 1, b: 1 }), 2);
    const before = opened.length;
    // The server's idle timer (1 s) fires now: it ends the stream. The next call is written before
    // the client has read that end, so it reaches a server that no longer runs anything there.
    t.mock.timers.tick(1_000);
    const crossed = client.call('/math/add', { a: 20, b: 22 });
    assert.equal(await crossed, 42, 'answered on a new stream');
    assert.equal(opened.length, before + 1, 'one new stream');
    client.close();
  });
});

describe('a bad frame on the shared QUIC stream', () => {
  let home: TestHome;
  let node: RunningNode;
  let conn: Connection;
  let release!: () => void;
  let held = 0;

  before(async () => {
    home = await makeHome('alknet-call-mux-');
    node = await startTestNode(home);
    node.operations.register(
      defineOperation({
        name: 'test/hold',
        type: 'query',
        input: Type.Object({}),
        output: Type.Null(),
        scopes: [],
        visibility: 'external',
        async handler(_input, ctx) {
          held++;
          await new Promise<void>((resolve) => {
            release = resolve;
            ctx.signal.addEventListener('abort', () => resolve(), { once: true });
          });
          held--;
          return null;
        },
      }),
      'test',
    );
    conn = await dial(`${node.nodeId}@${node.address}`, { alpn: 'alknet/call', transport: 'quic', identity: newKeys() });
  });
  after(async () => {
    await conn?.close();
    await node?.stop();
    home?.cleanup();
  });

  test('closes that stream with its reason; the calls on it are answered; the next call opens a new stream on the same connection', async () => {
    const streams: Duplex[] = [];
    const client = new CallClient(async () => {
      const s = await conn.openStream();
      streams.push(s);
      return s;
    });
    assert.equal((await client.call<{ nodeId: string }>('node/info', {})).nodeId, node.nodeId);
    const inFlight = client.call('test/hold', {});
    inFlight.catch(() => {});
    for (let i = 0; i < 500 && held === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(held, 1, 'the call is running on the server');

    // Four zero bytes: a frame of length 0, a protocol error the stream cannot recover from.
    streams[0]!.write(Buffer.alloc(4));
    const err = await inFlight.then(() => assert.fail('the call on the broken stream was answered'), (e: unknown) => e);
    assert.ok(err instanceof CallError);
    assert.equal(err.code, 'UNAVAILABLE');
    assert.match(err.message, /bad frame: frame length is 0/, 'the reason names the bad frame');
    for (let i = 0; i < 500 && held > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(held, 0, 'the handler was aborted');

    // The client opens a new stream on the same connection and goes on.
    assert.equal((await client.call<{ nodeId: string }>('node/info', {})).nodeId, node.nodeId);
    assert.equal(streams.length, 2, 'a second stream was opened');
    const closed = track(conn.closed);
    await new Promise((r) => setImmediate(r));
    assert.equal(closed.outcome.state, 'pending', 'the connection stayed open');
    client.close();
  });

  test('an anonymous connection\'s request limit applies to every frame of the stream, not only the first', async () => {
    const stream = await conn.openStream();
    const decoder = new CallFrameDecoder();
    const answers: CallEnvelope[] = [];
    const ended = new Promise<void>((resolve) => {
      stream.on('data', (c: Buffer) => {
        decoder.push(c);
        for (let e = decoder.pull(); e; e = decoder.pull()) answers.push(e);
      });
      stream.on('end', () => resolve());
      stream.on('close', () => resolve());
    });
    stream.write(encodeFrame({ type: 'call.requested', id: 'small', payload: { operationId: 'node/info', input: {} } }));
    for (let i = 0; i < 500 && answers.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(answers.map((a) => a.type), ['call.responded', 'call.completed'], 'the first, small call is served');
    // Then a header announcing 1 MiB (the anonymous limit is 64 KiB): refused from the header.
    const header = Buffer.alloc(4 + 16, 0x41);
    header.writeUInt32BE(1024 * 1024, 0);
    stream.write(header);
    await ended;
    const refusal = answers[2];
    assert.equal(refusal?.type, 'call.error');
    if (refusal?.type === 'call.error') {
      assert.equal(refusal.payload.code, 'INVALID_INPUT');
      assert.match(refusal.payload.message, /above the 65536-byte limit/);
    }
    stream.end();
  });
});

test('a client that sends calls but reads no answers is stopped by flow control, not buffered for', async () => {
  const { registry } = sampleRegistry();
  let served: net.Socket | undefined;
  // One slot: the first call holds it, every later one is answered BUSY (cheap for the client to ask).
  const server = net.createServer((socket) => {
    served = socket;
    void serveCallStream(socket, { registry, caller: () => callerWith(), limiter: createCallLimiter(1), limits: { closeTimeoutMs: 1_000 } });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  client.on('error', () => {});
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  client.pause(); // never reads an answer
  try {
    client.write(encodeFrame({ type: 'call.requested', id: 'hold', payload: { operationId: '/wait/forever', input: {} } }));
    // 40 MiB of requests, far more than the kernel buffers of both directions hold.
    const one = encodeFrame({ type: 'call.requested', id: 'x'.repeat(24), payload: { operationId: '/math/add', input: { a: 1, b: 2 } } });
    const batch = Buffer.concat(Array.from({ length: 4096 }, () => one));
    let sent = 0;
    while (sent < 40 * 1024 * 1024) {
      client.write(batch);
      sent += batch.length;
    }
    // Wait until the server has stopped reading: bytesRead unchanged over 20 checks in a row.
    let last = -1;
    for (let still = 0, i = 0; still < 20 && i < 3_000; i++) {
      await new Promise((r) => setTimeout(r, 10));
      const now = served?.bytesRead ?? 0;
      still = now === last ? still + 1 : 0;
      last = now;
    }
    assert.ok(served, 'the server accepted the connection');
    assert.ok(served.bytesRead < sent / 2, `the server stopped reading (read ${served.bytesRead} of ${sent} bytes)`);
    assert.ok(served.writableLength < 4 * 1024 * 1024, `answers held for the client: ${served.writableLength} bytes`);
  } finally {
    client.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
