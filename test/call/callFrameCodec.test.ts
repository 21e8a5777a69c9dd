// The alknet/call frame codec: property tests (round trip, arbitrary chunking) and every bad-frame case.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { encode } from '../../bus/codec.ts';
import {
  CallFrameDecoder,
  CallFrameError,
  decodeFrameBody,
  encodeFrame,
  validateEnvelope,
  type CallEnvelope,
} from '../../protocols/call/callFrameCodec.ts';

// Values msgpack round-trips exactly with our codec (no undefined inside arrays, no -0, no NaN quirks).
const jsonish: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Object.is(d, -0)),
    fc.string(),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 8 }).filter((k) => k !== '__proto__'), tie('value'), { maxKeys: 4 }),
  ),
})).value;

const id = fc.string({ minLength: 1, maxLength: 128 });
const envelope: fc.Arbitrary<CallEnvelope> = fc.oneof(
  fc.record({
    type: fc.constant('call.requested' as const),
    id,
    payload: fc.record(
      {
        operationId: fc.string({ minLength: 1, maxLength: 256 }),
        input: jsonish,
        authToken: fc.string({ minLength: 1, maxLength: 100 }),
        deadlineMs: fc.integer({ min: 1, max: 1e9 }),
      },
      { requiredKeys: ['operationId', 'input'] },
    ),
  }),
  fc.record({ type: fc.constant('call.responded' as const), id, payload: fc.record({ output: jsonish }) }),
  fc.record({ type: fc.constant('call.completed' as const), id, payload: fc.constant({}) }),
  fc.record({
    type: fc.constant('call.aborted' as const),
    id,
    payload: fc.record({ reason: fc.string({ maxLength: 100 }) }, { requiredKeys: [] }),
  }),
  fc.record({
    type: fc.constant('call.error' as const),
    id,
    payload: fc.record(
      {
        code: fc.constantFrom('NOT_FOUND', 'FORBIDDEN', 'INVALID_INPUT', 'TIMEOUT', 'BUSY', 'UNAVAILABLE', 'INTERNAL'),
        message: fc.string({ maxLength: 200 }),
        retryable: fc.boolean(),
        details: jsonish,
      },
      { requiredKeys: ['code', 'message', 'retryable'] },
    ),
  }),
);

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function frameOf(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

function pullAll(decoder: CallFrameDecoder): CallEnvelope[] {
  const out: CallEnvelope[] = [];
  for (let e = decoder.pull(); e; e = decoder.pull()) out.push(e);
  return out;
}

function decodeError(bytes: Uint8Array, maxFrameBytes?: number): CallFrameError {
  const decoder = new CallFrameDecoder({ maxFrameBytes });
  decoder.push(bytes);
  decoder.end();
  try {
    pullAll(decoder);
  } catch (err) {
    assert.ok(err instanceof CallFrameError);
    return err;
  }
  assert.fail('expected a CallFrameError');
}

describe('call frame codec properties', () => {
  test('round trip of arbitrary envelopes', () => {
    fc.assert(
      fc.property(envelope, (e) => {
        const frame = encodeFrame(e);
        assert.equal(new DataView(frame.buffer, frame.byteOffset).getUint32(0), frame.length - 4);
        // structuredClone: fast-check builds null-prototype objects; msgpack gives plain ones.
        assert.deepEqual(decodeFrameBody(frame.subarray(4)), structuredClone(e));
      }),
      { numRuns: 300 },
    );
  });

  test('arbitrary chunking of the byte stream yields the same frames', () => {
    fc.assert(
      fc.property(fc.array(envelope, { minLength: 1, maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1 }), (envs, cuts) => {
        const bytes = concat(envs.map((e) => encodeFrame(e)));
        const decoder = new CallFrameDecoder();
        const got: CallEnvelope[] = [];
        let at = 0;
        for (let i = 0; at < bytes.length; i++) {
          const size = cuts[i % cuts.length]!;
          decoder.push(bytes.subarray(at, at + size));
          at += size;
          got.push(...pullAll(decoder));
          assert.ok(decoder.bufferedBytes <= decoder.maxFrameBytes + 4);
        }
        decoder.end();
        got.push(...pullAll(decoder));
        assert.deepEqual(got, structuredClone(envs));
      }),
      { numRuns: 200 },
    );
  });

  test('the decoder never buffers more than the limit + 4 bytes, even fed byte by byte', () => {
    const limit = 100;
    const decoder = new CallFrameDecoder({ maxFrameBytes: limit });
    const frame = encodeFrame({ type: 'call.responded', id: 'a', payload: { output: 'x'.repeat(40) } }, limit);
    let peak = 0;
    for (let round = 0; round < 3; round++) {
      for (const byte of frame) {
        decoder.push(Uint8Array.of(byte));
        peak = Math.max(peak, decoder.bufferedBytes);
      }
      assert.equal(pullAll(decoder).length, 1);
    }
    assert.ok(peak <= limit + 4, `peak ${peak}`);
    assert.equal(decoder.bufferedBytes, 0);
  });
});

describe('bad frames', () => {
  test('length 0', () => {
    const err = decodeError(new Uint8Array(4));
    assert.equal(err.kind, 'length');
    assert.match(err.message, /length is 0/);
  });

  test('length above the configured limit is refused from the header alone', () => {
    const decoder = new CallFrameDecoder({ maxFrameBytes: 1024 });
    decoder.push(Uint8Array.of(0, 0, 4, 1)); // 1025
    assert.equal(decoder.failed, true);
    assert.equal(decoder.bufferedBytes, 0);
    assert.throws(() => decoder.pull(), /1025 is above the 1024-byte limit/);
  });

  test('length above the default 16 MiB limit', () => {
    const err = decodeError(Uint8Array.of(0x01, 0x00, 0x00, 0x01));
    assert.match(err.message, /16777217 is above the 16777216-byte limit/);
  });

  test('truncated frame', () => {
    const frame = encodeFrame({ type: 'call.completed', id: 'a', payload: {} });
    const err = decodeError(frame.subarray(0, frame.length - 1));
    assert.equal(err.kind, 'truncated');
    assert.equal(decodeError(frame.subarray(0, 2)).kind, 'truncated', 'a partial header too');
  });

  test('not msgpack', () => {
    const err = decodeError(frameOf(Uint8Array.of(0xdc, 0xff)));
    assert.equal(err.kind, 'msgpack');
  });

  test('trailing bytes after the msgpack value', () => {
    const err = decodeError(frameOf(concat([encode({ type: 'call.completed', id: 'a', payload: {} }), Uint8Array.of(0xc0)])));
    assert.match(err.message, /trailing bytes/);
  });

  test('not a map, unknown type, unknown field, wrong field types', () => {
    assert.match(decodeError(frameOf(encode([1, 2]))).message, /not a map/);
    assert.match(decodeError(frameOf(encode({ type: 'call.nope', id: 'a', payload: {} }))).message, /unknown envelope type "call.nope"/);
    assert.match(decodeError(frameOf(encode({ type: 'call.completed', id: 'a', payload: {}, extra: 1 }))).message, /unknown field "extra"/);
    assert.match(decodeError(frameOf(encode({ type: 'call.completed', id: 5, payload: {} }))).message, /"id" must be a string/);
    assert.match(decodeError(frameOf(encode({ type: 'call.completed', id: 'a', payload: 5 }))).message, /"payload" must be a map/);
    const err = decodeError(frameOf(encode({ type: 'call.requested', id: 'q', payload: { operationId: '/a/b', deadlineMs: 'soon' } })));
    assert.match(err.message, /payload\/deadlineMs/);
    assert.equal(err.id, 'q', 'the id is kept so the error can be answered');
    assert.match(decodeError(frameOf(encode({ type: 'call.error', id: 'e', payload: { code: 'X', message: 'm' } }))).message, /payload\/retryable/);
  });

  test('good frames before a bad one are delivered first; the decoder then stays failed', () => {
    const good = encodeFrame({ type: 'call.completed', id: 'a', payload: {} });
    const decoder = new CallFrameDecoder();
    decoder.push(concat([good, new Uint8Array(4), good]));
    assert.equal(decoder.pull()?.type, 'call.completed');
    assert.throws(() => decoder.pull(), CallFrameError);
    decoder.push(good);
    assert.throws(() => decoder.pull(), CallFrameError);
  });

  test('encoding refuses a frame over the limit and unencodable values', () => {
    assert.throws(() => encodeFrame({ type: 'call.responded', id: 'a', payload: { output: 'x'.repeat(200) } }, 100), /above the 100-byte frame limit/);
    assert.throws(() => encodeFrame({ type: 'call.responded', id: 'a', payload: { output: 2n ** 80n } }), CallFrameError);
  });

  test('validateEnvelope accepts a well-formed envelope as is', () => {
    const e = { type: 'call.aborted', id: 'z', payload: { reason: 'why' } };
    assert.deepEqual(validateEnvelope(e), e);
  });
});
