// pkt-line codec (protocols/git/pktLine.ts) and the stream reader over it (input.ts): exact bytes,
// the malformed lengths of protocol v0/v1 (0001–0003, non-hex, above 65520) refused with a clear
// error, and fast-check properties: any packets survive encode → decode, arbitrary bytes either
// decode into packets within the limit or fail with PktLineError (never another exception), and
// reading in arbitrary chunks gives the same packets as decoding at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { decodePkts, FLUSH, MAX_PKT_LENGTH, MAX_PKT_PAYLOAD, pkt, pktLength, PktLineError, pktText, sideband, type Pkt } from '../../protocols/git/pktLine.ts';
import { GitInput } from '../../protocols/git/input.ts';

test('encoding: length prefix in lower-case hex, flush is 0000', () => {
  assert.equal(pkt('hello\n').toString(), '000ahello\n');
  assert.equal(pkt('').toString(), '0004');
  assert.equal(FLUSH.toString(), '0000');
  assert.equal(pkt(Buffer.alloc(MAX_PKT_PAYLOAD)).length, MAX_PKT_LENGTH);
  assert.throws(() => pkt(Buffer.alloc(MAX_PKT_PAYLOAD + 1)), PktLineError);
  assert.equal(pktText(Buffer.from('want x\n')), 'want x');
});

test('malformed lengths are refused with a clear error', () => {
  for (const bad of ['0001', '0002', '0003']) assert.throws(() => pktLength(Buffer.from(bad)), /0001-0003/);
  for (const bad of ['fff1', 'ffff', 'FFF1']) assert.throws(() => pktLength(Buffer.from(bad)), /above the limit of 65520/);
  for (const bad of ['zzzz', '00 4', '-001', '0x10']) assert.throws(() => pktLength(Buffer.from(bad)), /bad pkt-line length/);
  assert.equal(pktLength(Buffer.from('fff0')), 65520);
  assert.equal(pktLength(Buffer.from('FFF0')), 65520);
  assert.equal(pktLength(Buffer.from('0000')), 0);
  assert.throws(() => pktLength(Buffer.from('0100'), 128), /above the limit of 128/);
});

test('a packet cut short waits; a stream that ends inside one is an error', async () => {
  const partial = Buffer.concat([pkt('one\n'), Buffer.from('0010want')]);
  const { pkts, used } = decodePkts(partial);
  assert.equal(pkts.length, 1);
  assert.equal(used, 8);
  const input = GitInput.fromBuffer(partial);
  assert.deepEqual(await input.readPkt(), { kind: 'data', data: Buffer.from('one\n') });
  await assert.rejects(input.readPkt(), /ended inside a pkt-line of 16 bytes/);
  await assert.rejects(GitInput.fromBuffer(Buffer.from('00')).readPkt(), /ended inside a pkt-line length/);
  assert.equal(await GitInput.fromBuffer(Buffer.alloc(0)).readPkt(), null);
});

test('side-band packets carry at most 65515 (64k) or 995 bytes each', () => {
  const data = Buffer.alloc(200_000, 7);
  const large = sideband(1, data, true);
  const { pkts } = decodePkts(Buffer.concat(large));
  assert.equal(pkts.length, Math.ceil(200_000 / 65515));
  for (const p of pkts) {
    assert.equal(p.kind, 'data');
    if (p.kind === 'data') {
      assert.equal(p.data[0], 1);
      assert.ok(p.data.length - 1 <= 65515);
    }
  }
  const small = decodePkts(Buffer.concat(sideband(2, Buffer.alloc(3000), false))).pkts;
  assert.equal(small.length, Math.ceil(3000 / 995));
});

const payload = fc.oneof(
  { weight: 8, arbitrary: fc.uint8Array({ maxLength: 300 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 60_000, maxLength: MAX_PKT_PAYLOAD }) },
);
const packets = fc.array(fc.option(payload, { nil: null, freq: 5 }), { maxLength: 20 });

test('property: encode then decode gives the same packets', () => {
  fc.assert(
    fc.property(packets, (list) => {
      const bytes = Buffer.concat(list.map((p) => (p === null ? FLUSH : pkt(p))));
      const { pkts, used } = decodePkts(bytes);
      assert.equal(used, bytes.length);
      assert.deepEqual(pkts, list.map((p): Pkt => (p === null ? { kind: 'flush' } : { kind: 'data', data: Buffer.from(p) })));
    }),
    { numRuns: 200 },
  );
});

test('property: arbitrary bytes decode within the limit or fail with PktLineError only', () => {
  const hexish = fc.stringMatching(/^[0-9a-fA-F]{4}$/).map((s) => Buffer.from(s));
  const bytes = fc.array(fc.oneof(hexish, fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u))), { maxLength: 40 }).map((parts) => Buffer.concat(parts));
  fc.assert(
    fc.property(bytes, fc.integer({ min: 4, max: MAX_PKT_LENGTH }), (buf, limit) => {
      try {
        const { pkts, used } = decodePkts(buf, limit);
        assert.ok(used <= buf.length);
        for (const p of pkts) if (p.kind === 'data') assert.ok(p.data.length + 4 <= limit);
      } catch (err) {
        assert.ok(err instanceof PktLineError, `unexpected ${(err as Error).name}: ${(err as Error).message}`);
      }
    }),
    { numRuns: 1000 },
  );
});

test('property: the stream reader, fed in arbitrary chunks, reads what the decoder decodes', async () => {
  await fc.assert(
    fc.asyncProperty(packets, fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 10 }), async (list, cuts) => {
      const bytes = Buffer.concat(list.map((p) => (p === null ? FLUSH : pkt(p))));
      const stream = new PassThrough();
      const input = GitInput.fromStream(stream, 5_000);
      let at = 0;
      let i = 0;
      const feeder = (async () => {
        while (at < bytes.length) {
          const n = cuts[i++ % cuts.length]!;
          stream.write(bytes.subarray(at, at + n));
          at += n;
          await new Promise((r) => setImmediate(r));
        }
        stream.end();
      })();
      const got: Pkt[] = [];
      for (;;) {
        const p = await input.readPkt();
        if (p === null) break;
        got.push(p);
      }
      await feeder;
      assert.deepEqual(got, decodePkts(bytes).pkts);
    }),
    { numRuns: 60 },
  );
});
