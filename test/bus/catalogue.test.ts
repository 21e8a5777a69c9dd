import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Type as T } from '@sinclair/typebox';
import { BusError, defineMessages, hasReply, isKnownMessageType, messageTypes, validate, type ReplyOf, type RequestOf } from '../../bus/index.ts';
import { busTestMessages } from './fixtures/messages.ts';

const goodAccepted = {
  connId: 'c-1',
  alpn: 'alknet/call',
  transport: 'tls',
  peer: { nodeId: 'y'.repeat(52), publicKey: '0'.repeat(64) },
  remote: { host: '127.0.0.1', port: 4433 },
};

test('a good payload validates and comes back as is', () => {
  assert.equal(validate('connection.accepted', 'request', goodAccepted), goodAccepted);
  const anonymous = { ...goodAccepted, peer: null };
  assert.equal(validate('connection.accepted', 'request', anonymous), anonymous);
  assert.deepEqual(validate('bustest.add', 'reply', { sum: 3 }), { sum: 3 });
  const bytes = new Uint8Array([1, 2, 3]);
  assert.ok(!(validate('bustest.echo', 'request', { text: 'x', bytes }) instanceof BusError));
});

test('a bad payload yields INVALID_INPUT naming the field, without throwing', () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ ...goodAccepted, remote: { host: '127.0.0.1', port: 70000 } }, /field "remote\.port"/],
    [{ ...goodAccepted, peer: { nodeId: 'not-a-node-id', publicKey: '0'.repeat(64) } }, /field "peer/],
    [{ ...goodAccepted, transport: 'udp' }, /field "transport"/],
    [{ ...goodAccepted, connId: undefined }, /field "connId"/],
    [{ ...goodAccepted, alpn: 'x'.repeat(256) }, /field "alpn"/],
    ['a string', /field "\(value\)"/],
    [null, /field "\(value\)"/],
  ];
  for (const [value, field] of cases) {
    const result = validate('connection.accepted', 'request', value);
    assert.ok(result instanceof BusError, `expected an error for ${JSON.stringify(value)}`);
    assert.equal(result.code, 'INVALID_INPUT');
    assert.equal(result.retryable, false);
    assert.match(result.message, /^invalid connection\.accepted request: /);
    assert.match(result.message, field);
    const details = result.details as { errors: Array<{ path: string; message: string }> };
    assert.ok(details.errors.length >= 1 && details.errors.length <= 8);
  }
  const reply = validate('bustest.add', 'reply', { sum: 1.5 });
  assert.ok(reply instanceof BusError);
  assert.match(reply.message, /invalid bustest\.add reply: field "sum"/);
});

test('unknown types and replies of events are INVALID_INPUT too', () => {
  const unknown = validate('no.such', 'request', {});
  assert.ok(unknown instanceof BusError && unknown.code === 'INVALID_INPUT' && /unknown message type "no\.such"/.test(unknown.message));
  const eventReply = validate('connection.closed', 'reply', {});
  assert.ok(eventReply instanceof BusError && /has no reply/.test(eventReply.message));
});

test('the catalogue composes groups declared in other modules', () => {
  assert.ok(isKnownMessageType('connection.accepted'));
  assert.ok(isKnownMessageType('bustest.echo'));
  assert.equal(hasReply('bustest.echo'), true);
  assert.equal(hasReply('connection.closed'), false);
  assert.ok(messageTypes().includes('connection.closed'));
  // Types derived from the schemas (a wrong property would not compile).
  const req: RequestOf<'bustest.add'> = { a: 1, b: 2 };
  const rep: ReplyOf<'bustest.add'> = { sum: 3 };
  assert.equal(req.a + req.b, rep.sum);
});

test('defineMessages refuses bad names and conflicting redefinitions, accepts the same spec again', () => {
  assert.throws(() => defineMessages({ nodot: { request: T.Object({}) } }), /bad message type name "nodot"/);
  assert.throws(() => defineMessages({ 'xstate.init': { request: T.Object({}) } }), /bad message type name/);
  assert.throws(() => defineMessages({ 'bustest.echo': { request: T.Object({}) } }), /defined twice/);
  assert.doesNotThrow(() => defineMessages({ 'bustest.echo': busTestMessages['bustest.echo'] }));
});
