// The node's architecture, seen from a remote caller (issue: one way to reach a service):
// - an ALPN that peers.toml denies to a caller is refused at the connection, with the reason;
// - an operation is a bus request to its owning actor, so a remote caller meets that actor's
//   mailbox bound (BUSY, retryable) while other clients are still served;
// - a service that crashes while a remote call waits on it answers that call with a retryable
//   error (never a hang), the next call after its restart succeeds, and the other services keep
//   their state (fs and tensor do not restart each other).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Type } from '@sinclair/typebox';
import { assign, forwardTo, setup, type AnyActorLogic, type EventObject } from 'xstate';
import { dial } from '../../actors/listener/dial.ts';
import { connect } from '../../protocols/call/connect.ts';
import { BlobsClient } from '../../protocols/blobs/client.ts';
import { defineMessages, type MessagesOf } from '../../bus/catalogue.ts';
import type { BusRequestEvent } from '../../bus/events.ts';
import { servedBy } from '../../operations/catalogue.ts';
import { CallError } from '../../operations/errors.ts';
import { addPeer } from '../../actors/peers/peersFile.ts';
import { fsMachine } from '../../actors/fs/machine.ts';
import { tensorMachine } from '../../actors/tensor/machine.ts';
import { nodeIdFromPublicKey } from '../../actors/vault/nodeId.ts';
import { echo, newKeys, within } from '../listener/fixtures.ts';
import { echoProtocol, makeHome, poll, startTestNode } from './helpers.ts';
import fs from 'node:fs';
import path from 'node:path';

const gateMessages = defineMessages({
  'testgate.wait': { request: Type.Object({ n: Type.Integer() }), reply: Type.Object({ n: Type.Integer() }) },
});
declare module '../../bus/catalogue.ts' {
  interface Catalogue extends MessagesOf<typeof gateMessages> {}
}

/** A service that holds every request until it gets `testgate.release`, then answers them all. */
const gate = setup({
  types: { context: {} as { held: BusRequestEvent<'testgate.wait'>[] }, events: {} as BusRequestEvent<'testgate.wait'> | { type: 'testgate.release' } | { type: 'shutdown' } },
}).createMachine({
  id: 'gate',
  context: { held: [] },
  initial: 'holding',
  states: {
    holding: {
      on: {
        'testgate.wait': { actions: assign({ held: ({ context, event }) => [...context.held, event as BusRequestEvent<'testgate.wait'>] }) },
        'testgate.release': { actions: ({ context }) => context.held.forEach((e) => e.replyTo.reply({ n: e.payload.n })) },
        shutdown: 'done',
      },
    },
    done: { type: 'final' },
  },
});

/**
 * Wraps a service: requests of type `hold` are kept unanswered (after the first `passFirst`); `test.crash` stops the inner service
 * (so it closes what it holds) and then fails, as a crash would; everything else goes to the inner one.
 */
function crashable(inner: AnyActorLogic, hold: string, options: { passFirst?: number } = {}): AnyActorLogic {
  const passFirst = options.passFirst ?? 0;
  return setup({ types: { context: {} as { input: unknown; held: number; passed: number } }, actors: { inner } }).createMachine({
    id: 'crashable',
    context: ({ input }: { input: unknown }) => ({ input, held: 0, passed: 0 }),
    initial: 'running',
    states: {
      running: {
        invoke: { id: 'inner', src: 'inner', input: ({ context }: { context: { input: unknown } }) => context.input as never },
        on: {
          'test.crash': 'crashing',
          shutdown: 'done',
          // The first `passFirst` requests of that type go through; the rest are held.
          [hold]: [
            { guard: ({ context }) => context.passed < passFirst, actions: [assign({ passed: ({ context }) => context.passed + 1 }), forwardTo('inner')] },
            { actions: assign({ held: ({ context }) => context.held + 1 }) },
          ],
          '*': { actions: forwardTo('inner') },
        },
      },
      crashing: {
        entry: () => {
          throw new Error('test crash');
        },
      },
      done: { type: 'final' },
    },
  }) as unknown as AnyActorLogic;
}

async function expectCallError(promise: Promise<unknown>, code: string): Promise<CallError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof CallError, `a CallError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}, the call succeeded`);
}

