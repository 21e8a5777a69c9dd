// The DNS answering core: one query message in, one response message out (or nothing: a dropped
// query). Every transport feeds it — plain UDP and TCP (server.ts), DoT and DoQ (protocol.ts), DoH
// (doh.ts) — so they answer alike. It holds no socket; it reaches the pkarr service only through the
// `pkarr` function it is given (a bus request, made by whoever builds the core).
//
// Where an answer comes from, in order:
//   1. a name whose last label is a z-base-32 key (`<z32>`, `*.<z32>`): the records of the signed
//      packet stored for that key (pkarr.get); no packet → NXDOMAIN with the key's SOA;
//   2. the most specific configured zone ([[dns.zones]]) that holds the name;
//   3. forwarding to the upstreams, for a client allowed to use it (forwardFrom) that asked for recursion;
//   4. otherwise REFUSED (we are not authoritative and do not recurse for this client).
// Bad input is answered FORMERR/NOTIMP/BADVERS (wire.ts says when), or dropped when there is no
// header to answer. A client over its rate is dropped over UDP and answered REFUSED over a stream.
import { parseQuery, encodeResponse, CLASSIC_UDP_BYTES, CLASS_IN, FLAG, HEADER_BYTES, MAX_MESSAGE_BYTES, messageId, RCODE, TYPE, type Query, type ResponseParts, type Rr } from './wire.ts';
import { isUnder } from './names.ts';
import { Zone } from './zone.ts';
import { PkarrZoneCache, pkarrKeyOf } from './pkarrZone.ts';
import { RateLimiter } from '../../lib/rateLimit.ts';
import { Forwarder } from './forward.ts';
import { configZones, DEFAULT_DNS_CONFIG, parseCidr, parseUpstream, type DnsConfig } from './config.ts';

export type DnsTransport = 'udp' | 'tcp' | 'dot' | 'doq' | 'doh';

export interface DnsClient {
  /** The client's IP address (rate limit, forwardFrom); '' when the transport does not say (no rate limit then). */
  address: string;
  transport: DnsTransport;
}

export interface DnsLog {
  warn(obj: object, msg?: string): void;
}

/** The stored signed packet for a key (signature ‖ timestamp ‖ DNS packet), or null; rejects when the store cannot answer. */
export type PkarrLookup = (publicKey: string) => Promise<Uint8Array | null>;

export interface DnsCoreOptions {
  zones?: readonly Zone[];
  pkarr?: PkarrLookup;
  /** Forwarding (null: off). */
  forwarder?: Forwarder | null;
  /** Who may use forwarding. */
  forwardFrom?: (address: string) => boolean;
  /** null: no rate limit. */
  limiter?: RateLimiter | null;
  maxUdpBytes?: number;
  negativeTtl?: number;
  log?: DnsLog;
}

export interface DnsStats {
  queries: number;
  dropped: number;
  limited: number;
  forwarded: number;
  /** Responses by rcode name. */
  rcodes: Record<string, number>;
}

const NONE: Rr[] = [];
const RCODE_NAMES = Object.fromEntries(Object.entries(RCODE).map(([k, v]) => [v, k])) as Record<number, string>;

export class DnsCore {
  readonly #zones: Zone[];
  readonly #pkarr: PkarrLookup | undefined;
  readonly #pkarrZones: PkarrZoneCache;
  readonly #pkarrInFlight = new Map<string, Promise<Uint8Array | null>>();
  readonly #forwarder: Forwarder | null;
  readonly #forwardFrom: (address: string) => boolean;
  readonly #limiter: RateLimiter | null;
  readonly #maxUdpBytes: number;
  readonly #log: DnsLog | undefined;
  readonly stats: DnsStats = { queries: 0, dropped: 0, limited: 0, forwarded: 0, rcodes: {} };

  constructor(options: DnsCoreOptions) {
    // Most specific origin first, so a zone's sub-zone wins.
    this.#zones = [...(options.zones ?? [])].sort((a, b) => b.origin.length - a.origin.length);
    this.#pkarr = options.pkarr;
    this.#pkarrZones = new PkarrZoneCache(4096, options.negativeTtl ?? DEFAULT_DNS_CONFIG.negativeTtl);
    this.#forwarder = options.forwarder ?? null;
    this.#forwardFrom = options.forwardFrom ?? (() => false);
    this.#limiter = options.limiter ?? null;
    this.#maxUdpBytes = Math.max(CLASSIC_UDP_BYTES, Math.min(options.maxUdpBytes ?? DEFAULT_DNS_CONFIG.maxUdpBytes, MAX_MESSAGE_BYTES));
    this.#log = options.log;
  }

