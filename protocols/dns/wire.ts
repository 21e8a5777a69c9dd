// The DNS wire format as the front end reads and writes it (RFC 1035, RFC 6891 EDNS(0)).
//
// Queries come from the network, so they are read here by a strict parser of our own with explicit
// limits, not by dns-packet: a query is a 12-byte header, exactly one question, no answer or
// authority records, and at most MAX_ADDITIONAL additional records of which at most one is an OPT
// record. Labels are at most 63 bytes, names at most 255 bytes on the wire, a compression pointer
// must point strictly backwards and past the header (so it cannot loop), and at most
// MAX_POINTER_HOPS of them are followed per name. Counts that promise more than the message holds,
// bytes after the last record, and the reserved label types are format errors. The parser never
// throws: it says what to answer (FORMERR, NOTIMP, BADVERS) or that the message must be dropped
// (no complete header, or a response).
//
// Responses are written here too: header and names by hand, each record's data by dns-packet's
// per-type encoders (the names in those come from our own zones and from signed pkarr packets that
// dns-packet decoded). dns-packet never compresses names; that is fine at these sizes.
import dnsPacket from 'dns-packet';
import { createRequire } from 'node:module';
import { MAX_LABEL_BYTES, MAX_NAME_BYTES, nameKey, nameLabels } from './names.ts';

export { MAX_LABEL_BYTES, MAX_NAME_BYTES };

/** dns-packet's record codec (its typings leave it out). */
const answerCodec = (dnsPacket as unknown as { answer: { encode(record: object): Buffer } }).answer;
const packetTypes = createRequire(import.meta.url)('dns-packet/types.js') as { toString(type: number): string; toType(name: string): number };

/** Type number → mnemonic as dns-packet writes it ('A', 'TXT', 'UNKNOWN_65'). */
export const typeName = (type: number): string => packetTypes.toString(type);
/** Mnemonic → type number (0 when unknown). */
export const typeNumber = (name: string): number => packetTypes.toType(name.toUpperCase());

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 } as const;
export const TYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, OPT: 41, IXFR: 251, AXFR: 252, ANY: 255 } as const;
export const CLASS_IN = 1;

export const FLAG = { QR: 0x8000, AA: 0x0400, TC: 0x0200, RD: 0x0100, RA: 0x0080, AD: 0x0020, CD: 0x0010 } as const;

export const HEADER_BYTES = 12;
export const MAX_POINTER_HOPS = 16;
/** Additional records a query may carry (an OPT record, a cookie-less client's padding...). */
export const MAX_ADDITIONAL = 4;
/** The classic UDP limit without EDNS (RFC 1035 4.2.1). */
export const CLASSIC_UDP_BYTES = 512;
/** Largest message over a stream transport (the 2-byte length prefix). */
export const MAX_MESSAGE_BYTES = 65_535;

export interface Edns {
  /** The requestor's UDP payload size, raised to 512 when it says less (RFC 6891 6.2.5). */
  udpSize: number;
  version: number;
  dnssecOk: boolean;
}

export interface Question {
  /** The name's labels as they came (case kept), without the root label. */
  labels: Uint8Array[];
  /** The name's key: lower-case, dot-separated, bytes outside printable ASCII (and '.' and '\') escaped as \DDD. '' for the root. */
  name: string;
  type: number;
  class: number;
}

export interface Query {
  id: number;
  opcode: number;
  /** Recursion desired. */
  rd: boolean;
  cd: boolean;
  question: Question;
  edns: Edns | null;
}

export type ParseResult =
  | { ok: true; query: Query }
  /** Nothing to answer: no full header, or the message is itself a response. */
  | { ok: false; drop: true; reason: string }
  /** Answer with this code (the header and, when it was readable, the question are echoed). */
  | { ok: false; drop: false; rcode: number; id: number; opcode: number; rd: boolean; question: Question | null; edns: Edns | null; reason: string };

class WireError extends Error {}

