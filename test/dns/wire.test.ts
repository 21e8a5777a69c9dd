// The DNS query parser (protocols/dns/wire.ts) on bad input: truncated messages, compression pointer
// loops, labels over 63 bytes, names over 255, counts that lie, trailing bytes, EDNS oddities — each
// gets its answer (FORMERR, NOTIMP, BADVERS) or is dropped, and it never throws. fast-check: random
// bytes and mutated real queries never make it (or the answering core) throw, and every response it
// writes is a well-formed DNS message with the query's id. Also: what dns-packet itself does with a
// pointer loop (it refuses any pointer that does not go backwards, so it cannot loop either).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import dnsPacket from 'dns-packet';
import { parseQuery, readName, encodeResponse, RCODE, TYPE, FLAG, HEADER_BYTES, type ParseResult } from '../../protocols/dns/wire.ts';
import { nameKey, nameLabels } from '../../protocols/dns/names.ts';
import { DnsCore } from '../../protocols/dns/core.ts';
import { Zone } from '../../protocols/dns/zone.ts';
import { parseZone } from '../../protocols/dns/zoneText.ts';

function header(fields: { id?: number; flags?: number; qd?: number; an?: number; ns?: number; ar?: number }): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(fields.id ?? 0x1234, 0);
  h.writeUInt16BE(fields.flags ?? 0x0100, 2);
  h.writeUInt16BE(fields.qd ?? 1, 4);
  h.writeUInt16BE(fields.an ?? 0, 6);
  h.writeUInt16BE(fields.ns ?? 0, 8);
  h.writeUInt16BE(fields.ar ?? 0, 10);
  return h;
}

const qtail = Buffer.from([0, 1, 0, 1]); // type A, class IN
const name = (...labels: string[]) => Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([Buffer.byteLength(l)]), Buffer.from(l)])), Buffer.from([0])]);
const opt = (size = 1232, version = 0, rdata: Buffer = Buffer.alloc(0)) => {
  const r = Buffer.alloc(11);
  r.writeUInt16BE(TYPE.OPT, 1);
  r.writeUInt16BE(size, 3);
  r[6] = version;
  r.writeUInt16BE(rdata.length, 9);
  return Buffer.concat([r, rdata]);
};

function expectRcode(result: ParseResult, rcode: number, reason: RegExp): void {
  assert.equal(result.ok, false, 'parsed as a good query');
  if (result.ok) return;
  assert.equal(result.drop, false, `dropped: ${result.drop ? result.reason : ''}`);
  if (result.drop) return;
  assert.equal(result.rcode, rcode, result.reason);
  assert.match(result.reason, reason);
}

test('a plain query parses: id, RD, the question (case kept in labels, key in lower case), EDNS size', () => {
  const msg = dnsPacket.encode({ type: 'query', id: 42, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name: 'WWW.Example.test', type: 'AAAA' }], additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096 } as never] });
  const r = parseQuery(msg);
  assert.ok(r.ok);
  assert.equal(r.query.id, 42);
  assert.equal(r.query.rd, true);
  assert.equal(r.query.question.name, 'www.example.test');
  assert.equal(Buffer.from(r.query.question.wire).toString('latin1'), '\x03WWW\x07Example\x04test\x00', 'the wire form, case kept');
  assert.equal(r.query.question.type, TYPE.AAAA);
  assert.deepEqual(r.query.edns, { udpSize: 4096, version: 0, dnssecOk: false });
});

test('no complete header, or a response: dropped', () => {
  for (const bytes of [Buffer.alloc(0), Buffer.alloc(1), Buffer.alloc(11)]) {
    const r = parseQuery(bytes);
    assert.ok(!r.ok && r.drop, `${bytes.length} bytes`);
  }
  const response = Buffer.concat([header({ flags: FLAG.QR }), name('a'), qtail]);
  const r = parseQuery(response);
  assert.ok(!r.ok && r.drop && /response/.test(r.reason));
});

test('truncated questions and records: FORMERR', () => {
  const good = Buffer.concat([header({ ar: 1 }), name('www', 'example', 'test'), qtail, opt()]);
  assert.ok(parseQuery(good).ok);
  for (let cut = HEADER_BYTES; cut < good.length; cut++) expectRcode(parseQuery(good.subarray(0, cut)), RCODE.FORMERR, /cut off|past the end|runs past/);
});