test('an ALPN that peers.toml denies is refused at the connection with the reason', async () => {
  const home = await makeHome();
  const listed = newKeys();
  const listedId = nodeIdFromPublicKey(listed.publicKey);
  fs.writeFileSync(
    path.join(home.home, 'peers.toml'),
    `[anonymous]\ndenyAlpns = ["test/echo"]\n[peers.${listedId}]\nscopes = []\nalpns = ["test/other"]\n`,
  );
  const node = await startTestNode(home, { protocols: [echoProtocol('test/echo'), echoProtocol('test/other')] });
  try {
    const address = `${node.nodeId}@${node.address}`;
    // An unknown caller on a denied ALPN: closed with the reason (QUIC carries it).
    const anon = await dial(address, { alpn: 'test/echo', transport: 'quic', identity: newKeys() });
    const { reason } = await within(anon.closed, 10_000, 'the refused connection closes');
    assert.match(reason, /refused: test\/echo is refused to callers that are not listed peers/);
    // The listed peer may use only its allow-listed ALPN.
    const denied = await dial(address, { alpn: 'test/echo', transport: 'quic', identity: listed });
    assert.match((await within(denied.closed, 10_000, 'closed')).reason, /test\/echo is not among the ALPNs allowed to this peer/);
    const allowed = await dial(address, { alpn: 'test/other', transport: 'quic', identity: listed });
    assert.equal((await echo(await allowed.openStream(), Buffer.from('still served'))).toString(), 'still served');
    await allowed.close();
    // Over TLS the refusal closes the socket (TLS has no close reason on the wire).
    const tls = await dial(address, { alpn: 'test/echo', transport: 'tls', identity: newKeys() });
    await within(tls.closed, 10_000, 'the refused TLS connection closes');
  } finally {
    await node.stop();
  }
});

test('a remote caller that fills a service mailbox gets BUSY; other clients are still served', async () => {
  const home = await makeHome();
  const caller = newKeys();
  addPeer(home.home, nodeIdFromPublicKey(caller.publicKey), { scopes: ['gate'] });
  const node = await startTestNode(home, {
    services: () => [{ id: 'gate', systemId: 'gate', logic: gate, restart: 'permanent', mailbox: 3 }],
    operations: [servedBy('gate', 'testgate.wait', { name: 'gate/wait', type: 'query', scopes: ['gate'], visibility: 'external' })],
  });
  const client = await connect(`${node.nodeId}@${node.address}`, { identity: caller });
  const other = await connect(`${node.nodeId}@${node.address}`, { identity: newKeys() });
  try {
    const calls = Array.from({ length: 8 }, (_, n) => client.call('gate/wait', { n }, { deadlineMs: 20_000 }).then((v) => ({ ok: v }), (err: unknown) => ({ err })));
    // Wait until the gate holds its three, then check the others were refused at once.
    await poll(() => ((node.root.system.get('gate')?.getSnapshot().context as { held: unknown[] }).held.length === 3 ? true : undefined), 10_000, 'three held');
    const info = (await other.call('node/info', {})) as { nodeId: string };
    assert.equal(info.nodeId, node.nodeId, 'another client is served meanwhile');
    node.root.system.get('gate')!.send({ type: 'testgate.release' });
    const results = await Promise.all(calls);
    const busy = results.filter((r) => 'err' in r);
    assert.equal(results.length - busy.length, 3, 'the three held calls are answered');
    assert.equal(busy.length, 5);
    for (const r of busy) {
      const err = (r as { err: unknown }).err;
      assert.ok(err instanceof CallError && err.code === 'BUSY' && err.retryable, `BUSY and retryable, got ${String(err)}`);
    }
  } finally {
    await client.close();
    await other.close();
    await node.stop();
  }
});

test('fs crashes while a remote blobs call waits on it: a retryable error, then served again; tensor keeps its handles', async () => {
  const home = await makeHome();
  const caller = newKeys();
  addPeer(home.home, nodeIdFromPublicKey(caller.publicKey), { scopes: ['blobs', 'tensor'] });
  const node = await startTestNode(home, { tensor: 'js', serviceLogic: { fs: crashable(fsMachine, 'fs.stat') } });
  const client = await connect(`${node.nodeId}@${node.address}`, { identity: caller });
  try {
    const created = (await client.call('tensor/create', { shape: [2], dtype: 'f32', data: [1, 2] })) as { handle: string };
    const before = node.root.system.get('tensor');
    const hash = '0'.repeat(64);
    const inFlight = client.call('blobs/stat', { hash }, { deadlineMs: 20_000 });
    inFlight.catch(() => {});
    await poll(() => ((node.root.system.get('fs')?.getSnapshot().context as { held?: number })?.held === 1 ? true : undefined), 10_000, 'the stat is held');
    node.root.system.get('fs')!.send({ type: 'test.crash' } as EventObject);
    const err = await expectCallError(inFlight, 'UNAVAILABLE');
    assert.equal(err.retryable, true, 'the caller may retry');
    // After the restart the fs actor answers again (blobs/has is not held by the wrapper).
    let has: unknown;
    for (let attempt = 0; attempt < 50 && has === undefined; attempt++) {
      has = await client.call('blobs/has', { hash }, { deadlineMs: 5_000 }).catch(async (e: unknown) => {
        assert.ok(e instanceof CallError && e.retryable, `only retryable errors while fs restarts, got ${String(e)}`);
        await new Promise((r) => setTimeout(r, 100));
        return undefined;
      });
    }
    assert.deepEqual(has, { has: false });
    assert.equal(node.root.system.get('tensor'), before, 'the tensor actor was not restarted');
    const read = (await client.call('tensor/read', { handle: created.handle, encoding: 'json' })) as { data: number[] };
    assert.deepEqual(read.data, [1, 2], 'its handle survived the fs crash');
  } finally {
    await client.close();
    await node.stop();
  }
});