/** A name read from a message: its labels and where the bytes after it start. */
interface ReadName {
  labels: Uint8Array[];
  next: number;
}

/**
 * Reads a possibly compressed name at `offset`. Pointers must point backwards (below the start of
 * the name or label run that holds them) and into the message body (≥ 12), so every jump lands
 * strictly earlier and the walk ends; MAX_POINTER_HOPS bounds it again.
 */
export function readName(buf: Uint8Array, offset: number): ReadName {
  const labels: Uint8Array[] = [];
  let wireBytes = 1; // the final zero
  let pos = offset;
  let floor = offset; // a pointer must point below where the current run of labels started
  let next = -1;
  let hops = 0;
  for (;;) {
    if (pos >= buf.length) throw new WireError('name runs past the end of the message');
    const len = buf[pos]!;
    if (len === 0) {
      if (next < 0) next = pos + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= buf.length) throw new WireError('compression pointer cut off');
      const target = ((len & 0x3f) << 8) | buf[pos + 1]!;
      if (++hops > MAX_POINTER_HOPS) throw new WireError('too many compression pointers');
      if (target < HEADER_BYTES || target >= floor) throw new WireError('compression pointer does not point backwards into the message');
      if (next < 0) next = pos + 2;
      pos = target;
      floor = target;
      continue;
    }
    if (kind !== 0) throw new WireError('reserved label type');
    if (len > MAX_LABEL_BYTES) throw new WireError('label over 63 bytes');
    if (pos + 1 + len > buf.length) throw new WireError('label runs past the end of the message');
    wireBytes += len + 1;
    if (wireBytes > MAX_NAME_BYTES) throw new WireError('name over 255 bytes');
    labels.push(buf.subarray(pos + 1, pos + 1 + len));
    pos += 1 + len;
  }
  return { labels, next };
}

export function encodeLabels(labels: readonly Uint8Array[]): Uint8Array {
  let size = 1;
  for (const l of labels) size += l.length + 1;
  const out = new Uint8Array(size);
  let pos = 0;
  for (const l of labels) {
    out[pos++] = l.length;
    out.set(l, pos);
    pos += l.length;
  }
  out[pos] = 0;
  return out;
}

const u16 = (buf: Uint8Array, at: number): number => (buf[at]! << 8) | buf[at + 1]!;

