// The zone of one pkarr key: the records of its signed packet, answered under `<z32>`.
//
// A signed packet is 64-byte signature ‖ 8-byte big-endian timestamp (µs) ‖ DNS packet (≤ 1000
// bytes); the pkarr service verified the signature when it stored it, so only the DNS part is read
// here (its answers are the records). Names in it are relative to the key or end in it, as pkarr
// writes them: '@', '.' or '' is the key itself, '_alknet' is `_alknet.<z32>`, and `x.<z32>` stays.
// The packet was made by whoever holds the key, so it is untrusted bytes: dns-packet decodes it
// (its name reader accepts only backward pointers, so no loop), records it cannot write back are
// left out, and a packet that does not decode is an empty zone.
import dnsPacket from 'dns-packet';
import { canonicalName } from './names.ts';
import { encodeRrTail, TYPE, typeNumber, type Rr } from './wire.ts';
import { DEFAULT_SOA_TIMERS, Zone } from './zone.ts';

/** Signature and timestamp before the DNS packet. */
export const SIGNED_PACKET_HEADER_BYTES = 72;
const Z32_KEY = /^[ybndrfg8ejkmcpqxot1uwisza345h769]{52}$/;

/** Is this label (a key's last label) a pkarr public key in z-base-32? */
export function isPkarrKey(label: string): boolean {
  return label.length === 52 && Z32_KEY.test(label);
}

/** The pkarr key a name ends in, or null: `<z32>` or `anything.<z32>` (keys are lower-case). */
export function pkarrKeyOf(name: string): string | null {
  const last = name.slice(name.lastIndexOf('.') + 1);
  return isPkarrKey(last) ? last : null;
}

/** The timestamp of a signed packet in µs. */
export function signedPacketTimestamp(signed: Uint8Array): bigint {
  return new DataView(signed.buffer, signed.byteOffset, signed.byteLength).getBigUint64(64);
}

/** The SOA of a pkarr zone (its serial: the packet's timestamp in seconds; 0 when there is no packet). */
export function pkarrSoa(publicKey: string, serial: number, negativeTtl: number) {
  return {
    ttl: negativeTtl,
    data: { mname: publicKey, rname: `hostmaster.${publicKey}`, serial, ...DEFAULT_SOA_TIMERS, minimum: negativeTtl },
  };
}

function ownerName(raw: string, publicKey: string): string | null {
  const n = raw.toLowerCase().replace(/\.$/, '');
  let name: string;
  if (n === '' || n === '@' || n === '.') name = publicKey;
  else if (n === publicKey || n.endsWith(`.${publicKey}`)) name = n;
  else name = `${n}.${publicKey}`;
  try {
    return canonicalName(name);
  } catch {
    return null;
  }
}

/** The zone `<publicKey>` of a stored signed packet. */
export function pkarrZone(publicKey: string, signed: Uint8Array, negativeTtl: number): Zone {
  const serial = signed.length >= SIGNED_PACKET_HEADER_BYTES ? Number(signedPacketTimestamp(signed) / 1_000_000n) >>> 0 : 0;
  const rrs: Rr[] = [];
  let answers: dnsPacket.Answer[] = [];
  try {
    answers = dnsPacket.decode(Buffer.from(signed.subarray(SIGNED_PACKET_HEADER_BYTES))).answers ?? [];
  } catch {
    answers = [];
  }
  for (const a of answers) {
    const type = typeNumber(a.type);
    if (type === 0 || type === TYPE.OPT || type === TYPE.SOA) continue;
    if ((a as { class?: string }).class !== undefined && (a as { class?: string }).class !== 'IN') continue;
    const name = ownerName(a.name, publicKey);
    if (name === null) continue;
    const rr: Rr = { name, type, ttl: (a as { ttl?: number }).ttl ?? 0, data: (a as { data?: unknown }).data };
    try {
      encodeRrTail(rr);
    } catch {
      continue; // data dns-packet cannot write back (or a name over our limits): left out
    }
    rrs.push(rr);
  }
  return new Zone(publicKey, rrs, pkarrSoa(publicKey, serial, negativeTtl));
}

function sameSignature(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length < 64 || b.length < 64) return false;
  for (let i = 0; i < 64; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Zones of recently made packets (oldest made first out), keyed by key and checked against the packet's signature. */
export class PkarrZoneCache {
  readonly #zones = new Map<string, { signed: Uint8Array; zone: Zone }>();
  constructor(private readonly max = 4096, private readonly negativeTtl = 300) {}

  zoneOf(publicKey: string, signed: Uint8Array): Zone {
    const hit = this.#zones.get(publicKey);
    // The same packet: the same bytes object (in-process the store hands out the one it holds), or the same signature.
    if (hit && (hit.signed === signed || sameSignature(hit.signed, signed))) return hit.zone;
    const zone = pkarrZone(publicKey, signed, this.negativeTtl);
    this.#zones.delete(publicKey);
    this.#zones.set(publicKey, { signed: Uint8Array.from(signed), zone });
    if (this.#zones.size > this.max) this.#zones.delete(this.#zones.keys().next().value!);
    return zone;
  }

  /** The zone of a key with no packet: only its SOA, so every name under it is NXDOMAIN. */
  emptyZone(publicKey: string): Zone {
    return new Zone(publicKey, [], pkarrSoa(publicKey, 0, this.negativeTtl));
  }
}
