// The inspector relay against hostile clients (issue #16, item 10): a web page from elsewhere
// cannot open it, viewers cannot write into it, their messages are size-capped, the replay buffer
// is bounded in bytes as well as count, a viewer that stops reading is cut off, and a busy port
// is a typed one-line error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import { assign, createActor, setup } from 'xstate';
import { CLOSE_READ_ONLY, INSPECT_DEFAULT_PORT, InspectorPortBusyError, originAllowed, startInspector } from '../../supervisors/inspector.ts';
import type { RunningInspector } from '../../supervisors/inspector.ts';
import { waitFor, within } from '../listener/fixtures.ts';

interface Viewer {
  ws: WebSocket;
  messages: string[];
  closed: Promise<{ code: number; reason: string }>;
}

/** Opens a viewer; rejects with the HTTP status when the upgrade is refused. */
function openViewer(port: number, origin?: string): Promise<Viewer> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, origin === undefined ? {} : { origin });
    const messages: string[] = [];
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
    ws.on('message', (data) => messages.push(data.toString()));
    ws.on('error', () => {});
    ws.once('unexpected-response', (_req, res) => reject(new Error(`refused with ${res.statusCode}`)));
    ws.once('open', () => resolve({ ws, messages, closed }));
    ws.once('error', reject);
  });
}

const counter = setup({
  types: { context: {} as { n: number; note: string }, events: {} as { type: 'inc' }, input: {} as { note: string } },
}).createMachine({
  id: 'counter',
  context: ({ input }) => ({ n: 0, note: input.note }),
  on: { inc: { actions: assign({ n: ({ context }) => context.n + 1 }) } },
});

/** An actor inspected by the relay, with `note` in its context (so each snapshot is about note's size). */
function feed(inspector: RunningInspector, note = 'hello'): { inc(times: number): void; stop(): void } {
  const actor = createActor(counter, { input: { note }, inspect: inspector.inspect }).start();
  return { inc: (times) => { for (let i = 0; i < times; i++) actor.send({ type: 'inc' }); }, stop: () => actor.stop() };
}

test('a page from another origin cannot open the inspector; no Origin and this host:port can', async () => {
  const inspector = await startInspector(0);
  const actor = feed(inspector);
  const port = inspector.port;
  try {
    actor.inc(3);
    for (const origin of ['https://evil.example', `http://evil.example:${port}`, `http://127.0.0.1.evil.example:${port}`, 'null',
      `http://localhost:${port + 1}`, `https://127.0.0.1:${port}`, 'not a url']) {
      await assert.rejects(openViewer(port, origin), /refused with 403/, origin);
    }
    for (const origin of [undefined, `http://127.0.0.1:${port}`, `http://localhost:${port}`, `http://[::1]:${port}`]) {
      const viewer = await openViewer(port, origin);
      await waitFor(() => viewer.messages.some((m) => m.includes('@xstate.snapshot')), 5000, `snapshot reaches ${origin ?? 'no origin'}`);
      viewer.ws.close();
    }
    assert.equal(originAllowed(undefined, port), true);
    assert.equal(originAllowed(`http://127.0.0.1:${port}`, port + 1), false);
  } finally {
    actor.stop();
    inspector.stop();
  }
});

test('viewers are read-only: what a client sends is never relayed or replayed, and the client is closed', async () => {
  const inspector = await startInspector(0);
  const actor = feed(inspector);
  try {
    const writer = await openViewer(inspector.port);
    const watcher = await openViewer(inspector.port);
    const injected = JSON.stringify({ type: '@xstate.snapshot', sessionId: 'x:0', snapshot: { context: { marker: 'INJECTED-BY-A-CLIENT' } } });
    writer.ws.send(injected);
    const { code } = await within(writer.closed, 5000, 'the writing client is closed');
    assert.equal(code, CLOSE_READ_ONLY);
    // The node's own events still flow to the other viewer, and to one that comes later.
    actor.inc(2);
    await waitFor(() => watcher.messages.some((m) => m.includes('"n":2')), 5000, 'the node\'s events reach the watcher');
    const late = await openViewer(inspector.port);
    await waitFor(() => late.messages.length === inspector.buffered().events, 5000, 'the replay reaches a later viewer');
    for (const m of [...watcher.messages, ...late.messages]) assert.ok(!m.includes('INJECTED-BY-A-CLIENT'), 'nothing a client sent');
    watcher.ws.close();
    late.ws.close();
  } finally {
    actor.stop();
    inspector.stop();
  }
});