/** Parses one query; never throws (see the file's header for what is refused and why). */
export function parseQuery(buf: Uint8Array): ParseResult {
  if (buf.length < HEADER_BYTES) return { ok: false, drop: true, reason: `message of ${buf.length} bytes has no complete header` };
  const id = u16(buf, 0);
  const flags = u16(buf, 2);
  if (flags & FLAG.QR) return { ok: false, drop: true, reason: 'message is a response' };
  const opcode = (flags >> 11) & 0xf;
  const rd = (flags & FLAG.RD) !== 0;
  const qdcount = u16(buf, 4);
  const ancount = u16(buf, 6);
  const nscount = u16(buf, 8);
  const arcount = u16(buf, 10);
  const fail = (rcode: number, reason: string, question: Question | null = null, edns: Edns | null = null): ParseResult =>
    ({ ok: false, drop: false, rcode, id, opcode, rd, question, edns, reason });
  if (opcode !== 0) return fail(RCODE.NOTIMP, `opcode ${opcode} is not served (only QUERY)`);
  if (qdcount !== 1) return fail(RCODE.FORMERR, `a query carries exactly one question (QDCOUNT ${qdcount})`);
  if (ancount !== 0 || nscount !== 0) return fail(RCODE.FORMERR, `a query carries no answer or authority records (ANCOUNT ${ancount}, NSCOUNT ${nscount})`);
  if (arcount > MAX_ADDITIONAL) return fail(RCODE.FORMERR, `too many additional records (ARCOUNT ${arcount})`);
  let question: Question;
  let pos: number;
  try {
    const name = readName(buf, HEADER_BYTES);
    if (name.next + 4 > buf.length) throw new WireError('question cut off');
    question = { labels: name.labels, name: nameKey(name.labels), type: u16(buf, name.next), class: u16(buf, name.next + 2) };
    pos = name.next + 4;
  } catch (err) {
    return fail(RCODE.FORMERR, `bad question: ${(err as Error).message}`);
  }
  let edns: Edns | null = null;
  try {
    for (let i = 0; i < arcount; i++) {
      const owner = readName(buf, pos);
      pos = owner.next;
      if (pos + 10 > buf.length) throw new WireError('additional record cut off');
      const type = u16(buf, pos);
      const rdlength = u16(buf, pos + 8);
      if (pos + 10 + rdlength > buf.length) throw new WireError('record data runs past the end of the message');
      if (type === TYPE.OPT) {
        if (edns) throw new WireError('more than one OPT record');
        if (owner.labels.length !== 0) throw new WireError('OPT record not owned by the root');
        // Options: each a code, a length and that many bytes, filling rdata exactly.
        let o = pos + 10;
        const end = o + rdlength;
        while (o < end) {
          if (o + 4 > end) throw new WireError('EDNS option cut off');
          o += 4 + u16(buf, o + 2);
        }
        if (o !== end) throw new WireError('EDNS option runs past its record');
        edns = { udpSize: Math.max(CLASSIC_UDP_BYTES, u16(buf, pos + 2)), version: buf[pos + 5]!, dnssecOk: (u16(buf, pos + 6) & 0x8000) !== 0 };
      }
      pos += 10 + rdlength;
    }
    if (pos !== buf.length) throw new WireError(`${buf.length - pos} bytes after the last record`);
  } catch (err) {
    return fail(RCODE.FORMERR, `bad additional section: ${(err as Error).message}`, question, edns);
  }
  if (edns && edns.version > 0) return fail(RCODE.BADVERS, `EDNS version ${edns.version} (only 0)`, question, edns);
  return { ok: true, query: { id, opcode, rd, cd: (flags & FLAG.CD) !== 0, question, edns } };
}

/** A resource record as the front end holds it: owner key, type number, TTL and dns-packet's data. */
export interface Rr {
  /** Owner name key (see Question.name). */
  name: string;
  type: number;
  ttl: number;
  /** dns-packet's data shape for the type ('192.0.2.1', {preference, exchange}, Buffer[] for TXT...). */
  data: unknown;
}

/** A record's wire form after its owner name (type, class IN, TTL, rdata), encoded once and reused. */
const encodedTails = new WeakMap<Rr, Uint8Array>();

/** type ‖ class ‖ ttl ‖ rdlength ‖ rdata; throws when dns-packet cannot encode the data. */
export function encodeRrTail(rr: Rr): Uint8Array {
  let tail = encodedTails.get(rr);
  if (tail) return tail;
  const whole = answerCodec.encode({ name: '.', type: typeName(rr.type), class: 'IN', ttl: rr.ttl, data: rr.data });
  tail = new Uint8Array(whole.subarray(1)); // after the root name's zero byte
  // dns-packet writes label lengths without checking them: check what it wrote for our own limits.
  checkRdataNames(rr, tail);
  encodedTails.set(rr, tail);
  return tail;
}

/** The same record under another owner (a wildcard's answer, a pkarr name made absolute), sharing its encoding. */
export function renamed(rr: Rr, name: string): Rr {
  const copy = { ...rr, name };
  const tail = encodedTails.get(rr);
  if (tail) encodedTails.set(copy, tail);
  return copy;
}

/** The rdata of types with names is read back with our own name reader, so an over-long label never goes out. */
function checkRdataNames(rr: Rr, tail: Uint8Array): void {
  const rdata = tail.subarray(10);
  const offsets: Record<number, number[]> = { [TYPE.NS]: [0], [TYPE.CNAME]: [0], [TYPE.PTR]: [0], [TYPE.MX]: [2], [TYPE.SRV]: [6], [TYPE.SOA]: [0, -1] };
  const at = offsets[rr.type];
  if (!at) return;
  // Names at these positions are uncompressed; readName needs them after a 12-byte header.
  const framed = new Uint8Array(HEADER_BYTES + rdata.length);
  framed.set(rdata, HEADER_BYTES);
  const first = readName(framed, HEADER_BYTES + at[0]!);
  if (at[1] === -1) readName(framed, first.next); // SOA: rname follows mname
}

