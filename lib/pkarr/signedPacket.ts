// pkarr's SignedPacket, as its relays and the Mainline DHT carry it (pkarr design/base.md, relays.md):
//
//   signature (64) ‖ timestamp (8, big-endian µs since the Unix epoch) ‖ DNS packet (≤ 1000 bytes)
//
// The signature is Ed25519 over the BEP44 bencoded form `3:seqi<timestamp>e1:v<length>:<packet>`,
// so the same bytes are a mutable item in the DHT (k = public key, seq = timestamp, v = packet).
// The public key is not in these bytes: it is the relay URL's `/{z32}`, the DHT item's `k`.
// Pure: no I/O; Ed25519 through node:crypto (OpenSSL).
import { createPublicKey, createPrivateKey, sign as edSign, verify as edVerify, type KeyObject } from 'node:crypto';
import dnsPacket from 'dns-packet';
import { ed25519 } from '@noble/curves/ed25519.js';
import { publicKeyFromNodeId, isNodeId } from '../nodeId.ts';

export const SIGNATURE_BYTES = 64;
export const TIMESTAMP_BYTES = 8;
/** A DNS packet larger than this is refused (BEP44's limit on `v`). */
export const MAX_DNS_PACKET_BYTES = 1000;
/** The smallest DNS packet: its 12-byte header. */
export const MIN_DNS_PACKET_BYTES = 12;
export const HEADER_BYTES = SIGNATURE_BYTES + TIMESTAMP_BYTES;
export const MAX_SIGNED_PACKET_BYTES = HEADER_BYTES + MAX_DNS_PACKET_BYTES;

/** Why bytes are not an acceptable signed packet. `kind` tells the relay which status to answer. */
export class SignedPacketError extends Error {
  override name = 'SignedPacketError';
  constructor(
    readonly kind: 'too-short' | 'too-large' | 'timestamp' | 'dns' | 'signature' | 'key',
    message: string,
  ) {
    super(message);
  }
}

export interface SignedPacket {
  /** The whole relay payload: signature ‖ timestamp ‖ DNS packet (a view of the input, not a copy). */
  bytes: Uint8Array;
  signature: Uint8Array;
  /** Microseconds since the Unix epoch. */
  timestamp: number;
  dnsPacket: Uint8Array;
}

/**
 * Splits bytes into signature, timestamp and DNS packet, checking sizes, the timestamp and that the
 * DNS packet parses. No signature check (see verifySignedPacket). Throws SignedPacketError.
 */
