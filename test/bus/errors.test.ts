import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BusError, ERROR_CODES, fromErrorShape, toErrorShape } from '../../bus/index.ts';

test('retryable defaults follow the code and can be overridden', () => {
  for (const code of ERROR_CODES) {
    const expected = code === 'TIMEOUT' || code === 'BUSY' || code === 'UNAVAILABLE';
    assert.equal(new BusError(code, 'x').retryable, expected, code);
  }
  assert.equal(new BusError('UNAVAILABLE', 'x', { retryable: false }).retryable, false);
});

test('a BusError survives toErrorShape/fromErrorShape with code, message, retryable and details', () => {
  const err = new BusError('INVALID_INPUT', 'field "path" is missing', { details: { field: 'path' } });
  const shape = toErrorShape(err);
  assert.deepEqual(shape, { code: 'INVALID_INPUT', message: 'field "path" is missing', retryable: false, details: { field: 'path' } });
  const back = fromErrorShape(JSON.parse(JSON.stringify(shape)));
  assert.ok(back instanceof BusError);
  assert.deepEqual(toErrorShape(back), shape);
});

test('an unknown thrown value becomes INTERNAL with a generic message (no leak)', () => {
  for (const thrown of [new Error('ENOENT: /root/.alknet/vault.json'), 'a string', 42, null, { code: 'NOT_FOUND' }]) {
    assert.deepEqual(toErrorShape(thrown), { code: 'INTERNAL', message: 'internal error', retryable: false });
  }
});

test('fromErrorShape never throws on hostile input and bounds the message', () => {
  assert.equal(fromErrorShape({ code: 'NOPE', message: 'x', retryable: true }).code, 'INTERNAL');
  assert.equal(fromErrorShape(null).code, 'INTERNAL');
  assert.equal(fromErrorShape({ code: 'BUSY' }).retryable, true);
  assert.ok(fromErrorShape({ code: 'BUSY', message: 'm'.repeat(100_000), retryable: true }).message.length <= 1025);
  fc.assert(
    fc.property(fc.anything(), (value) => {
      const err = fromErrorShape(value);
      assert.ok(err instanceof BusError);
      assert.ok(ERROR_CODES.includes(err.code));
    }),
    { numRuns: 300 },
  );
});
