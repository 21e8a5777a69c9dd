// The alknet/blobs provider under clients that misbehave in ordinary ways (issue 16, point 2): a
// client that sends its request and half-closes (FIN) at once must still get its whole response, and
// no request may leave a file descriptor open behind it, whatever the client does.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { Duplex } from 'node:stream';
import { dial } from '../../actors/listener/dial.ts';
import { BLOBS_ALPN, encodeRequest, sliceLength } from '../../protocols/blobs/wire.ts';
import { encodeOutboard, extractRanges } from '../../actors/fs/hash/bao.ts';
import { content, startBlobNode, type BlobNode } from './fixtures.ts';

function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** Everything the stream carries until the provider ends it (bounded by `max` bytes). */
function readToEnd(stream: Duplex, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    stream.on('data', (c: Buffer) => {
      n += c.length;
      if (n > max) stream.destroy(new Error('more than expected'));
      else parts.push(c);
    });
    stream.once('end', () => resolve(Buffer.concat(parts)));
    stream.once('error', reject);
    stream.once('close', () => resolve(Buffer.concat(parts)));
  });
}

/** Lets sockets the peer closed finish closing here (a few turns of the event loop, bounded). */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  await new Promise((r) => setTimeout(r, 100));
}

describe('alknet/blobs provider hardening', () => {
  let node: BlobNode;
  let hash: string;
  let data: Uint8Array;
  before(async () => {
    node = await startBlobNode();
    data = content(100_000, 41);
    hash = await node.addBytes(data);
  });
  after(async () => {
    await node?.stop();
  });

  it('answers a client that half-closes right after its request, in full', async () => {
    const conn = await dial(node.address, { alpn: BLOBS_ALPN, transport: 'tls' });
    try {
      const stream = await conn.openStream();
      const got = readToEnd(stream, 1024 * 1024);
      stream.end(encodeRequest(hash));
      const bytes = await got;
      assert.ok(bytes.length > 4, `the provider sent ${bytes.length} bytes`);
      // Response frame (4-byte length + msgpack), then the whole slice.
      const frameLen = bytes.readUInt32BE(0);
      const slice = bytes.subarray(4 + frameLen);
      assert.equal(slice.length, sliceLength(data.length), `got ${bytes.length} bytes`);
      const { outboard } = encodeOutboard(data, { chunkGroupLog: 4 });
      assert.ok(Buffer.from(extractRanges(data, outboard, [{ start: 0, len: data.length }], { chunkGroupLog: 4 })).equals(slice), 'the slice bytes');
    } finally {
      await conn.close();
    }
  });

  it('leaves no file descriptor open after many half-closed and abandoned requests', async () => {
    const rounds = 60;
    const run = async (i: number): Promise<void> => {
      const conn = await dial(node.address, { alpn: BLOBS_ALPN, transport: 'tls' });
      try {
        const stream = await conn.openStream();
        const got = readToEnd(stream, 1024 * 1024).catch(() => Buffer.alloc(0));
        if (i % 2 === 0) stream.end(encodeRequest(hash)); // half-close with the request
        else {
          stream.write(encodeRequest(hash)); // or ask, then reset mid-answer
          stream.destroy();
        }
        await got;
      } finally {
        await conn.close();
      }
    };
    await run(0); // warm up: first-use allocations (index, hash kernel) are not leaks
    await settle();
    const before = openFds();
    for (let i = 0; i < rounds; i++) await run(i);
    await settle();
    const leaked = openFds() - before;
    // Two descriptors per request leaked before the fix (120 here); allow a little noise.
    assert.ok(leaked < 10, `${leaked} descriptors left open after ${rounds} requests`);
  });
});