test('a 20 MB message from a client closes it at the frame header; nothing of it is kept', async () => {
  const inspector = await startInspector(0);
  const actor = feed(inspector);
  try {
    actor.inc(1);
    await waitFor(() => inspector.buffered().events > 0, 5000, 'some events buffered');
    const before = inspector.buffered();
    const big = await openViewer(inspector.port);
    big.ws.send(randomBytes(20 * 1024 * 1024));
    const { code } = await within(big.closed, 10_000, 'the client is closed');
    assert.equal(code, 1009, 'message too big (ws maxPayload)');
    assert.deepEqual(inspector.buffered(), before, 'the buffer did not take it');
  } finally {
    actor.stop();
    inspector.stop();
  }
});

test('the replay buffer is bounded in bytes as well as in count; an event over maxEventBytes is dropped', async () => {
  const inspector = await startInspector(0, { maxBufferedBytes: 20_000, maxBufferedEvents: 500, maxEventBytes: 50_000 });
  const note = 'x'.repeat(1000);
  const actor = feed(inspector, note);
  const huge = feed(inspector, 'y'.repeat(60_000));
  try {
    const early = await openViewer(inspector.port);
    actor.inc(100);
    await waitFor(() => early.messages.some((m) => m.includes('"n":100')), 10_000, 'all events relayed');
    const { events, bytes } = inspector.buffered();
    assert.ok(bytes <= 20_000, `${bytes} bytes buffered`);
    assert.ok(events < 100, `${events} events kept of 200+`);
    assert.ok(inspector.dropped() >= 1, 'the actor with a 60 kB context was not relayed');
    assert.ok(!early.messages.some((m) => m.includes('y'.repeat(60_000))));
    const late = await openViewer(inspector.port);
    await waitFor(() => late.messages.length === events, 5000, 'the late viewer gets the bounded replay');
    assert.ok(late.messages.some((m) => m.includes('"n":100')), 'the newest events are the ones kept');
    early.ws.close();
    late.ws.close();
  } finally {
    actor.stop();
    huge.stop();
    inspector.stop();
  }
});

test('a viewer that stops reading is disconnected instead of growing the node\'s memory', async () => {
  const inspector = await startInspector(0, { maxViewerBacklogBytes: 256 * 1024, maxEventBytes: 512 * 1024 });
  const actor = feed(inspector, 'z'.repeat(200_000));
  // A raw WebSocket handshake, then never read: the kernel buffers fill, then ws's queue grows.
  const socket = netConnect(inspector.port, '127.0.0.1');
  socket.on('error', () => {});
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  try {
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${inspector.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
      + `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    const upgraded = new Promise<string>((r) => socket.once('data', (d: Buffer) => r(d.toString('latin1').split('\r\n')[0]!)));
    assert.match(await within(upgraded, 5000, 'upgrade answer'), /101/);
    socket.pause();
    // Each event is ~200 kB; the kernel's loopback buffers hold a few MB, so ~300 events overflow them.
    for (let round = 0; round < 300 && !socket.destroyed; round++) {
      actor.inc(1);
      await new Promise((r) => setTimeout(r, 5));
      if (await Promise.race([closed.then(() => true), new Promise<boolean>((r) => setImmediate(() => r(false)))])) break;
    }
    socket.resume(); // drain what is left, so the close (FIN after the data) is seen
    await within(closed, 15_000, 'the stalled viewer is cut off');
  } finally {
    socket.destroy();
    actor.stop();
    inspector.stop();
  }
});

test('a busy port is a typed, one-line error; the default port is not Node\'s debugger\'s', async () => {
  assert.notEqual(INSPECT_DEFAULT_PORT, 9229);
  assert.ok(Number.isInteger(INSPECT_DEFAULT_PORT) && INSPECT_DEFAULT_PORT > 1024 && INSPECT_DEFAULT_PORT < 65536);
  const first = await startInspector(0);
  try {
    const err = await startInspector(first.port).then(
      (second) => { second.stop(); return undefined; },
      (e: unknown) => e,
    );
    assert.ok(err instanceof InspectorPortBusyError, 'a typed error');
    assert.equal(err.port, first.port);
    assert.ok(!err.message.includes('\n'), 'one line');
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${first.port} is already in use`));
  } finally {
    first.stop();
  }
});