  /** The response to `message` from `client`, or null when nothing is to be sent back. */
  answer(message: Uint8Array, client: DnsClient): Promise<Uint8Array | null> {
    const now = this.#answerNow(message, client);
    return now instanceof Promise ? now : Promise.resolve(now);
  }

  /** Answers at once, except for pkarr names (a lookup by message) and forwarding. */
  #answerNow(message: Uint8Array, client: DnsClient): Uint8Array | null | Promise<Uint8Array | null> {
    this.stats.queries++;
    if (this.#limiter && client.address !== '' && !this.#limiter.take(client.address)) {
      this.stats.limited++;
      if (client.transport === 'udp' || message.length < HEADER_BYTES) return null;
      return this.#respond({ id: messageId(message), opcode: 0, rd: false, aa: false, ra: false, rcode: RCODE.REFUSED, question: null, answers: NONE, authority: NONE, additional: NONE, edns: null }, client, null);
    }
    const parsed = parseQuery(message);
    if (!parsed.ok) {
      if (parsed.drop) {
        this.stats.dropped++;
        return null;
      }
      return this.#respond(
        { id: parsed.id, opcode: parsed.opcode, rd: parsed.rd, aa: false, ra: false, rcode: parsed.rcode, question: parsed.question, answers: NONE, authority: NONE, additional: NONE, edns: parsed.edns ? { udpSize: this.#maxUdpBytes } : null },
        client,
        parsed.edns?.udpSize ?? null,
      );
    }
    const query = parsed.query;
    const { question } = query;
    if (question.type === TYPE.OPT || question.type === TYPE.AXFR || question.type === TYPE.IXFR || (question.type >= 128 && question.type <= 254)) {
      // OPT is no question; zone transfers and the meta types are not served.
      return this.#reply(query, client, false, question.type === TYPE.OPT ? RCODE.FORMERR : RCODE.REFUSED);
    }
    if (question.class !== CLASS_IN) return this.#reply(query, client, false, RCODE.REFUSED);
    const key = pkarrKeyOf(question.name);
    if (key !== null && this.#pkarr) return this.#answerPkarr(query, client, key);
    // The most specific configured zone that holds the name.
    for (const zone of this.#zones) {
      if (isUnder(question.name, zone.origin)) {
        const found = zone.lookup(question.name, question.type);
        return this.#reply(query, client, true, found.rcode, found.answers, found.authority);
      }
    }
    if (query.rd && this.#mayForward(client)) return this.#forward(message, query, client);
    return this.#reply(query, client, false, RCODE.REFUSED);
  }

  #mayForward(client: DnsClient): boolean {
    return this.#forwarder !== null && this.#forwardFrom(client.address);
  }

  /** A response to a parsed query: its header bits, question and EDNS answered in kind. */
  #reply(query: Query, client: DnsClient, aa: boolean, rcode: number, answers: Rr[] = NONE, authority: Rr[] = NONE): Uint8Array {
    return this.#respond(
      { id: query.id, opcode: 0, rd: query.rd, ra: this.#mayForward(client), cd: query.cd, aa, rcode, question: query.question, answers, authority, additional: NONE, edns: query.edns ? { udpSize: this.#maxUdpBytes } : null },
      client,
      query.edns?.udpSize ?? null,
    );
  }

