// The alknet/blobs wire without nodes: request/response frames (fuzzed with fast-check: any bytes
// either decode to a valid request or fail with BlobsWireError), slice lengths against the bao
// encoder, the byte reader's limits, and a provider stream fed garbage.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Duplex } from 'node:stream';
import fc from 'fast-check';
import { encode } from '../../bus/codec.ts';
import { encodeCombined, extractRanges } from '../../actors/fs/hash/bao.ts';
import { startLocalFs, type LocalFs } from '../../actors/fs/local.ts';
import {
  BlobsWireError, MAX_RANGES, MAX_REQUEST_BYTES, decodeRequest, decodeResponse, encodeRequest, encodeResponse, frameLength, sliceLength,
} from '../../protocols/blobs/wire.ts';
import { ByteReader, StreamIdleError } from '../../protocols/blobs/byteReader.ts';
import { serveBlobStream } from '../../protocols/blobs/provider.ts';
import { content, fsClient } from './fixtures.ts';

const HASH = 'ab'.repeat(32);
const body = (frame: Uint8Array): Uint8Array => frame.subarray(4);

describe('request frames', () => {
  it('round-trip hash and ranges', () => {
    fc.assert(fc.property(
      fc.array(fc.record({ start: fc.maxSafeNat(), len: fc.maxSafeNat() }), { maxLength: MAX_RANGES }),
      (ranges) => {
        const decoded = decodeRequest(body(encodeRequest(HASH, ranges)));
        assert.equal(decoded.hash, HASH);
        assert.deepEqual(decoded.ranges, ranges.length > 0 ? ranges.map((r) => ({ start: r.start, len: r.len })) : undefined);
      },
    ), { numRuns: 200 });
  });

  it('refuse more than MAX_RANGES ranges, bad hashes, extra fields, negative or fractional numbers', () => {
    const bad: unknown[] = [
      { hash: HASH, ranges: Array.from({ length: MAX_RANGES + 1 }, () => [0, 1]) },
      { hash: HASH.toUpperCase() },
      { hash: HASH.slice(2) },
      { hash: HASH, extra: 1 },
      { hash: HASH, ranges: [[-1, 2]] },
      { hash: HASH, ranges: [[1.5, 2]] },
      { hash: HASH, ranges: [[1, 2, 3]] },
      { hash: HASH, ranges: [[2 ** 60, 1]] },
      [HASH],
      'x',
    ];
    for (const value of bad) assert.throws(() => decodeRequest(encode(value)), BlobsWireError, JSON.stringify(value)?.slice(0, 80));
    assert.throws(() => encodeRequest('nothex'), BlobsWireError);
  });

  it('fuzz: any bytes decode to a valid request or throw BlobsWireError, nothing else', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
      try {
        const req = decodeRequest(bytes);
        assert.match(req.hash, /^[0-9a-f]{64}$/);
      } catch (err) {
        assert.ok(err instanceof BlobsWireError, String(err));
      }
    }), { numRuns: 2000 });
    fc.assert(fc.property(fc.anything(), (value) => {
      let bytes: Uint8Array;
      try {
        bytes = encode(value);
      } catch {
        return;
      }
      try {
        decodeRequest(bytes);
      } catch (err) {
        assert.ok(err instanceof BlobsWireError, String(err));
      }
    }), { numRuns: 1000 });
  });

  it('frame lengths: 0 and above the limit are refused', () => {
    const header = (n: number): Uint8Array => {
      const h = new Uint8Array(4);
      new DataView(h.buffer).setUint32(0, n, false);
      return h;
    };
    assert.throws(() => frameLength(header(0), MAX_REQUEST_BYTES), /length is 0/);
    assert.throws(() => frameLength(header(MAX_REQUEST_BYTES + 1), MAX_REQUEST_BYTES), /above the 65536-byte limit/);
    assert.equal(frameLength(header(MAX_REQUEST_BYTES), MAX_REQUEST_BYTES), MAX_REQUEST_BYTES);
  });

  it('responses round-trip and an error message is cut to one short line', () => {
    assert.deepEqual(decodeResponse(body(encodeResponse({ type: 'blob', size: 5, len: 13 }))), { type: 'blob', size: 5, len: 13 });
    const long = decodeResponse(body(encodeResponse({ type: 'error', code: 'NOT_FOUND', message: `a\nb${'x'.repeat(5000)}` })));
    assert.equal(long.type, 'error');
    assert.ok(long.type === 'error' && long.message.length <= 1024 && !long.message.includes('\n'));
    assert.throws(() => decodeResponse(encode({ type: 'blob', size: -1, len: 0 })), BlobsWireError);
  });
});

