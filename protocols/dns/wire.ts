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
import { labelKey, MAX_LABEL_BYTES, MAX_NAME_BYTES, nameLabels } from './names.ts';

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
  /** The name as it came, uncompressed wire form (length-prefixed labels, case kept, final zero). */
  wire: Uint8Array;
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

/** A name read from a message: its key, its uncompressed wire form and where the bytes after it start. */
interface ReadName {
  key: string;
  wire: Uint8Array;
  /** Labels in it (0 for the root). */
  labels: number;
  next: number;
}

/** The key of the label at buf[start, start+len): a latin1 slice when it needs no escape (the usual case). */
function rangeKey(buf: Uint8Array, start: number, len: number): string {
  let upper = false;
  for (let i = start; i < start + len; i++) {
    const b = buf[i]!;
    if (b <= 0x20 || b >= 0x7f || b === 0x2e || b === 0x5c) return labelKey(buf.subarray(start, start + len));
    if (b >= 0x41 && b <= 0x5a) upper = true;
  }
  const text = String.fromCharCode.apply(null, buf.subarray(start, start + len) as unknown as number[]);
  return upper ? text.toLowerCase() : text;
}

/**
 * Reads a possibly compressed name at `offset`. Pointers must point backwards (below the start of
 * the name or label run that holds them) and into the message body (≥ 12), so every jump lands
 * strictly earlier and the walk ends; MAX_POINTER_HOPS bounds it again.
 */
export function readName(buf: Uint8Array, offset: number): ReadName {
  let key = '';
  let labels = 0;
  let wireBytes = 1; // the final zero
  let pos = offset;
  let floor = offset; // a pointer must point below where the current run of labels started
  let next = -1;
  let hops = 0;
  /** Where each label starts: the wire form of a compressed name is put together from them. */
  const starts: number[] = [];
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
    key = labels === 0 ? rangeKey(buf, pos + 1, len) : `${key}.${rangeKey(buf, pos + 1, len)}`;
    labels++;
    starts.push(pos);
    pos += 1 + len;
  }
  let wire: Uint8Array;
  if (hops === 0) wire = buf.subarray(offset, next);
  else {
    wire = new Uint8Array(wireBytes);
    let at = 0;
    for (const p of starts) {
      const n = buf[p]! + 1;
      wire.set(buf.subarray(p, p + n), at);
      at += n;
    }
  }
  return { key, wire, labels, next };
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

function refusal(rcode: number, reason: string, id: number, opcode: number, rd: boolean, question: Question | null, edns: Edns | null): ParseResult {
  return { ok: false, drop: false, rcode, id, opcode, rd, question, edns, reason };
}

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
    refusal(rcode, reason, id, opcode, rd, question, edns);
  if (opcode !== 0) return fail(RCODE.NOTIMP, `opcode ${opcode} is not served (only QUERY)`);
  if (qdcount !== 1) return fail(RCODE.FORMERR, `a query carries exactly one question (QDCOUNT ${qdcount})`);
  if (ancount !== 0 || nscount !== 0) return fail(RCODE.FORMERR, `a query carries no answer or authority records (ANCOUNT ${ancount}, NSCOUNT ${nscount})`);
  if (arcount > MAX_ADDITIONAL) return fail(RCODE.FORMERR, `too many additional records (ARCOUNT ${arcount})`);
  let question: Question;
  let pos: number;
  try {
    const name = readName(buf, HEADER_BYTES);
    if (name.next + 4 > buf.length) throw new WireError('question cut off');
    question = { wire: name.wire, name: name.key, type: u16(buf, name.next), class: u16(buf, name.next + 2) };
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
        if (owner.labels !== 0) throw new WireError('OPT record not owned by the root');
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

/** Owner names already written, per name (the question's own name is written from its wire form). */
const ownerWires = new Map<string, Uint8Array>();

function ownerWire(name: string, question: Question | null): Uint8Array {
  if (question && name === question.name) return question.wire;
  let wire = ownerWires.get(name);
  if (!wire) {
    wire = encodeLabels(nameLabels(name));
    if (ownerWires.size >= 4096) ownerWires.clear();
    ownerWires.set(name, wire);
  }
  return wire;
}

function sectionBytes(rrs: readonly Rr[], question: Question | null): number {
  let n = 0;
  for (const rr of rrs) n += ownerWire(rr.name, question).length + encodeRrTail(rr).length;
  return n;
}

function writeSection(out: Uint8Array, pos: number, rrs: readonly Rr[], question: Question | null): number {
  for (const rr of rrs) {
    const owner = ownerWire(rr.name, question);
    out.set(owner, pos);
    pos += owner.length;
    const tail = encodeRrTail(rr);
    out.set(tail, pos);
    pos += tail.length;
  }
  return pos;
}

const NO_RECORDS: readonly Rr[] = [];

/** Encodes a response; when it exceeds `maxBytes`, the records are left out and TC is set. */
export function encodeResponse(parts: ResponseParts, maxBytes: number): Uint8Array {
  const question = parts.question;
  const optBytes = parts.edns ? 11 : 0;
  const questionBytes = question ? question.wire.length + 4 : 0;
  let answers: readonly Rr[] = parts.answers;
  let authority: readonly Rr[] = parts.authority;
  let additional: readonly Rr[] = parts.additional;
  let size = HEADER_BYTES + questionBytes + optBytes + sectionBytes(answers, question) + sectionBytes(authority, question) + sectionBytes(additional, question);
  let truncated = parts.tc === true;
  if (size > maxBytes) {
    truncated = true;
    size = HEADER_BYTES + questionBytes + optBytes;
    answers = authority = additional = NO_RECORDS;
  }
  const out = new Uint8Array(size);
  let flags = FLAG.QR | ((parts.opcode & 0xf) << 11) | (parts.rcode & 0xf);
  if (parts.aa) flags |= FLAG.AA;
  if (truncated) flags |= FLAG.TC;
  if (parts.rd) flags |= FLAG.RD;
  if (parts.ra) flags |= FLAG.RA;
  if (parts.cd) flags |= FLAG.CD;
  const put16 = (at: number, v: number): void => {
    out[at] = v >> 8;
    out[at + 1] = v & 0xff;
  };
  put16(0, parts.id);
  put16(2, flags);
  put16(4, question ? 1 : 0);
  put16(6, answers.length);
  put16(8, authority.length);
  put16(10, additional.length + (parts.edns ? 1 : 0));
  let pos = HEADER_BYTES;
  if (question) {
    out.set(question.wire, pos);
    pos += question.wire.length;
    put16(pos, question.type);
    put16(pos + 2, question.class);
    pos += 4;
  }
  pos = writeSection(out, pos, answers, question);
  pos = writeSection(out, pos, authority, question);
  pos = writeSection(out, pos, additional, question);
  if (parts.edns) {
    // root owner, type OPT, our UDP size, extended rcode, version 0, no flags (DO is not echoed: we sign nothing), no options
    put16(pos + 1, TYPE.OPT);
    put16(pos + 3, parts.edns.udpSize);
    out[pos + 5] = parts.rcode >> 4;
  }
  return out;
}

/** The id of a message that has at least two bytes, else 0. */
export function messageId(buf: Uint8Array): number {
  return buf.length >= 2 ? u16(buf, 0) : 0;
}