  /** `<z32>` and names under it: the records of the packet stored for the key. */
  async #answerPkarr(query: Query, client: DnsClient, key: string): Promise<Uint8Array> {
    let signed: Uint8Array | null;
    try {
      signed = await this.#lookupPkarr(key);
    } catch (err) {
      this.#log?.warn({ name: query.question.name.slice(0, 120), error: err instanceof Error ? err.message : String(err) }, 'dns: pkarr lookup failed');
      return this.#reply(query, client, false, RCODE.SERVFAIL);
    }
    if (!signed) {
      // A key nobody has published (here): no name under it exists, the key itself included.
      return this.#reply(query, client, true, RCODE.NXDOMAIN, NONE, [this.#pkarrZones.emptyZone(key).negativeSoa]);
    }
    const found = this.#pkarrZones.zoneOf(key, signed).lookup(query.question.name, query.question.type);
    return this.#reply(query, client, true, found.rcode, found.answers, found.authority);
  }

  /**
   * One pkarr.get per key at a time: queries for a key whose lookup is in flight share its answer
   * (under load most queries for a popular key do). Nothing is kept after it settles, so a newly
   * stored packet is answered from the next query on.
   */
  #lookupPkarr(key: string): Promise<Uint8Array | null> {
    let pending = this.#pkarrInFlight.get(key);
    if (!pending) {
      pending = this.#pkarr!(key).finally(() => this.#pkarrInFlight.delete(key));
      this.#pkarrInFlight.set(key, pending);
    }
    return pending;
  }

  async #forward(message: Uint8Array, query: Query, client: DnsClient): Promise<Uint8Array | null> {
    this.stats.forwarded++;
    const answer = await this.#forwarder!.forward(message, client.transport !== 'udp');
    if (!answer) return this.#reply(query, client, false, RCODE.SERVFAIL);
    const limit = this.#sizeLimit(client, query.edns?.udpSize ?? null);
    answer[3] = answer[3]! | (FLAG.RA & 0xff); // recursion is available here, whatever the upstream says
    const rcode = answer[3]! & 0xf;
    this.#count(rcode);
    if (answer.length <= limit) return answer;
    // Too big for this UDP client: the header and question only, TC set, so it asks again over TCP.
    const flags = (answer[2]! << 8) | answer[3]!;
    return encodeResponse(
      { id: query.id, opcode: 0, rd: query.rd, cd: query.cd, aa: (flags & FLAG.AA) !== 0, ra: true, rcode, question: query.question, answers: NONE, authority: NONE, additional: NONE, edns: query.edns ? { udpSize: this.#maxUdpBytes } : null, tc: true },
      limit,
    );
  }

  #sizeLimit(client: DnsClient, udpSize: number | null): number {
    if (client.transport !== 'udp') return MAX_MESSAGE_BYTES;
    return udpSize === null ? CLASSIC_UDP_BYTES : Math.min(udpSize, this.#maxUdpBytes);
  }

  #count(rcode: number): void {
    const name = RCODE_NAMES[rcode] ?? String(rcode);
    this.stats.rcodes[name] = (this.stats.rcodes[name] ?? 0) + 1;
  }

  #respond(parts: ResponseParts, client: DnsClient, udpSize: number | null): Uint8Array {
    this.#count(parts.rcode);
    try {
      return encodeResponse(parts, this.#sizeLimit(client, udpSize));
    } catch (err) {
      // A record that cannot be written (a bug of ours: records are encoded when a zone is made).
      this.#log?.warn({ error: err instanceof Error ? err.message : String(err) }, 'dns: response could not be encoded');
      return encodeResponse({ ...parts, aa: false, rcode: RCODE.SERVFAIL, answers: [], authority: [], additional: [] }, CLASSIC_UDP_BYTES);
    }
  }

  close(): void {
    this.#forwarder?.close();
  }
}

/** A core for a node's [dns] config; `pkarr` is how it asks for stored packets. */
export function dnsCoreFromConfig(config: DnsConfig, pkarr: PkarrLookup | undefined, log?: DnsLog): DnsCore {
  const zones = configZones(config).map((z) => Zone.fromText(z));
  const allow = config.forwardFrom.map(parseCidr);
  return new DnsCore({
    zones,
    ...(pkarr ? { pkarr } : {}),
    forwarder: config.upstreams.length > 0 ? new Forwarder(config.upstreams.map(parseUpstream)) : null,
    forwardFrom: (address) => allow.some((test) => test(address)),
    limiter: config.rateLimit > 0 ? new RateLimiter({ perSecond: config.rateLimit, burst: Math.max(config.rateBurst, 1) }) : null,
    maxUdpBytes: config.maxUdpBytes,
    negativeTtl: config.negativeTtl,
    ...(log ? { log } : {}),
  });
}
