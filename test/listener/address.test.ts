import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatAddress, parseAddress } from '../../actors/listener/dial.ts';
import { nodeIdFromPublicKey } from '../../actors/vault/nodeId.ts';
import fc from 'fast-check';
import { newKeys } from './fixtures.ts';

const id = nodeIdFromPublicKey(newKeys().publicKey);

test('parses pinned and bare addresses', () => {
  assert.deepEqual(parseAddress('127.0.0.1:4433'), { host: '127.0.0.1', port: 4433 });
  assert.deepEqual(parseAddress(`${id}@node.example:1`), { nodeId: id, host: 'node.example', port: 1 });
  assert.deepEqual(parseAddress(`${id}@[::1]:65535`), { nodeId: id, host: '::1', port: 65535 });
  assert.equal(formatAddress(parseAddress(`${id}@[::1]:9`)), `${id}@[::1]:9`);
});

test('bad addresses get one-line errors', () => {
  const cases: [string, RegExp][] = [
    ['', /empty/],
    ['host', /expected \[NODEID@\]HOST:PORT/],
    ['host:0', /port must be/],
    ['host:70000', /port must be/],
    ['host:-1', /expected/],
    ['::1:80', /expected/],
    ['[zz]:80', /expected/],
    ['[1.2.3.4]:80', /not an IPv6/],
    [`abc@host:1`, /not a node id/],
    [`${id}@host`, /expected/],
    ['a'.repeat(600), /too long/],
    ['host:80\nX', /expected/],
  ];
  for (const [text, re] of cases) {
    assert.throws(() => parseAddress(text), (err: Error) => re.test(err.message) && !err.message.includes('\n'), text);
  }
});

test('fuzz: parseAddress accepts or gives a one-line error, and round-trips what it accepts', () => {
  fc.assert(fc.property(fc.oneof(
    fc.string({ maxLength: 120 }),
    fc.tuple(fc.constantFrom('', `${id}@`, 'x@'), fc.constantFrom('127.0.0.1', '[::1]', 'a.b', 'ÿ', '[1:2]'), fc.integer({ min: -5, max: 70000 }))
      .map(([p, h, port]) => `${p}${h}:${port}`),
  ), (text) => {
    let parsed;
    try {
      parsed = parseAddress(text);
    } catch (err) {
      assert.ok(!(err as Error).message.includes('\n'));
      return;
    }
    assert.deepEqual(parseAddress(formatAddress(parsed)), { ...parsed, host: parsed.host.toLowerCase() });
  }), { numRuns: 500 });
});