export function decodeSignedPacket(bytes: Uint8Array): SignedPacket {
  if (bytes.length > MAX_SIGNED_PACKET_BYTES) {
    throw new SignedPacketError('too-large', `signed packet of ${bytes.length} bytes: at most ${MAX_SIGNED_PACKET_BYTES} (a DNS packet of at most ${MAX_DNS_PACKET_BYTES})`);
  }
  if (bytes.length < HEADER_BYTES + MIN_DNS_PACKET_BYTES) {
    throw new SignedPacketError('too-short', `signed packet of ${bytes.length} bytes: needs 64 (signature) + 8 (timestamp) + a DNS packet of at least 12`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const high = view.getUint32(SIGNATURE_BYTES);
  const low = view.getUint32(SIGNATURE_BYTES + 4);
  // Up to 2^53 - 1 µs (the year 2255): a timestamp a JavaScript number holds exactly.
  if (high > 0x1fffff) throw new SignedPacketError('timestamp', 'timestamp beyond 2^53 - 1 microseconds');
  const timestamp = high * 2 ** 32 + low;
  const dns = bytes.subarray(HEADER_BYTES);
  parseDnsPacket(dns);
  return { bytes, signature: bytes.subarray(0, SIGNATURE_BYTES), timestamp, dnsPacket: dns };
}

/**
 * Walks a DNS packet's structure with bounds checks: the 12-byte header, then as many questions and
 * records as the header counts, each name within 255 bytes with labels of at most 63 and compression
 * pointers only backwards, each record's RDLENGTH within the packet, and no byte left over. dns-packet
 * alone reads past a record's end without complaint (a lying RDLENGTH or count); this refuses it.
 * Returns a reason, or null when the structure holds.
 */
export function dnsStructureProblem(dns: Uint8Array): string | null {
  if (dns.length < MIN_DNS_PACKET_BYTES) return `${dns.length} bytes: shorter than a DNS header`;
  const view = new DataView(dns.buffer, dns.byteOffset, dns.byteLength);
  const counts = [view.getUint16(4), view.getUint16(6), view.getUint16(8), view.getUint16(10)] as const;
  let at = MIN_DNS_PACKET_BYTES;
  const skipName = (): string | null => {
    let pos = at;
    let length = 0;
    let jumped = false;
    // Each pointer must go strictly backwards, so this ends within dns.length steps.
    let limit = dns.length;
    for (;;) {
      if (limit-- <= 0) return 'name: too many labels';
      if (pos >= dns.length) return 'name runs past the end';
      const len = dns[pos]!;
      if (len === 0) {
        if (!jumped) at = pos + 1;
        return length + 1 > 255 ? 'name longer than 255 bytes' : null;
      }
      if ((len & 0xc0) === 0xc0) {
        if (pos + 1 >= dns.length) return 'compression pointer runs past the end';
        const target = ((len & 0x3f) << 8) | dns[pos + 1]!;
        if (target >= pos) return 'compression pointer does not point backwards';
        if (!jumped) at = pos + 2;
        jumped = true;
        pos = target;
        continue;
      }
      if ((len & 0xc0) !== 0) return `label type 0x${(len & 0xc0).toString(16)} is not supported`;
      if (len > 63) return 'label longer than 63 bytes';
      length += len + 1;
      if (length > 255) return 'name longer than 255 bytes';
      if (pos + 1 + len > dns.length) return 'label runs past the end';
      pos += 1 + len;
    }
  };
  for (let section = 0; section < 4; section++) {
    for (let i = 0; i < counts[section]!; i++) {
      const problem = skipName();
      if (problem) return problem;
      if (section === 0) {
        if (at + 4 > dns.length) return 'question runs past the end';
        at += 4;
        continue;
      }
      if (at + 10 > dns.length) return 'record header runs past the end';
      const rdlength = view.getUint16(at + 8);
      at += 10;
      if (at + rdlength > dns.length) return `record data of ${rdlength} bytes runs past the end`;
      at += rdlength;
    }
  }
  if (at !== dns.length) return `${dns.length - at} bytes after the last record`;
  return null;
}

/** Parses a DNS packet, throwing SignedPacketError('dns') with the reason. */
export function parseDnsPacket(dns: Uint8Array): dnsPacket.Packet {
  const problem = dnsStructureProblem(dns);
  if (problem !== null) throw new SignedPacketError('dns', `the DNS packet does not parse: ${problem}`);
  try {
    return dnsPacket.decode(Buffer.from(dns.buffer, dns.byteOffset, dns.byteLength));
  } catch (err) {
    throw new SignedPacketError('dns', `the DNS packet does not parse: ${(err as Error).message}`);
  }
}

/** The bytes the signature covers: `3:seqi<timestamp>e1:v<length>:<packet>` (BEP44 without the outer d…e). */
export function signableBytes(timestamp: number, dns: Uint8Array): Uint8Array {
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new RangeError(`timestamp must be a non-negative safe integer, got ${timestamp}`);
  const prefix = Buffer.from(`3:seqi${timestamp}e1:v${dns.length}:`, 'latin1');
  const out = new Uint8Array(prefix.length + dns.length);
  out.set(prefix, 0);
  out.set(dns, prefix.length);
  return out;
}

/** signature ‖ timestamp ‖ DNS packet. */
export function encodeSignedPacket(signature: Uint8Array, timestamp: number, dns: Uint8Array): Uint8Array {
  if (signature.length !== SIGNATURE_BYTES) throw new RangeError(`an Ed25519 signature has 64 bytes, got ${signature.length}`);
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new RangeError(`timestamp must be a non-negative safe integer, got ${timestamp}`);
  if (dns.length > MAX_DNS_PACKET_BYTES) throw new SignedPacketError('too-large', `DNS packet of ${dns.length} bytes: at most ${MAX_DNS_PACKET_BYTES}`);
  const out = new Uint8Array(HEADER_BYTES + dns.length);
  out.set(signature, 0);
  const view = new DataView(out.buffer);
  view.setUint32(SIGNATURE_BYTES, Math.floor(timestamp / 2 ** 32));
  view.setUint32(SIGNATURE_BYTES + 4, timestamp >>> 0);
  out.set(dns, HEADER_BYTES);
  return out;
}

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  if (publicKey.length !== 32) throw new SignedPacketError('key', `an Ed25519 public key has 32 bytes, got ${publicKey.length}`);
  try {
    return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, publicKey]), format: 'der', type: 'spki' });
  } catch (err) {
    throw new SignedPacketError('key', `not an Ed25519 public key: ${(err as Error).message}`);
  }
}

