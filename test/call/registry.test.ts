// The operation registry and the built-in operations, without any stream.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Type } from '@sinclair/typebox';
import { createNodeActorsOperation, createNodeInfoOperation, createServiceOperations } from '../../operations/builtins.ts';
import { BusError, CallError } from '../../operations/errors.ts';
import { defineOperation, OperationCatalogue } from '../../operations/catalogue.ts';
import { callerWith, sampleRegistry } from './helpers.ts';
import { flush, track } from '../support/settle.ts';

async function codeOf(promise: Promise<unknown>): Promise<CallError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof CallError, `expected CallError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a CallError');
}

const anon = callerWith();

describe('OperationCatalogue', () => {
  test('invoke checks existence, scopes (naming the scope) and input (naming the field path)', async () => {
    const { registry } = sampleRegistry();
    assert.equal((await codeOf(registry.invoke('/nope/op', {}, anon))).code, 'NOT_FOUND');
    const forbidden = await codeOf(registry.invoke('kv/set', { key: 'a', value: 'b' }, anon));
    assert.equal(forbidden.code, 'FORBIDDEN');
    assert.match(forbidden.message, /needs scope "kv:write"/);
    assert.deepEqual(await registry.invoke('kv/set', { key: 'a', value: 'b' }, callerWith('kv')), { ok: true }, 'a parent scope covers kv:write');
    assert.deepEqual(await registry.invoke('kv/set', { key: 'a', value: 'b' }, callerWith('*')), { ok: true });
    const nested = new OperationCatalogue();
    nested.register(
      defineOperation({
        name: 'deep/op',
        type: 'query',
        input: Type.Object({ user: Type.Object({ tags: Type.Array(Type.String()) }) }),
        output: Type.Null(),
        scopes: [],
        visibility: 'external',
        async handler() {
          return null;
        },
      }),
    );
    const invalid = await codeOf(nested.invoke('deep/op', { user: { tags: ['a', 3] } }, anon));
    assert.equal(invalid.code, 'INVALID_INPUT');
    assert.match(invalid.message, /input\/user\/tags\/1/);
  });

  test('BusError/CallError from a handler keep their code; other throws become a generic INTERNAL', async () => {
    const internal: unknown[] = [];
    const registry = new OperationCatalogue({ onInternalError: (err) => internal.push(err) });
    const op = (name: string, fn: () => Promise<null>) =>
      defineOperation({ name, type: 'query', input: Type.Unknown(), output: Type.Null(), scopes: [], visibility: 'external', handler: fn });
    registry.register([
      op('e/bus', async () => {
        throw new BusError('UNAVAILABLE', 'vault is restarting');
      }),
      op('e/call', async () => {
        throw new CallError('BUSY', 'queue full', { details: { queued: 5 } });
      }),
      op('e/plain', async () => {
        throw new TypeError('secret key abc123 leaked in /home/me');
      }),
      op('e/sync', () => {
        throw new Error('sync throw');
      }),
    ]);
    const bus = await codeOf(registry.invoke('e/bus', null, anon));
    assert.deepEqual([bus.code, bus.message, bus.retryable], ['UNAVAILABLE', 'vault is restarting', true]);
    const call = await codeOf(registry.invoke('e/call', null, anon));
    assert.deepEqual([call.code, call.details], ['BUSY', { queued: 5 }]);
    const plain = await codeOf(registry.invoke('e/plain', null, anon));
    assert.equal(plain.code, 'INTERNAL');
    assert.ok(!/abc123|home|TypeError/.test(plain.message), plain.message);
    assert.equal(plain.stack?.includes('abc123'), false);
    assert.equal((await codeOf(registry.invoke('e/sync', null, anon))).code, 'INTERNAL');
    assert.equal(internal.length, 2, 'the hidden errors reach onInternalError for the log');
  });

  // Mock timers move the deadline; aborts come once the nested handler reports it has started.
  test('deadline expiry is TIMEOUT and aborts the handler signal; nested calls see it cascade', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    const { registry, observed } = sampleRegistry();
    const call = track(registry.invoke('wait/nested', { tag: 't1' }, anon, { deadlineMs: 30 }));
    await observed.when('started', 'inner:t1');
    t.mock.timers.tick(29);
    await flush();
    assert.equal(call.outcome.state, 'pending', 'not before the deadline');
    assert.deepEqual(observed.aborted, []);
    t.mock.timers.tick(1);
    const err = await codeOf(call.promise);
    assert.equal(err.code, 'TIMEOUT');
    await observed.when('aborted', 'inner:t1');
  });

  test('the caller aborting cascades into nested calls', async () => {
    const { registry, observed } = sampleRegistry();
    const controller = new AbortController();
    const pending = track(registry.invoke('wait/nested', { tag: 't2' }, anon, { signal: controller.signal }));
    await observed.when('started', 'inner:t2');
    assert.equal(pending.outcome.state, 'pending');
    controller.abort();
    assert.equal((await codeOf(pending.promise)).code, 'UNAVAILABLE');
    await observed.when('aborted', 'inner:t2');
  });

  test('internal operations are hidden from outside and reachable through ctx.call', async () => {
    const { registry } = sampleRegistry();
    assert.equal((await codeOf(registry.invoke('wait/inner', { tag: 'x' }, anon))).code, 'NOT_FOUND');
    assert.ok(!registry.list().some((o) => o.name === 'wait/inner'));
    assert.ok(registry.list({ includeInternal: true }).some((o) => o.name === 'wait/inner'));
  });

  test('validateOutput turns a wrong output into INTERNAL', async () => {
    const registry = new OperationCatalogue({ validateOutput: true });
    registry.register(
      defineOperation({
        name: 'bad/out',
        type: 'query',
        input: Type.Object({}),
        output: Type.String(),
        scopes: [],
        visibility: 'external',
        async handler() {
          return 5 as unknown as string;
        },
      }),
    );
    const err = await codeOf(registry.invoke('/bad/out', {}, anon));
    assert.equal(err.code, 'INTERNAL');
    assert.match(err.message, /does not match its schema/);
  });

  test('subscriptions stream values; breaking early aborts the handler', async () => {
    const { registry, observed } = sampleRegistry();
    const seen: unknown[] = [];
    for await (const v of registry.subscribe('count/up', { to: 3 }, anon)) seen.push(v);
    assert.deepEqual(seen, [1, 2, 3]);
    let n = 0;
    for await (const _ of registry.subscribe('ticks/forever', {}, anon)) if (++n === 2) break;
    await observed.when('aborted', 'ticks');
    assert.equal((await codeOf(registry.invoke('count/up', { to: 1 }, anon))).code, 'INVALID_INPUT', 'invoke refuses a subscription');
  });

  test('register/unregister, owners and duplicate names', () => {
    const registry = new OperationCatalogue();
    const spec = (name: string) =>
      defineOperation({ name, type: 'query', input: Type.Null(), output: Type.Null(), scopes: [], visibility: 'external', async handler() { return null; } });
    const owner = {};
    const off = registry.register([spec('a/one'), spec('/a/two')], owner);
    registry.register(spec('b/one'));
    assert.deepEqual(registry.list().map((o) => o.name), ['a/one', 'a/two', 'b/one']);
    assert.ok(registry.get('/a/two'), 'wire form "/ns/op" finds "ns/op"');
    assert.throws(() => registry.register(spec('a/one')), /already registered/);
    assert.throws(() => registry.register(spec('noslash')), /"ns\/op"/);
    off();
    assert.deepEqual(registry.list().map((o) => o.name), ['b/one']);
    registry.register(spec('c/one'), owner);
    registry.unregisterOwner(owner);
    assert.deepEqual(registry.list().map((o) => o.name), ['b/one']);
  });
});

describe('built-in operations', () => {
  const registry = new OperationCatalogue({ validateOutput: true });
  registry.register(createServiceOperations(registry));
  registry.register(
    createNodeInfoOperation(() => ({ nodeId: 'n'.repeat(52), version: '0.1.0', uptimeMs: 5, alpns: ['alknet/call'], listen: { tcp: '127.0.0.1:1' } })),
  );
  registry.register(createNodeActorsOperation(() => ({ id: 'node', status: 'active', children: [{ id: 'listener', status: 'active', children: [] }] })));
  registry.register(
    defineOperation({ name: 'x/hidden', type: 'query', input: Type.Null(), output: Type.Null(), scopes: [], visibility: 'internal', async handler() { return null; } }),
  );

  test('services/list and node/info are public', async () => {
    const list = (await registry.invoke('/services/list', {}, anon)) as { operations: { name: string; type: string }[] };
    assert.deepEqual(list.operations.map((o) => o.name), ['node/actors', 'node/info', 'services/list', 'services/schema']);
    const info = (await registry.invoke('/node/info', {}, anon)) as { version: string };
    assert.equal(info.version, '0.1.0');
  });

  test('services/schema gives JSON schemas; internal and unknown names are NOT_FOUND', async () => {
    const schema = (await registry.invoke('services/schema', { name: '/node/info' }, anon)) as { input: unknown; output: { properties: object } };
    assert.deepEqual(schema.input, { type: 'object', properties: {} });
    assert.ok('nodeId' in schema.output.properties);
    assert.equal((await codeOf(registry.invoke('services/schema', { name: 'x/hidden' }, anon))).code, 'NOT_FOUND');
    assert.equal((await codeOf(registry.invoke('services/schema', { name: 'y/z' }, anon))).code, 'NOT_FOUND');
  });

  test('node/actors needs the admin scope', async () => {
    const err = await codeOf(registry.invoke('node/actors', {}, anon));
    assert.equal(err.code, 'FORBIDDEN');
    assert.match(err.message, /"admin"/);
    const tree = (await registry.invoke('node/actors', {}, callerWith('admin'))) as { root: { children: unknown[] } };
    assert.equal(tree.root.children.length, 1);
  });
});
