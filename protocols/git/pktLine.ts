// pkt-line, git's framing (gitprotocol-common): four hex digits giving the packet's length
// including themselves, then the payload; "0000" is a flush. Protocol v0/v1 knows no other special
// packets, so lengths 0001–0003 are malformed here, as is anything above 65520 (65516 bytes of
// payload) and any non-hex length. Side-band: band 1 pack data, 2 progress, 3 a fatal error.
// The decoder is pure (PktDecoder over bytes) and shared by the stream reader (input.ts).

export const MAX_PKT_LENGTH = 65520;
export const MAX_PKT_PAYLOAD = MAX_PKT_LENGTH - 4;
/** side-band-64k: a band byte + up to 65515 bytes per packet. */
export const MAX_SIDEBAND_64K_DATA = MAX_PKT_PAYLOAD - 1;
/** side-band (without 64k): packets of at most 1000 bytes. */
export const MAX_SIDEBAND_DATA = 1000 - 5;

export const FLUSH = Buffer.from('0000', 'latin1');

export class PktLineError extends Error {
  override name = 'PktLineError';
}

export type Pkt = { kind: 'flush' } | { kind: 'data'; data: Buffer };

/**
 * The length a 4-byte pkt header announces (0 for a flush), or a PktLineError: not hex, 0001–0003,
 * or above the limit.
 */
export function pktLength(header: Uint8Array, maxLength = MAX_PKT_LENGTH): number {
  let n = 0;
  for (let i = 0; i < 4; i++) {
    const c = header[i]!;
    const v = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1;
    if (v < 0) throw new PktLineError(`bad pkt-line length ${JSON.stringify(Buffer.from(header.subarray(0, 4)).toString('latin1'))}`);
    n = n * 16 + v;
  }
  if (n === 0) return 0;
  if (n < 4) throw new PktLineError(`bad pkt-line length ${n} (0001-0003 are not used by protocol v0/v1)`);
  if (n > maxLength) throw new PktLineError(`pkt-line length ${n} is above the limit of ${maxLength}`);
  return n;
}

/**
 * Splits bytes into packets. Returns the complete packets and how many bytes they used; a packet
 * cut short stays for the next call. Throws PktLineError on a malformed length.
 */
export function decodePkts(buf: Uint8Array, maxLength = MAX_PKT_LENGTH): { pkts: Pkt[]; used: number } {
  const pkts: Pkt[] = [];
  let at = 0;
  while (buf.length - at >= 4) {
    const len = pktLength(buf.subarray(at, at + 4), maxLength);
    if (len === 0) {
      pkts.push({ kind: 'flush' });
      at += 4;
      continue;
    }
    if (buf.length - at < len) break;
    pkts.push({ kind: 'data', data: Buffer.from(buf.subarray(at + 4, at + len)) });
    at += len;
  }
  return { pkts, used: at };
}

/** One data packet. */
export function pkt(data: string | Uint8Array): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (body.length > MAX_PKT_PAYLOAD) throw new PktLineError(`a pkt-line payload of ${body.length} bytes is above ${MAX_PKT_PAYLOAD}`);
  return Buffer.concat([Buffer.from((body.length + 4).toString(16).padStart(4, '0'), 'latin1'), body]);
}

/** A data packet's text without its trailing newline. */
export function pktText(data: Buffer): string {
  const end = data.length > 0 && data[data.length - 1] === 0x0a ? data.length - 1 : data.length;
  return data.toString('utf8', 0, end);
}

/** `data` on a side-band channel, cut into packets of the channel's size. */
export function sideband(band: 1 | 2 | 3, data: Uint8Array, large: boolean): Buffer[] {
  const max = large ? MAX_SIDEBAND_64K_DATA : MAX_SIDEBAND_DATA;
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; at += max) {
    const piece = data.subarray(at, Math.min(at + max, data.length));
    const header = Buffer.from((piece.length + 5).toString(16).padStart(4, '0'), 'latin1');
    out.push(header, Buffer.from([band]), Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength));
  }
  return out;
}