test('compression pointer loops and forward pointers: FORMERR, never a hang', () => {
  // The question's name is a pointer to itself.
  const self = Buffer.concat([header({}), Buffer.from([0xc0, 12]), qtail]);
  expectRcode(parseQuery(self), RCODE.FORMERR, /pointer/);
  // A label, then a pointer back to that label: a loop a naive reader follows for ever.
  const loop = Buffer.concat([header({}), Buffer.from([1, 0x61, 0xc0, 12]), qtail]);
  expectRcode(parseQuery(loop), RCODE.FORMERR, /pointer/);
  // A pointer forward, into the question's own tail, and one into the header.
  expectRcode(parseQuery(Buffer.concat([header({}), Buffer.from([0xc0, 15]), Buffer.from([1, 0x61, 0]), qtail])), RCODE.FORMERR, /pointer/);
  expectRcode(parseQuery(Buffer.concat([header({}), Buffer.from([0xc0, 2]), qtail])), RCODE.FORMERR, /pointer/);
  // Two OPT-owner pointers that point at each other (in the additional section).
  const twoWay = Buffer.concat([header({ ar: 1 }), name('a'), qtail, Buffer.from([0xc0, 12]), opt().subarray(1)]);
  assert.equal(parseQuery(twoWay).ok, false);
  // readName walks strictly backwards: a chain of 16 pointers is read, 17 is refused.
  const chain = (hops: number) => {
    const parts = [header({}), name('x')];
    let at = 12;
    for (let i = 0; i < hops; i++) {
      parts.push(Buffer.from([0xc0 | (at >> 8), at & 0xff]));
      at += i === 0 ? 3 : 2;
    }
    return Buffer.concat(parts);
  };
  const read = readName(chain(16), chain(16).length - 2);
  assert.equal(read.key, 'x');
  assert.deepEqual([...read.wire], [1, 0x78, 0], 'the uncompressed wire form');
  assert.throws(() => readName(chain(17), chain(17).length - 2), /too many compression pointers/);
});

test('dns-packet refuses pointer loops too (only pointers to earlier bytes), so decoding stored packets cannot loop', () => {
  const self = Buffer.concat([header({ flags: 0x8400, qd: 0, an: 1 }), Buffer.from([0xc0, 12]), Buffer.from([0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4])]);
  assert.throws(() => dnsPacket.decode(self), /bad pointer/);
  const loop = Buffer.concat([header({ flags: 0x8400, qd: 0, an: 1 }), Buffer.from([1, 0x61, 0xc0, 12]), Buffer.from([0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4])]);
  assert.throws(() => dnsPacket.decode(loop), /bad pointer/);
});

test('labels over 63 bytes, reserved label types and names over 255 bytes: FORMERR', () => {
  const long = Buffer.concat([header({}), Buffer.from([64]), Buffer.alloc(64, 0x61), Buffer.from([0]), qtail]);
  expectRcode(parseQuery(long), RCODE.FORMERR, /label over 63|reserved label/);
  const reserved = Buffer.concat([header({}), Buffer.from([0x80, 1]), Buffer.from([0]), qtail]);
  expectRcode(parseQuery(reserved), RCODE.FORMERR, /reserved label/);
  // 4 labels of 63 bytes = 256 bytes on the wire with the final zero.
  const label63 = Buffer.concat([Buffer.from([63]), Buffer.alloc(63, 0x62)]);
  const tooLong = Buffer.concat([header({}), label63, label63, label63, label63, Buffer.from([0]), qtail]);
  expectRcode(parseQuery(tooLong), RCODE.FORMERR, /over 255/);
  const justFits = Buffer.concat([header({}), label63, label63, label63, Buffer.from([61]), Buffer.alloc(61, 0x63), Buffer.from([0]), qtail]);
  assert.ok(parseQuery(justFits).ok, 'a 255-byte name is fine');
  // Over 255 through pointers: a long name, then a name that adds a label and points to it.
  const viaPointer = Buffer.concat([header({ ar: 1 }), label63, label63, label63, Buffer.from([61]), Buffer.alloc(61, 0x63), Buffer.from([0]), qtail, Buffer.from([1, 0x64, 0xc0, 12]), opt().subarray(1)]);
  expectRcode(parseQuery(viaPointer), RCODE.FORMERR, /over 255/);
  assert.throws(() => nameLabels(`${'a'.repeat(64)}.test`), /over 63/);
  assert.throws(() => nameLabels(Array(5).fill('a'.repeat(63)).join('.')), /over 255/);
});