describe('sliceLength', () => {
  it('equals the length of the slice the bao encoder extracts', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 100_000 }),
      fc.array(fc.record({ start: fc.integer({ min: 0, max: 120_000 }), len: fc.integer({ min: 0, max: 50_000 }) }), { maxLength: 4 }),
      (size, ranges) => {
        const { encoded } = encodeCombined(content(size, 3), { chunkGroupLog: 4 });
        const expected = ranges.length > 0 ? extractRanges(encoded, undefined, ranges, { chunkGroupLog: 4 }).length : encoded.length;
        assert.equal(sliceLength(size, ranges), expected);
      },
    ), { numRuns: 150 });
  });
});

describe('ByteReader', () => {
  it('gives up on a silent stream after idleMs', async () => {
    const silent = { [Symbol.asyncIterator]: () => ({ next: () => new Promise<IteratorResult<Uint8Array>>(() => {}) }) };
    await assert.rejects(new ByteReader(silent, { idleMs: 50 }).readExact(1), StreamIdleError);
  });

  it('reports a stream that ends inside a frame', async () => {
    const pieces = (async function* () {
      yield new Uint8Array([0, 0, 0, 10, 1, 2]);
    })();
    await assert.rejects(new ByteReader(pieces).readFrame(100, 'request'), /ended 8 bytes short of the end of the request/);
  });
});

describe('provider stream fed garbage', () => {
  let home: string;
  let local: LocalFs;
  before(async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-blobs-wire-'));
    local = startLocalFs(home);
  });
  after(async () => {
    await local.stop();
    fs.rmSync(home, { recursive: true, force: true });
  });

  /** Runs serveBlobStream over a duplex whose input is `input` (in the given cuts); returns what it wrote. */
  async function serve(input: Uint8Array[]): Promise<Buffer> {
    const written: Buffer[] = [];
    const stream = new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        written.push(chunk);
        cb();
      },
    });
    for (const piece of input) stream.push(piece);
    stream.push(null);
    await serveBlobStream(stream, { bus: local.bus }, { idleMs: 2_000 });
    return Buffer.concat(written);
  }

  it('answers a well-formed request for a stored blob, then NOT_FOUND, on one stream', async () => {
    const data = content(20_000, 4);
    const hash = await fsClient(local.bus).addBytes(data);
    const out = await serve([encodeRequest(hash), encodeRequest(HASH)]);
    const first = decodeResponse(out.subarray(4, 4 + frameLength(out, 8192)));
    assert.deepEqual(first, { type: 'blob', size: 20_000, len: sliceLength(20_000) });
    const rest = out.subarray(4 + frameLength(out, 8192) + sliceLength(20_000));
    const second = decodeResponse(rest.subarray(4, 4 + frameLength(rest, 8192)));
    assert.equal(second.type, 'error');
    assert.ok(second.type === 'error' && second.code === 'NOT_FOUND');
  });

  it('fuzz: random frames end the stream with at most an error frame, never a throw', async () => {
    await fc.assert(fc.asyncProperty(
      fc.oneof(
        fc.uint8Array({ maxLength: 300 }),
        fc.uint8Array({ maxLength: 300 }).map((b) => {
          const f = new Uint8Array(4 + b.length);
          new DataView(f.buffer).setUint32(0, b.length, false);
          f.set(b, 4);
          return f;
        }),
      ),
      fc.integer({ min: 1, max: 50 }),
      async (bytes, cut) => {
        const pieces: Uint8Array[] = [];
        for (let at = 0; at < bytes.length; at += cut) pieces.push(bytes.subarray(at, at + cut));
        const out = await serve(pieces);
        if (out.length > 0) {
          const reply = decodeResponse(out.subarray(4, 4 + frameLength(out, 8192)));
          assert.equal(reply.type, 'error');
        }
      },
    ), { numRuns: 300 });
  });
});
