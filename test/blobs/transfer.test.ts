// alknet/blobs between real nodes on 127.0.0.1: sizes around the group boundaries over TLS (and a
// small one over QUIC), NOT_FOUND, a provider that flips one byte, a fetch cut off halfway and
// resumed from another node, and a collection fetched with its children.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fetchBlob, BlobFetchError } from '../../protocols/blobs/fetch.ts';
import { BlobsClient, ProviderRefusal } from '../../protocols/blobs/client.ts';
import { content, startBlobNode, type BlobNode } from './fixtures.ts';

const GROUP = 16 * 1024;

describe('alknet/blobs transfer between two nodes', () => {
  let a: BlobNode;
  let b: BlobNode;
  before(async () => {
    [a, b] = await Promise.all([startBlobNode(), startBlobNode()]);
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  for (const size of [0, 1, 1025, GROUP + 1, 3 * 1024 * 1024]) {
    it(`fetches ${size} bytes over TLS, verified, byte for byte`, async () => {
      const data = content(size, size);
      const hash = await a.addBytes(data);
      assert.equal(await b.has(hash), false);
      const progress: number[] = [];
      const result = await fetchBlob(hash, [a.address], { bus: b.node.bus, transport: 'tls', onProgress: (p) => progress.push(p.bytes) });
      assert.equal(result.size, size);
      assert.equal(result.collection, false);
      assert.ok(await b.has(hash), 'complete in the receiver store');
      assert.ok(Buffer.from(data).equals(await b.read(hash)), 'same bytes');
      if (size > 1024 * 1024) assert.ok(progress.length > 1, 'progress was reported');
      const again = await fetchBlob(hash, [a.address], { bus: b.node.bus });
      assert.equal(again.bytesReceived, 0, 'a complete blob is not fetched again');
    });
  }

  it('fetches a small blob over QUIC', async () => {
    const data = content(1025, 77);
    const hash = await a.addBytes(data);
    await fetchBlob(hash, [a.address], { bus: b.node.bus, transport: 'quic' });
    assert.ok(Buffer.from(data).equals(await b.read(hash)));
  });

  it('lets another node read by message but never write (fs.beginPartial and fs.writeGroups are local only)', async () => {
    const from = { node: b.node.nodeId as never };
    const hash = await a.addBytes(content(100, 8));
    const window = await a.node.bus.request('fs', 'fs.readSlice', { hash }, { from, deadlineMs: 5_000 });
    assert.equal(window.size, 100);
    for (const [type, payload] of [
      ['fs.beginPartial', { hash: 'ab'.repeat(32), size: 10 }],
      ['fs.writeGroups', { hash, firstGroup: 0, data: [new Uint8Array(100)] }],
      ['fs.addPath', { path: '/etc/passwd' }],
    ] as const) {
      await assert.rejects(
        a.node.bus.request('fs', type, payload as never, { from, deadlineMs: 5_000 }),
        (err: unknown) => (err as { code?: string }).code === 'FORBIDDEN', type,
      );
    }
  });

  it('answers an unknown hash with a NOT_FOUND frame and keeps the stream usable', async () => {
    const unknown = 'ab'.repeat(32);
    await assert.rejects(fetchBlob(unknown, [a.address], { bus: b.node.bus }), (err: unknown) => {
      assert.ok(err instanceof BlobFetchError);
      assert.equal(err.code, 'NOT_FOUND');
      assert.match(err.message, new RegExp(`${a.node.nodeId}: NOT_FOUND`));
      return true;
    });
    const client = await BlobsClient.connect(a.address);
    try {
      await assert.rejects(client.request(unknown), (err: unknown) => err instanceof ProviderRefusal && err.code === 'NOT_FOUND');
      const hash = await a.addBytes(content(10, 3));
      const reply = await client.request(hash);
      let n = 0;
      for await (const piece of reply.body) n += piece.length;
      assert.equal(reply.size, 10);
      assert.equal(n, 8 + 10, 'size header and the one group');
    } finally {
      await client.close();
    }
  });
});

describe('alknet/blobs against misbehaving providers', () => {
  let good: BlobNode;
  let flipper: BlobNode;
  let quitter: BlobNode;
  let receiver: BlobNode;
  const BAD_GROUP = 5;
  before(async () => {
    [good, flipper, quitter, receiver] = await Promise.all([
      startBlobNode(),
      startBlobNode({ faults: { flipContentByte: BAD_GROUP * GROUP + 100 } }),
      startBlobNode({ faults: { closeAfterGroups: 40 } }),
      startBlobNode(),
    ]);
  });
  after(async () => {
    await Promise.all([good, flipper, quitter, receiver].map((n) => n?.stop()));
  });

  it('detects a flipped byte within its group, stores nothing bad, names the provider, resumes elsewhere', async () => {
    const data = content(200_000, 11);
    const hash = await good.addBytes(data);
    await flipper.addBytes(data);
    await assert.rejects(fetchBlob(hash, [flipper.address], { bus: receiver.node.bus }), (err: unknown) => {
      assert.ok(err instanceof BlobFetchError);
      assert.equal(err.code, 'INVALID_INPUT');
      assert.ok(err.message.includes(flipper.node.nodeId), `names the provider: ${err.message}`);
      assert.match(err.message, new RegExp(`group ${BAD_GROUP} \\(content bytes ${BAD_GROUP * GROUP}\\.\\.`));
      return true;
    });
    const stat = await receiver.stat(hash);
    assert.equal(stat.complete, false);
    // The size proof brought the last group; the full slice brought groups 0..4 before the bad one.
    assert.equal(stat.verifiedGroups, BAD_GROUP + 1);
    const missing = await receiver.missingRanges(hash);
    assert.deepEqual(missing[0], { start: BAD_GROUP * GROUP, len: (stat.groups - 1 - BAD_GROUP) * GROUP });
    const kept = await receiver.read(hash, [{ start: 0, len: BAD_GROUP * GROUP }]);
    assert.ok(Buffer.from(kept).equals(Buffer.from(data.subarray(0, BAD_GROUP * GROUP))), 'verified groups are the right bytes');

    const result = await fetchBlob(hash, [flipper.address, good.address], { bus: receiver.node.bus });
    assert.ok(await receiver.has(hash));
    assert.ok(Buffer.from(data).equals(await receiver.read(hash)));
    assert.ok(result.bytesReceived < data.length, 'the second provider sent only what was missing');
  });

  it('resumes a fetch cut off halfway from a second node, asking only the missing ranges', async () => {
    const data = content(3 * 1024 * 1024, 12);
    const hash = await good.addBytes(data);
    await quitter.addBytes(data);
    await assert.rejects(fetchBlob(hash, [quitter.address], { bus: receiver.node.bus }), (err: unknown) => {
      assert.ok(err instanceof BlobFetchError);
      assert.equal(err.code, 'UNAVAILABLE');
      assert.ok(err.message.includes(quitter.node.nodeId), err.message);
      return true;
    });
    const stat = await receiver.stat(hash);
    assert.equal(stat.complete, false);
    assert.ok(stat.verifiedGroups >= 40, `kept ${stat.verifiedGroups} groups`);
    const missingBytes = (await receiver.missingRanges(hash)).reduce((n, r) => n + r.len, 0);
    const result = await fetchBlob(hash, [good.address], { bus: receiver.node.bus });
    assert.ok(await receiver.has(hash));
    assert.ok(Buffer.from(data).equals(await receiver.read(hash)));
    assert.ok(result.bytesReceived >= missingBytes && result.bytesReceived < missingBytes + 32 * 1024,
      `received ${result.bytesReceived} for ${missingBytes} missing bytes`);
  });

  it('fetches a collection with its children', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-blobs-dir-'));
    try {
      fs.mkdirSync(path.join(dir, 'sub'));
      fs.writeFileSync(path.join(dir, 'a.txt'), 'hello');
      fs.writeFileSync(path.join(dir, 'sub', 'big.bin'), content(100_000, 5));
      fs.writeFileSync(path.join(dir, 'empty'), '');
      const added = { hash: await good.addPath(dir, 'site') };
      const progress: Array<[number, number]> = [];
      const result = await fetchBlob(added.hash, [good.address], { bus: receiver.node.bus, onProgress: (p) => progress.push([p.blobsDone, p.blobsTotal]) });
      assert.equal(result.collection, true);
      assert.equal(result.blobs, 4);
      const { entries } = await receiver.readCollection(added.hash);
      assert.deepEqual(entries.map((e) => e.name).sort(), ['a.txt', 'empty', 'sub/big.bin']);
      for (const e of entries) {
        assert.ok(await receiver.has(e.hash), `${e.name} fetched`);
        assert.ok((await receiver.read(e.hash)).equals(fs.readFileSync(path.join(dir, ...e.name.split('/')))));
      }
      assert.ok(progress.some(([, total]) => total === 4));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