test('counts that lie, extra records, trailing bytes: FORMERR', () => {
  const q = Buffer.concat([name('a', 'test'), qtail]);
  expectRcode(parseQuery(Buffer.concat([header({ qd: 2 }), q])), RCODE.FORMERR, /exactly one question/);
  expectRcode(parseQuery(Buffer.concat([header({ qd: 0 }), q])), RCODE.FORMERR, /exactly one question/);
  expectRcode(parseQuery(Buffer.concat([header({ an: 1 }), q])), RCODE.FORMERR, /no answer or authority/);
  expectRcode(parseQuery(Buffer.concat([header({ ar: 3 }), q, opt()])), RCODE.FORMERR, /cut off|past the end/);
  expectRcode(parseQuery(Buffer.concat([header({ ar: 65535 }), q])), RCODE.FORMERR, /too many additional/);
  expectRcode(parseQuery(Buffer.concat([header({}), q, Buffer.from([0, 0])])), RCODE.FORMERR, /after the last record/);
  // An OPT record whose RDLENGTH promises more than there is, and options that overrun it.
  const lying = opt(1232, 0, Buffer.alloc(4));
  lying.writeUInt16BE(40, 9);
  expectRcode(parseQuery(Buffer.concat([header({ ar: 1 }), q, lying])), RCODE.FORMERR, /past the end/);
  const overrun = opt(1232, 0, Buffer.from([0, 10, 0, 9, 1, 2]));
  expectRcode(parseQuery(Buffer.concat([header({ ar: 1 }), q, overrun])), RCODE.FORMERR, /option/);
  expectRcode(parseQuery(Buffer.concat([header({ ar: 2 }), q, opt(), opt()])), RCODE.FORMERR, /more than one OPT/);
});

test('opcodes other than QUERY: NOTIMP; EDNS version 1: BADVERS (extended rcode in the OPT record)', () => {
  const q = Buffer.concat([name('a', 'test'), qtail]);
  expectRcode(parseQuery(Buffer.concat([header({ flags: 5 << 11 }), q])), RCODE.NOTIMP, /opcode 5/);
  const badvers = parseQuery(Buffer.concat([header({ ar: 1 }), q, opt(1232, 1)]));
  expectRcode(badvers, RCODE.BADVERS, /EDNS version 1/);
  if (!badvers.ok && !badvers.drop) {
    const wire = encodeResponse({ id: badvers.id, opcode: 0, rd: true, aa: false, ra: false, rcode: badvers.rcode, question: badvers.question, answers: [], authority: [], additional: [], edns: { udpSize: 1232 } }, 512);
    const decoded = dnsPacket.decode(Buffer.from(wire));
    assert.equal(wire[3]! & 0xf, 0, 'low rcode bits 0');
    const optRecord = decoded.additionals!.find((a) => a.type === 'OPT') as unknown as { extendedRcode: number };
    assert.equal(optRecord.extendedRcode, 1, 'BADVERS = 16: extended rcode 1');
  }
  // An EDNS size below 512 counts as 512 (RFC 6891 6.2.5).
  const small = parseQuery(Buffer.concat([header({ ar: 1 }), q, opt(100)]));
  assert.ok(small.ok && small.query.edns?.udpSize === 512);
});

test('name keys: case folded, odd bytes escaped, round trip through nameLabels', () => {
  const labels = [Uint8Array.from([0x41, 0x2e, 0x5c, 0x00, 0xff]), Buffer.from('Test')];
  const key = nameKey(labels);
  assert.equal(key, 'a\\046\\092\\000\\255.test');
  assert.equal(nameKey(nameLabels(key)), key);
});

// ---- properties ---------------------------------------------------------------------------------