export interface ResponseParts {
  id: number;
  opcode: number;
  rd: boolean;
  aa: boolean;
  ra: boolean;
  cd?: boolean;
  rcode: number;
  question: Question | null;
  /** The owner of answers that own the question's name: the question's labels, case kept. */
  answers: Rr[];
  authority: Rr[];
  additional: Rr[];
  /** Present when the query had an OPT record: the size we advertise. */
  edns: { udpSize: number } | null;
  /** Set TC whatever the size (a forwarded answer too big for the client, sent without its records). */
  tc?: boolean;
}

/** Encodes a response; when it exceeds `maxBytes`, the records are left out and TC is set. */
export function encodeResponse(parts: ResponseParts, maxBytes: number): Uint8Array {
  const questionWire = parts.question ? encodeLabels(parts.question.labels) : null;
  const ownerCache = new Map<string, Uint8Array>();
  const owner = (name: string): Uint8Array => {
    if (parts.question && name === parts.question.name) return questionWire!;
    let wire = ownerCache.get(name);
    if (!wire) ownerCache.set(name, (wire = encodeLabels(nameLabels(name))));
    return wire;
  };
  const sections = [parts.answers, parts.authority, parts.additional].map((rrs) => rrs.map((rr) => [owner(rr.name), encodeRrTail(rr)] as const));
  const optBytes = parts.edns ? 11 : 0;
  const questionBytes = questionWire ? questionWire.length + 4 : 0;
  let size = HEADER_BYTES + questionBytes + optBytes;
  for (const section of sections) for (const [o, t] of section) size += o.length + t.length;
  let truncated = parts.tc === true;
  if (size > maxBytes) {
    truncated = true;
    size = HEADER_BYTES + questionBytes + optBytes;
    for (const section of sections) section.length = 0;
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  const extended = parts.rcode >> 4;
  let flags = FLAG.QR | ((parts.opcode & 0xf) << 11) | (parts.rcode & 0xf);
  if (parts.aa) flags |= FLAG.AA;
  if (truncated) flags |= FLAG.TC;
  if (parts.rd) flags |= FLAG.RD;
  if (parts.ra) flags |= FLAG.RA;
  if (parts.cd) flags |= FLAG.CD;
  view.setUint16(0, parts.id);
  view.setUint16(2, flags);
  view.setUint16(4, questionWire ? 1 : 0);
  view.setUint16(6, sections[0]!.length);
  view.setUint16(8, sections[1]!.length);
  view.setUint16(10, sections[2]!.length + (parts.edns ? 1 : 0));
  let pos = HEADER_BYTES;
  if (questionWire) {
    out.set(questionWire, pos);
    pos += questionWire.length;
    view.setUint16(pos, parts.question!.type);
    view.setUint16(pos + 2, parts.question!.class);
    pos += 4;
  }
  for (const section of sections) {
    for (const [o, t] of section) {
      out.set(o, pos);
      pos += o.length;
      out.set(t, pos);
      pos += t.length;
    }
  }
  if (parts.edns) {
    out[pos] = 0; // root
    view.setUint16(pos + 1, TYPE.OPT);
    view.setUint16(pos + 3, parts.edns.udpSize);
    out[pos + 5] = extended;
    out[pos + 6] = 0; // version
    view.setUint16(pos + 7, 0); // flags (DO is not echoed: we sign nothing)
    view.setUint16(pos + 9, 0); // no options
  }
  return out;
}

/** The id of a message that has at least two bytes, else 0. */
export function messageId(buf: Uint8Array): number {
  return buf.length >= 2 ? u16(buf, 0) : 0;
}
