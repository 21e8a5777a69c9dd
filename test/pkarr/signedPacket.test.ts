// lib/pkarr: the SignedPacket format (signature ‖ timestamp ‖ DNS packet, signature over the BEP44
// bencoded seq and v), newer-wins, and the node's own records. fast-check properties for the decoder:
// truncations, lying lengths and counts, the size limit — every input is decoded or refused with a
// SignedPacketError, never another exception.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import dnsPacket from 'dns-packet';
import {
  compareSignedPackets, decodeSignedPacket, encodeSignedPacket, MAX_SIGNED_PACKET_BYTES, signableBytes, signWithSeed,
  SignedPacketError, verifySignedPacket,
} from '../../lib/pkarr/signedPacket.ts';
import { buildNodeDnsPacket, readNodeRecords } from '../../lib/pkarr/records.ts';
import { ed25519 } from '@noble/curves/ed25519.js';
import { nodeIdFromPublicKey } from '../../lib/nodeId.ts';

function keyPair(): { seed: Uint8Array; publicKey: Uint8Array; z32: string } {
  const seed = new Uint8Array(randomBytes(32));
  const publicKey = ed25519.getPublicKey(seed);
  return { seed, publicKey, z32: nodeIdFromPublicKey(publicKey) };
}

function dnsOf(z32: string, text = 'hello'): Uint8Array {
  return new Uint8Array(dnsPacket.encode({ type: 'response', id: 0, answers: [{ type: 'TXT', name: `_t.${z32}`, ttl: 60, data: [text] }] }));
}

test('signable bytes are the BEP44 bencoding of seq and v', () => {
  const s = signableBytes(1_700_000_000_000_000, new Uint8Array([0x61, 0x62, 0x63]));
  assert.equal(Buffer.from(s).toString('latin1'), '3:seqi1700000000000000e1:v3:abc');
});

test('encode → decode → verify round trip; the signature is the one noble computes', () => {
  const k = keyPair();
  const dns = dnsOf(k.z32);
  const ts = 1_723_456_789_123_456;
  const bytes = signWithSeed(k.seed, ts, dns);
  assert.equal(bytes.length, 72 + dns.length);
  // Byte layout: 64 signature, 8 big-endian timestamp, then the DNS packet.
  assert.equal(Buffer.from(bytes.subarray(64, 72)).readBigUInt64BE(), BigInt(ts));
  assert.deepEqual(bytes.subarray(72), dns);
  const noble = ed25519.sign(signableBytes(ts, dns), k.seed);
  assert.deepEqual(bytes.subarray(0, 64), noble);
  const p = verifySignedPacket(k.z32, bytes);
  assert.equal(p.timestamp, ts);
  assert.deepEqual(p.dnsPacket, dns);
  assert.deepEqual(encodeSignedPacket(p.signature, p.timestamp, p.dnsPacket), bytes);
});

test('a flipped byte anywhere, another key, or a bad DNS packet is refused', () => {
  const k = keyPair();
  const bytes = signWithSeed(k.seed, 5_000_000, dnsOf(k.z32));
  for (const i of [0, 63, 64, 71, 72, bytes.length - 1]) {
    const bad = bytes.slice();
    bad[i]! ^= 0x01;
    assert.throws(() => verifySignedPacket(k.z32, bad), SignedPacketError, `flipped byte ${i}`);
  }
  assert.throws(() => verifySignedPacket(keyPair().z32, bytes), (e: unknown) => e instanceof SignedPacketError && e.kind === 'signature');
  // A correctly signed packet whose DNS bytes do not parse: refused as 'dns' before the signature.
  const junk = signWithSeed(k.seed, 5, new Uint8Array(20).fill(0xff));
  assert.throws(() => verifySignedPacket(k.z32, junk), (e: unknown) => e instanceof SignedPacketError && e.kind === 'dns');
  assert.throws(() => verifySignedPacket('not-a-key', bytes), (e: unknown) => e instanceof SignedPacketError && e.kind === 'key');
});

test('size limits: 72 + 12 bytes at least, 1072 at most; timestamps past 2^53 are refused', () => {
  assert.throws(() => decodeSignedPacket(new Uint8Array(83)), (e: unknown) => e instanceof SignedPacketError && e.kind === 'too-short');
  assert.throws(() => decodeSignedPacket(new Uint8Array(MAX_SIGNED_PACKET_BYTES + 1)), (e: unknown) => e instanceof SignedPacketError && e.kind === 'too-large');
  const k = keyPair();
  const big = signWithSeed(k.seed, 1, dnsOf(k.z32));
  big[64] = 0xff;
  assert.throws(() => decodeSignedPacket(big), (e: unknown) => e instanceof SignedPacketError && e.kind === 'timestamp');
});

test('newer timestamp wins; older is refused; equal with other bytes is refused; identical is "same"', () => {
  const k = keyPair();
  const a = decodeSignedPacket(signWithSeed(k.seed, 100, dnsOf(k.z32, 'a')));
  const b = decodeSignedPacket(signWithSeed(k.seed, 200, dnsOf(k.z32, 'b')));
  const b2 = decodeSignedPacket(signWithSeed(k.seed, 200, dnsOf(k.z32, 'c')));
  assert.equal(compareSignedPackets(a, null), 'newer');
  assert.equal(compareSignedPackets(b, a), 'newer');
  assert.equal(compareSignedPackets(a, b), 'older');
  assert.equal(compareSignedPackets(b2, b), 'older');
  assert.equal(compareSignedPackets(decodeSignedPacket(b.bytes.slice()), b), 'same');
});