test('tensor crashes while a remote tensor/run waits on it: a retryable error, then served again; fs keeps its state', async () => {
  const home = await makeHome();
  const caller = newKeys();
  addPeer(home.home, nodeIdFromPublicKey(caller.publicKey), { scopes: ['blobs', 'tensor'] });
  const node = await startTestNode(home, { tensor: 'js', serviceLogic: { tensor: crashable(tensorMachine, 'tensor.run') } });
  const client = await connect(`${node.nodeId}@${node.address}`, { identity: caller });
  try {
    const { hash } = await node.bus.request('fs', 'fs.addBytes', { bytes: new TextEncoder().encode('kept across a tensor crash') });
    const fsBefore = node.root.system.get('fs');
    const run = { inputs: { a: { shape: [2], dtype: 'f32', data: [1, 2] } }, graph: [{ op: 'neg', args: ['a'], out: 'b' }], outputs: ['b'], encoding: 'json' };
    const inFlight = client.call('tensor/run', run, { deadlineMs: 20_000 });
    inFlight.catch(() => {});
    await poll(() => ((node.root.system.get('tensor')?.getSnapshot().context as { held?: number })?.held === 1 ? true : undefined), 10_000, 'the run is held');
    node.root.system.get('tensor')!.send({ type: 'test.crash' } as EventObject);
    const err = await expectCallError(inFlight, 'UNAVAILABLE');
    assert.equal(err.retryable, true, 'the caller may retry');
    let info: unknown;
    for (let attempt = 0; attempt < 50 && info === undefined; attempt++) {
      info = await client.call('tensor/info', {}, { deadlineMs: 5_000 }).catch(async (e: unknown) => {
        assert.ok(e instanceof CallError && e.retryable, `only retryable errors while tensor restarts, got ${String(e)}`);
        await new Promise((r) => setTimeout(r, 100));
        return undefined;
      });
    }
    assert.ok(info && typeof info === 'object' && 'backend' in info, 'tensor answers after its restart');
    assert.equal(node.root.system.get('fs'), fsBefore, 'the fs actor was not restarted');
    assert.deepEqual(await client.call('blobs/has', { hash }), { has: true }, 'the blob is still there');
  } finally {
    await client.close();
    await node.stop();
  }
});

test('fs crashes in the middle of a blob transfer: the transfer ends with an error, never a hang; after the restart the blob comes whole', async () => {
  const home = await makeHome();
  // The first window of the slice is read; the second waits in the wrapper until the crash.
  const node = await startTestNode(home, { tensor: false, serviceLogic: { fs: crashable(fsMachine, 'fs.readSlice', { passFirst: 1 }) } });
  try {
    const data = new Uint8Array(6 * 1024 * 1024).map((_, i) => (i * 7 + (i >> 13)) & 0xff);
    const { hash } = await node.bus.request('fs', 'fs.addBytes', { bytes: data }, { deadlineMs: 60_000 });
    const client = await BlobsClient.connect(`${node.nodeId}@${node.address}`, { transport: 'tls' });
    let received = 0;
    const transfer = (async () => {
      const response = await client.request(hash);
      for await (const piece of response.body) received += piece.length;
      return response.len;
    })();
    transfer.catch(() => {});
    await poll(() => ((node.root.system.get('fs')?.getSnapshot().context as { held?: number })?.held === 1 ? true : undefined), 20_000, 'the second window is held');
    // The provider asks for the next window while it writes the current one: wait for those bytes.
    await poll(() => (received > 0 ? true : undefined), 20_000, 'the first window arrived before the crash');
    node.root.system.get('fs')!.send({ type: 'test.crash' } as EventObject);
    await within(assert.rejects(transfer), 30_000, 'the transfer ends once fs is gone');
    await client.close('done', { abort: true }).catch(() => {});
    // After the restart (a fresh wrapper: one window passes, then it holds again, so ask for a small range).
    let got: Uint8Array | undefined;
    for (let attempt = 0; attempt < 50 && got === undefined; attempt++) {
      got = await (async () => {
        const again = await BlobsClient.connect(`${node.nodeId}@${node.address}`, { transport: 'tls' });
        try {
          const response = await again.request(hash, [{ start: 0, len: 4096 }]);
          const parts: Uint8Array[] = [];
          for await (const piece of response.body) parts.push(piece);
          return Buffer.concat(parts);
        } finally {
          await again.close().catch(() => {});
        }
      })().catch(async () => {
        await new Promise((r) => setTimeout(r, 100));
        return undefined;
      });
    }
    assert.ok(got, 'the blob is served again after the restart');
    // A bao slice of the first 4 KiB holds those bytes (after the proof of the path to them).
    assert.ok(Buffer.from(got).includes(Buffer.from(data.subarray(0, 1024))), 'the slice carries the blob\'s first bytes');
  } finally {
    await node.stop();
  }
});
