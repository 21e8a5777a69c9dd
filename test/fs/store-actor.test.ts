// The fs actor (xstate) serving fs.* requests over the bus's event shape, and the blobs/* operations
// of the node's catalogue, served by bus requests to a real fs actor (scopes enforced there).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createActor, waitFor } from 'xstate';
import { blake3 } from '../../actors/fs/hash/blake3.ts';
import { fsMachine } from '../../actors/fs/machine.ts';
import { fsOperations } from '../../actors/fs/operations.ts';
import { startLocalFs } from '../../actors/fs/local.ts';
import { OperationCatalogue } from '../../operations/catalogue.ts';

interface Answer { ok: boolean; value?: unknown; code?: string; message?: string }

function request(actor: { send(e: unknown): void }, type: string, payload: unknown, from?: { node: string }): Promise<Answer> {
  return new Promise((resolve) => {
    let settled = false;
    actor.send({
      type, payload, meta: { correlationId: `t-${type}`, deadline: Date.now() + 10_000, ...(from ? { from } : {}) },
      replyTo: {
        get settled() { return settled; },
        reply(value: unknown) { settled = true; resolve({ ok: true, value }); },
        fail(code: string, message: string) { settled = true; resolve({ ok: false, code, message }); },
      },
    });
  });
}

describe('fs actor', () => {
  it('serves requests sent while opening and after, with bus error codes', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-fsactor-'));
    const actor = createActor(fsMachine, { input: { home } }).start();
    try {
      const data = new TextEncoder().encode('hello blobs');
      const hash = Buffer.from(blake3(data)).toString('hex');
      // Sent before the store is open: queued, then served.
      const added = await request(actor, 'fs.addBytes', { bytes: data, tag: 'greeting' });
      assert.deepEqual(added, { ok: true, value: { hash, size: data.length } });
      await waitFor(actor, (s) => s.matches('ready'), { timeout: 5000 });
      const stat = await request(actor, 'fs.stat', { hash });
      assert.equal(stat.ok, true);
      assert.deepEqual((stat.value as { tags: string[] }).tags, ['greeting']);
      assert.deepEqual(await request(actor, 'fs.has', { hash }), { ok: true, value: { has: true } });
      const read = await request(actor, 'fs.readBytes', { hash, ranges: [{ start: 6, len: 5 }] });
      assert.equal(Buffer.from((read.value as { bytes: Uint8Array }).bytes).toString(), 'blobs');
      const list = await request(actor, 'fs.list', { limit: 10 });
      assert.equal((list.value as { blobs: unknown[]; more: boolean }).blobs.length, 1);
      assert.equal((await request(actor, 'fs.stat', { hash: '0'.repeat(64) })).code, 'NOT_FOUND');
      assert.equal((await request(actor, 'fs.stat', { hash: 'nope' })).code, 'INVALID_INPUT');
      assert.equal((await request(actor, 'fs.frobnicate', {})).code, 'INVALID_INPUT');
      // Another node may read, not change.
      const remote = { node: 'y'.repeat(52) };
      assert.equal((await request(actor, 'fs.has', { hash }, remote)).ok, true);
      assert.equal((await request(actor, 'fs.delete', { hash }, remote)).code, 'FORBIDDEN');
      assert.deepEqual(await request(actor, 'fs.untag', { name: 'greeting' }), { ok: true, value: { removed: true } });
      assert.deepEqual(await request(actor, 'fs.gc', {}), { ok: true, value: { removed: [hash], kept: 0 } });
      assert.deepEqual(await request(actor, 'fs.has', { hash }), { ok: true, value: { has: false } });
      assert.equal(actor.getSnapshot().context.inFlight, 0);
      assert.doesNotMatch(JSON.stringify(actor.getSnapshot().context), /hello/);
    } finally {
      actor.stop();
      await new Promise((r) => setTimeout(r, 50));
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  it('keeps no trace of served requests in its snapshot (no child actor per request)', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-fsactor-'));
    const actor = createActor(fsMachine, { input: { home } }).start();
    try {
      await waitFor(actor, (s) => s.matches('ready'), { timeout: 5000 });
      const added = await request(actor, 'fs.addBytes', { bytes: new Uint8Array(10) });
      const { hash } = added.value as { hash: string };
      for (let i = 0; i < 200; i++) assert.equal((await request(actor, 'fs.has', { hash })).ok, true);
      const snapshot = actor.getSnapshot();
      // A spawned actor per request used to stay in `children` for ever: memory, and every later
      // request copied the whole map (quadratic).
      assert.ok(Object.keys(snapshot.children).length <= 2, `${Object.keys(snapshot.children).length} children after 200 requests`);
      assert.equal(snapshot.context.inFlight, 0);
      assert.equal(snapshot.context.served, 201);
    } finally {
      actor.stop();
      await new Promise((r) => setTimeout(r, 50));
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  it('answers BUSY past maxInFlight', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-fsactor-'));
    const actor = createActor(fsMachine, { input: { home, maxInFlight: 1 } }).start();
    try {
      await waitFor(actor, (s) => s.matches('ready'), { timeout: 5000 });
      const big = new Uint8Array(4 * 1024 * 1024);
      const answers = await Promise.all([request(actor, 'fs.addBytes', { bytes: big }), request(actor, 'fs.addBytes', { bytes: big })]);
      assert.equal(answers[0]!.ok, true);
      assert.equal(answers[1]!.code, 'BUSY');
    } finally {
      actor.stop();
      await new Promise((r) => setTimeout(r, 50));
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('blobs/* operations', () => {
  it('are served by fs.* messages to the fs actor: public metadata for anyone, blobs:write to change', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-fsops-'));
    const local = startLocalFs(home);
    try {
      const registry = new OperationCatalogue({ bus: local.bus });
      registry.register(fsOperations(), 'fs');
      const { hash } = await local.bus.request('fs', 'fs.addBytes', { bytes: new TextEncoder().encode('op data') });
      const anonymous = { nodeId: null, scopes: new Set<string>() };
      const writer = { nodeId: null, scopes: new Set(['blobs']) };
      assert.deepEqual(await registry.invoke('blobs/has', { hash }, anonymous), { has: true });
      assert.equal(((await registry.invoke('blobs/stat', { hash }, anonymous)) as { size: number }).size, 7);
      await assert.rejects(registry.invoke('blobs/list', {}, anonymous), { code: 'FORBIDDEN' });
      await assert.rejects(registry.invoke('blobs/tag', { name: 'x', hash }, anonymous), { code: 'FORBIDDEN' });
      await assert.rejects(registry.invoke('blobs/stat', { hash: 'zz' }, anonymous), { code: 'INVALID_INPUT' });
      await assert.rejects(registry.invoke('blobs/stat', { hash: '1'.repeat(64) }, anonymous), { code: 'NOT_FOUND' });
      assert.deepEqual(await registry.invoke('blobs/tag', { name: 'my tag, café', hash }, writer), { ok: true });
      assert.equal(((await registry.invoke('blobs/list', {}, writer)) as { blobs: unknown[] }).blobs.length, 1);
      assert.deepEqual(await registry.invoke('blobs/gc', {}, writer), { removed: [], kept: 1 });
      assert.deepEqual(await registry.invoke('blobs/delete', { hash }, writer), { removed: true });
      assert.deepEqual(await registry.invoke('blobs/has', { hash }, anonymous), { has: false });
    } finally {
      await local.stop();
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
