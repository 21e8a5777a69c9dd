import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decode, encode } from '../../bus/codec.ts';
import { BusError, decodeEnvelope, encodeEnvelope, type Envelope } from '../../bus/index.ts';

/** msgpack has no -0 and no "undefined in arrays" distinction worth testing; keep to what it carries. */
const leaf = fc.oneof(
  fc.string(),
  fc.integer(),
  fc.double({ noNaN: true }).filter((d) => !Object.is(d, -0)),
  fc.boolean(),
  fc.constant(null),
  fc.uint8Array({ maxLength: 64 }),
);
const value = fc.letrec((tie) => ({
  tree: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('tree'), { maxLength: 4 }), fc.dictionary(fc.string({ maxLength: 8 }), tie('tree'), { maxKeys: 4 })),
})).tree;

const envelope: fc.Arbitrary<Envelope> = fc.record(
  {
    type: fc.string({ minLength: 1, maxLength: 128 }),
    correlationId: fc.string({ minLength: 1, maxLength: 128 }),
    to: fc.string({ minLength: 1, maxLength: 128 }),
    deadlineMs: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    payload: value,
  },
  { requiredKeys: ['type', 'correlationId', 'payload'] },
);

/** Buffers decode as Buffer (a Uint8Array); compare them as plain Uint8Array. */
function normalise(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bytes: [...v], isUint8Array: true };
  if (Array.isArray(v)) return v.map(normalise);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalise(x)]));
  return v;
}

test('envelopes round-trip through msgpack; Uint8Array stays binary', () => {
  fc.assert(
    fc.property(envelope, (env) => {
      const bytes = encodeEnvelope(env);
      const back = decodeEnvelope(bytes);
      assert.deepEqual(normalise(back), normalise(env));
    }),
    { numRuns: 300 },
  );
});

test('binary payload is msgpack bin (not an array of numbers, not base64)', () => {
  const payload = new Uint8Array(1000).fill(7);
  const bytes = encodeEnvelope({ type: 'a.b', correlationId: 'c', payload });
  assert.ok(bytes.length < 1100, `encoded as ${bytes.length} bytes`);
  const back = decodeEnvelope(bytes).payload;
  assert.ok(back instanceof Uint8Array);
  assert.equal(back.length, 1000);
  assert.deepEqual(normalise(decode(encode({ b: new Uint8Array([1, 2]) }))), normalise({ b: new Uint8Array([1, 2]) }));
});

test('bad envelopes are INVALID_INPUT with a clear reason; decoding never throws anything else', () => {
  const expectInvalid = (fn: () => unknown, message: RegExp) => {
    assert.throws(fn, (err: unknown) => err instanceof BusError && err.code === 'INVALID_INPUT' && message.test(err.message));
  };
  expectInvalid(() => decodeEnvelope(new Uint8Array()), /empty envelope/);
  expectInvalid(() => decodeEnvelope(new Uint8Array(100), 10), /over the limit of 10/);
  expectInvalid(() => decodeEnvelope(encode({ type: 'a.b', payload: 1 })), /field "correlationId"/);
  expectInvalid(() => decodeEnvelope(encode({ type: 'a.b', correlationId: 'c', payload: 1, deadlineMs: -1 })), /field "deadlineMs"/);
  // Trailing bytes after one value: refused, and the decoder's message (which quotes data) is not passed on.
  const trailing = new Uint8Array([...encode({ type: 'a.b', correlationId: 'secret-cid', payload: 1 }), 0]);
  assert.throws(() => decodeEnvelope(trailing), (err: unknown) => err instanceof BusError && !err.message.includes('secret'));
  expectInvalid(() => encodeEnvelope({ type: 'a.b', correlationId: 'c', payload: new Uint8Array(64) }, 32), /over the limit of 32/);
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 256 }), (bytes) => {
      try {
        decodeEnvelope(bytes);
      } catch (err) {
        assert.ok(err instanceof BusError && err.code === 'INVALID_INPUT', `unexpected ${String(err)}`);
      }
    }),
    { numRuns: 2000 },
  );
});