test("the node's packet: _alknet TXT per address, A/AAAA per IP host, read back", () => {
  const k = keyPair();
  const dns = buildNodeDnsPacket(k.z32, [{ host: '127.0.0.1', port: 4433 }, { host: '::1', port: 4433 }, { host: 'node.example', port: 9 }]);
  const parsed = dnsPacket.decode(Buffer.from(dns));
  const names = parsed.answers!.map((a) => `${a.type} ${a.name}`);
  assert.deepEqual(names, [`TXT _alknet.${k.z32}`, `TXT _alknet.${k.z32}`, `TXT _alknet.${k.z32}`, `A ${k.z32}`, `AAAA ${k.z32}`]);
  const records = readNodeRecords(dns, k.z32);
  assert.deepEqual(records.addresses, [{ host: '127.0.0.1', port: 4433 }, { host: '::1', port: 4433 }, { host: 'node.example', port: 9 }]);
  assert.deepEqual(records.ips, ['127.0.0.1', '::1']);
  // Records under another key are not this node's.
  assert.deepEqual(readNodeRecords(dns, keyPair().z32), { addresses: [], ips: [] });
});

test('property: any truncation of a valid packet decodes to a prefix or is refused with SignedPacketError', () => {
  const k = keyPair();
  const valid = signWithSeed(k.seed, 1_700_000_000_000_000, buildNodeDnsPacket(k.z32, [{ host: '10.0.0.1', port: 1 }, { host: 'fe80::1', port: 2 }]));
  fc.assert(
    fc.property(fc.integer({ min: 0, max: valid.length - 1 }), (n) => {
      const cut = valid.subarray(0, n);
      try {
        verifySignedPacket(k.z32, cut);
        return false; // a truncated packet never verifies
      } catch (err) {
        return err instanceof SignedPacketError;
      }
    }),
    { numRuns: 300 },
  );
});

test('property: random bytes and lying DNS headers (counts, lengths) never throw anything but SignedPacketError', () => {
  const header = fc.record({ qd: fc.integer({ min: 0, max: 65535 }), an: fc.integer({ min: 0, max: 65535 }), ns: fc.integer({ min: 0, max: 65535 }), ar: fc.integer({ min: 0, max: 65535 }) });
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 1200 }), header, fc.boolean(), (body, counts, lie) => {
      const bytes = new Uint8Array(body.length + (lie ? 84 : 0));
      bytes.set(body, lie ? 84 : 0);
      if (lie) {
        const v = new DataView(bytes.buffer);
        v.setUint16(72 + 4, counts.qd);
        v.setUint16(72 + 6, counts.an);
        v.setUint16(72 + 8, counts.ns);
        v.setUint16(72 + 10, counts.ar);
      }
      try {
        const p = decodeSignedPacket(bytes);
        return p.bytes.length <= MAX_SIGNED_PACKET_BYTES && p.dnsPacket.length >= 12;
      } catch (err) {
        return err instanceof SignedPacketError;
      }
    }),
    { numRuns: 1000 },
  );
});

test('property: a record length (rdlength) that lies about the bytes behind it is refused', () => {
  const k = keyPair();
  const dns = dnsOf(k.z32, 'x'.repeat(40));
  // The TXT record's RDLENGTH is the 2 bytes before its data; rewrite it to anything.
  const rdlengthAt = dns.length - 41 - 2;
  assert.equal(new DataView(dns.buffer).getUint16(rdlengthAt), 41);
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 65535 }).filter((n) => n !== 41), (n) => {
      const bad = dns.slice();
      new DataView(bad.buffer).setUint16(rdlengthAt, n);
      try {
        verifySignedPacket(k.z32, signWithSeed(k.seed, 7, bad));
        return false; // longer runs past the end, shorter leaves bytes over: both refused
      } catch (err) {
        return err instanceof SignedPacketError;
      }
    }),
    { numRuns: 200 },
  );
});

test('DNS structure: pointer loops, forward pointers, long labels and long names are refused', () => {
  const header = (an: number): number[] => [0, 0, 0x84, 0, 0, 0, 0, an, 0, 0, 0, 0];
  const rr = [0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4]; // type A, class IN, ttl 60, 4 bytes
  const cases: Record<string, number[]> = {
    'pointer to itself': [...header(1), 0xc0, 12, ...rr],
    'forward pointer': [...header(1), 0xc0, 14, 0, ...rr],
    'label of 64': [...header(1), 64, ...new Array(64).fill(0x61), 0, ...rr],
    'name over 255': [...header(1), ...Array.from({ length: 5 }, () => [60, ...new Array(60).fill(0x61)]).flat(), 0, ...rr],
    'count says 2, one record': [...header(2), 0, ...rr],
    'trailing byte': [...header(1), 0, ...rr, 0],
  };
  const k = keyPair();
  for (const [what, bytes] of Object.entries(cases)) {
    const signed = signWithSeed(k.seed, 9, new Uint8Array(bytes));
    assert.throws(() => verifySignedPacket(k.z32, signed), (e: unknown) => e instanceof SignedPacketError && e.kind === 'dns', what);
  }
  // The same record, well formed, passes.
  assert.doesNotThrow(() => verifySignedPacket(k.z32, signWithSeed(k.seed, 9, new Uint8Array([...header(1), 0, ...rr]))));
});