const zone = Zone.fromText(parseZone('example.test', ['www 300 A 192.0.2.1', 'alias CNAME www', '*.wild TXT "w"', 'big TXT ' + '"' + 'x'.repeat(250) + '" '.repeat(1) + ' "y"'], 3600));
const core = new DnsCore({ zones: [zone], pkarr: async () => null });

const LABEL = fc.stringMatching(/^[a-z0-9_-]{1,20}$/);
const queries = fc
  .record({
    labels: fc.array(LABEL, { minLength: 0, maxLength: 5 }),
    suffix: fc.constantFrom('example.test', 'wild.example.test', 'other.test', 'ybndrfg8ejkmcpqxot1uwisza345h769ybndrfg8ejkmcpqxot1u'),
    type: fc.constantFrom('A', 'AAAA', 'TXT', 'CNAME', 'SOA', 'MX', 'ANY', 'NS'),
    id: fc.integer({ min: 0, max: 0xffff }),
    edns: fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }),
  })
  .map(({ labels, suffix, type, id, edns }) =>
    dnsPacket.encode({
      type: 'query',
      id,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ name: [...labels, suffix].join('.'), type: type as dnsPacket.RecordType }],
      ...(edns !== undefined ? { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: edns } as never] } : {}),
    }),
  );

/** A real query with bytes overwritten, cut or appended. */
const mutated = fc
  .record({
    query: queries,
    edits: fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), { maxLength: 6 }),
    cut: fc.option(fc.nat(), { nil: undefined }),
    extra: fc.uint8Array({ maxLength: 8 }),
  })
  .map(({ query, edits, cut, extra }) => {
    const bytes = Uint8Array.from(query);
    for (const { at, byte } of edits) bytes[at % bytes.length] = byte;
    const kept = cut === undefined ? bytes : bytes.subarray(0, cut % (bytes.length + 1));
    return Buffer.concat([kept, extra]);
  });

/** Every response the core writes decodes, answers the query's id, has QR set and fits the limit it was given. */
async function checkAnswer(message: Uint8Array, transport: 'udp' | 'tcp'): Promise<void> {
  const answer = await core.answer(message, { address: '192.0.2.7', transport });
  if (answer === null) return;
  assert.ok(answer.length >= 12);
  assert.equal((answer[0]! << 8) | answer[1]!, (message[0]! << 8) | message[1]!);
  assert.ok((answer[2]! & 0x80) !== 0, 'QR set');
  if (transport === 'udp') {
    const parsed = parseQuery(message);
    const limit = parsed.ok && parsed.query.edns ? Math.min(parsed.query.edns.udpSize, 1232) : 512;
    assert.ok(answer.length <= Math.max(limit, 512), `${answer.length} bytes over the ${limit} limit`);
  }
  dnsPacket.decode(Buffer.from(answer));
}

test('property: parseQuery never throws on random bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
      const r = parseQuery(bytes);
      assert.ok(r.ok || r.drop || (r.rcode >= 1 && r.rcode <= 16));
    }),
    { numRuns: 3000 },
  );
});

test('property: random headers followed by random bytes never make the core throw, and its answers are well formed', async () => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ minLength: 12, maxLength: 300 }), fc.constantFrom('udp' as const, 'tcp' as const), async (bytes, transport) => {
      bytes[2] = bytes[2]! & 0x7f; // a query, not a response: the interesting paths
      await checkAnswer(bytes, transport);
    }),
    { numRuns: 1500 },
  );
});

test('property: mutated real queries never make the parser or the core throw', async () => {
  await fc.assert(
    fc.asyncProperty(mutated, fc.constantFrom('udp' as const, 'tcp' as const), async (message, transport) => {
      parseQuery(message);
      await checkAnswer(message, transport);
    }),
    { numRuns: 1500 },
  );
});

test('property: every well-formed query parses back to its question, and is answered', async () => {
  await fc.assert(
    fc.asyncProperty(queries, async (message) => {
      const r = parseQuery(message);
      assert.ok(r.ok, !r.ok ? r.reason : '');
      const decoded = dnsPacket.decode(message);
      assert.equal(r.query.question.name, decoded.questions![0]!.name.toLowerCase());
      await checkAnswer(message, 'udp');
    }),
    { numRuns: 500 },
  );
});