/** Whether 32 bytes encode a point of the Ed25519 curve (about half of all 32-byte strings do not). */
export function isEd25519Point(publicKey: Uint8Array): boolean {
  if (publicKey.length !== 32) return false;
  try {
    ed25519.Point.fromBytes(publicKey);
    return true;
  } catch {
    return false;
  }
}

/** The 32-byte key from a z-base-32 key (a NodeId) or the bytes themselves; throws if it is no Ed25519 key. */
export function publicKeyBytes(key: string | Uint8Array): Uint8Array {
  let bytes: Uint8Array;
  if (typeof key !== 'string') bytes = key;
  else if (!isNodeId(key)) throw new SignedPacketError('key', `"${key.slice(0, 60)}" is not a z-base-32 public key (52 characters)`);
  else bytes = publicKeyFromNodeId(key);
  if (!isEd25519Point(bytes)) throw new SignedPacketError('key', 'not an Ed25519 public key (not a point of the curve)');
  return bytes;
}

/** Ed25519 verification of a BEP44 signature (also the DHT's `verify` hook). */
export function verifySignature(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_BYTES || publicKey.length !== 32) return false;
  try {
    return edVerify(null, message, publicKeyObject(publicKey), signature);
  } catch {
    return false;
  }
}

/** Decodes and checks the signature under `publicKey` (z-base-32 or 32 bytes). Throws SignedPacketError. */
export function verifySignedPacket(publicKey: string | Uint8Array, bytes: Uint8Array): SignedPacket {
  const key = publicKeyBytes(publicKey);
  const packet = decodeSignedPacket(bytes);
  if (!verifySignature(packet.signature, signableBytes(packet.timestamp, packet.dnsPacket), key)) {
    throw new SignedPacketError('signature', 'the signature does not verify under the public key');
  }
  return packet;
}

/**
 * Signs with a raw 32-byte Ed25519 seed (tests, tools). A node signs through its vault instead
 * (`vault.sign` over signableBytes): its key never leaves the vault.
 */
export function signWithSeed(seed: Uint8Array, timestamp: number, dns: Uint8Array): Uint8Array {
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const signature = edSign(null, signableBytes(timestamp, dns), key);
  return encodeSignedPacket(signature, timestamp, dns);
}

export type Freshness = 'newer' | 'same' | 'older';

/**
 * How a candidate compares with the stored packet of the same key: newer timestamp wins; an older
 * one, or the same timestamp with other bytes, is 'older' (refused); the very same bytes are 'same'.
 */
export function compareSignedPackets(candidate: SignedPacket, stored: SignedPacket | null): Freshness {
  if (stored === null || candidate.timestamp > stored.timestamp) return 'newer';
  if (candidate.timestamp < stored.timestamp) return 'older';
  return Buffer.compare(candidate.bytes, stored.bytes) === 0 ? 'same' : 'older';
}

/** The current time in microseconds (ms precision), as pkarr timestamps are. */
export function nowMicros(): number {
  return Date.now() * 1000;
}

/** Microseconds → an HTTP date (Last-Modified), truncated to the second. */
export function httpDateOf(timestamp: number): string {
  return new Date(Math.floor(timestamp / 1000)).toUTCString();
}

/** An HTTP date → microseconds, or null if it does not parse. */
export function microsOfHttpDate(text: string): number | null {
  const ms = Date.parse(text);
  return Number.isFinite(ms) && ms >= 0 ? ms * 1000 : null;
}
