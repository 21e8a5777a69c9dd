// Fuzzing serveCallStream with random and mutated frames: it never throws, every stream ends
// (answered with valid frames, or closed: an idle stream is ended after requestTimeoutMs), and
// well-formed calls keep working afterwards.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import fc from 'fast-check';
import { CallFrameDecoder, encodeFrame, type CallEnvelope } from '../../protocols/call/callFrameCodec.ts';
import { CallClient } from '../../protocols/call/client.ts';
import { createConnectionCallServer } from '../../protocols/call/server.ts';
import { callerWith, duplexPair, sampleRegistry } from './helpers.ts';
import { flush } from '../support/settle.ts';

const { registry } = sampleRegistry({ validateOutput: true, defaultDeadlineMs: 200 });
const connection = createConnectionCallServer({
  registry,
  caller: () => callerWith(),
  limits: { maxFrameBytes: 4096, requestTimeoutMs: 100, closeTimeoutMs: 100 },
  maxConcurrentCalls: 50,
});

const seeds: Uint8Array[] = [
  encodeFrame({ type: 'call.requested', id: 'a', payload: { operationId: '/math/add', input: { a: 1, b: 2 } } }),
  encodeFrame({ type: 'call.requested', id: 'b', payload: { operationId: '/count/up', input: { to: 3 }, deadlineMs: 100 } }),
  encodeFrame({ type: 'call.requested', id: 'c', payload: { operationId: '/wait/forever', input: {}, deadlineMs: 50 } }),
  encodeFrame({ type: 'call.aborted', id: 'd', payload: { reason: 'x' } }),
  encodeFrame({ type: 'call.error', id: 'e', payload: { code: 'INTERNAL', message: 'm', retryable: false } }),
];

/** A seed frame with some bytes overwritten, some cut, some appended. */
const mutated = fc
  .record({
    seed: fc.constantFrom(...seeds),
    edits: fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), { maxLength: 4 }),
    cut: fc.option(fc.nat(), { nil: undefined }),
    extra: fc.uint8Array({ maxLength: 16 }),
  })
  .map(({ seed, edits, cut, extra }) => {
    const bytes = Uint8Array.from(seed);
    for (const { at, byte } of edits) bytes[at % bytes.length] = byte;
    const kept = cut === undefined ? bytes : bytes.subarray(0, cut % (bytes.length + 1));
    return Uint8Array.from([...kept, ...extra]);
  });

const input = fc.oneof(fc.uint8Array({ maxLength: 64 }), mutated, fc.array(mutated, { maxLength: 3 }).map((parts) => Uint8Array.from(parts.flatMap((p) => [...p]))));

/**
 * Every timer the server and its operations set here is at most 200 ms (request and close timeouts,
 * call deadlines): a stream not settled after this much simulated time never settles.
 */
const SETTLE_LIMIT_MS = 10_000;

/** Feeds bytes to one served stream; returns what the server wrote, once the stream is done. */
async function feed(clock: TestContext['mock']['timers'], bytes: Uint8Array, endInput: boolean): Promise<Buffer> {
  const [client, server] = duplexPair();
  const chunks: Buffer[] = [];
  client.on('data', (c: Buffer) => chunks.push(c));
  client.on('error', () => {});
  // Like a real client: once the server has ended its side, end ours so the stream closes.
  client.on('end', () => client.end());
  const served = connection.serve(server);
  // Split at an arbitrary point so frames also arrive in pieces.
  const half = bytes.length >> 1;
  client.write(bytes.subarray(0, half));
  client.write(bytes.subarray(half));
  if (endInput) client.end();
  // Time moves only here, 10 ms at a time, after every stream event queued so far has run: the
  // server's timers fire in order however slow the machine is, and nothing waits on a real clock.
  let settled = false;
  void served.then(() => (settled = true));
  for (let ms = 0; !settled && ms < SETTLE_LIMIT_MS; ms += 10) {
    await flush();
    if (!settled) clock.tick(10);
  }
  await flush();
  assert.ok(settled, `serveCallStream settles for every input (not within ${SETTLE_LIMIT_MS} simulated ms)`);
  client.destroy();
  return Buffer.concat(chunks);
}

test('random and mutated frames: no throw, every stream answered or closed', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  await fc.assert(
    fc.asyncProperty(input, fc.boolean(), async (bytes, endInput) => {
      const out = await feed(t.mock.timers, bytes, endInput);
      // Whatever came back is well-formed frames; per call id, outputs then exactly one ending
      // (completed or error) and nothing after it. A stream carries several calls, interleaved.
      const decoder = new CallFrameDecoder();
      decoder.push(out);
      decoder.end();
      const byId = new Map<string, CallEnvelope[]>();
      for (let e = decoder.pull(); e; e = decoder.pull()) byId.set(e.id, [...(byId.get(e.id) ?? []), e]);
      for (const [id, frames] of byId) {
        const types = frames.map((f) => f.type).join();
        assert.ok(['call.completed', 'call.error'].includes(frames.at(-1)!.type), `${id}: ${types}`);
        for (const f of frames.slice(0, -1)) assert.equal(f.type, 'call.responded', `${id}: ${types}`);
      }
    }),
    { numRuns: 200 },
  );
  assert.equal(connection.limiter.inFlight, 0, 'every call slot was released');
  // And the connection still serves good calls.
  const client = new CallClient(async () => {
    const [a, b] = duplexPair();
    void connection.serve(b);
    return a;
  });
  assert.equal(await client.call('/math/add', { a: 20, b: 22 }), 42);
});
