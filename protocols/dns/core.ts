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
import { parseQuery, encodeResponse, CLASSIC_UDP_BYTES, CLASS_IN, FLAG, HEADER_BYTES, MAX_MESSAGE_BYTES, messageId, RCODE, TYPE, type Query, type ResponseParts } from './wire.ts';
import { isUnder } from './names.ts';
import { Zone } from './zone.ts';
import { PkarrZoneCache, pkarrKeyOf } from './pkarrZone.ts';
import { RateLimiter } from './rateLimit.ts';
import { Forwarder } from './forward.ts';
import { configZones, DEFAULT_DNS_CONFIG, parseCidr, parseUpstream, type DnsConfig } from './config.ts';

export type DnsTransport = 'udp' | 'tcp' | 'dot' | 'doq' | 'doh';

export interface DnsClient {
  /** The client's IP address (rate limit, forwardFrom). */
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

const RCODE_NAMES = Object.fromEntries(Object.entries(RCODE).map(([k, v]) => [v, k])) as Record<number, string>;

export class DnsCore {
  readonly #zones: Zone[];
  readonly #pkarr: PkarrLookup | undefined;
  readonly #pkarrZones: PkarrZoneCache;
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
  async answer(message: Uint8Array, client: DnsClient): Promise<Uint8Array | null> {
    this.stats.queries++;
    if (this.#limiter && !this.#limiter.take(client.address)) {
      this.stats.limited++;
      if (client.transport === 'udp' || message.length < HEADER_BYTES) return null;
      return this.#respond({ id: messageId(message), opcode: 0, rd: false, aa: false, ra: false, rcode: RCODE.REFUSED, question: null, answers: [], authority: [], additional: [], edns: null }, client, null);
    }
    const parsed = parseQuery(message);
    if (!parsed.ok) {
      if (parsed.drop) {
        this.stats.dropped++;
        return null;
      }
      return this.#respond(
        { id: parsed.id, opcode: parsed.opcode, rd: parsed.rd, aa: false, ra: false, rcode: parsed.rcode, question: parsed.question, answers: [], authority: [], additional: [], edns: parsed.edns ? { udpSize: this.#maxUdpBytes } : null },
        client,
        parsed.edns?.udpSize ?? null,
      );
    }
    const query = parsed.query;
    const mayForward = this.#forwarder !== null && this.#forwardFrom(client.address);
    const base = {
      id: query.id,
      opcode: 0,
      rd: query.rd,
      ra: mayForward,
      cd: query.cd,
      question: query.question,
      additional: [],
      edns: query.edns ? { udpSize: this.#maxUdpBytes } : null,
    };
    const udpSize = query.edns?.udpSize ?? null;
    const { question } = query;
    if (question.type === TYPE.OPT || question.type === TYPE.AXFR || question.type === TYPE.IXFR || (question.type >= 128 && question.type <= 254)) {
      // OPT is no question; zone transfers and the meta types are not served.
      return this.#respond({ ...base, aa: false, rcode: question.type === TYPE.OPT ? RCODE.FORMERR : RCODE.REFUSED, answers: [], authority: [] }, client, udpSize);
    }
    if (question.class !== CLASS_IN) return this.#respond({ ...base, aa: false, rcode: RCODE.REFUSED, answers: [], authority: [] }, client, udpSize);

    const zone = await this.#zoneFor(question.name).catch((err: unknown) => {
      this.#log?.warn({ name: question.name.slice(0, 120), error: err instanceof Error ? err.message : String(err) }, 'dns: pkarr lookup failed');
      return 'failed' as const;
    });
    if (zone === 'failed') return this.#respond({ ...base, aa: false, rcode: RCODE.SERVFAIL, answers: [], authority: [] }, client, udpSize);
    if (zone === 'no packet') {
      // A key nobody has published (here): no name under it exists, the key itself included.
      const soa = this.#pkarrZones.emptyZone(pkarrKeyOf(question.name)!).negativeSoa;
      return this.#respond({ ...base, aa: true, rcode: RCODE.NXDOMAIN, answers: [], authority: [soa] }, client, udpSize);
    }
    if (zone) {
      const found = zone.lookup(question.name, question.type);
      return this.#respond({ ...base, aa: true, rcode: found.rcode, answers: found.answers, authority: found.authority }, client, udpSize);
    }
    if (mayForward && query.rd) return this.#forward(message, query, client, base, udpSize);
    return this.#respond({ ...base, aa: false, rcode: RCODE.REFUSED, answers: [], authority: [] }, client, udpSize);
  }

  /**
   * The zone that answers for `name`: its pkarr key's ('no packet' when none is stored for the key),
   * or the most specific configured one; null when none.
   */
  async #zoneFor(name: string): Promise<Zone | 'no packet' | null> {
    const key = pkarrKeyOf(name);
    if (key !== null && this.#pkarr) {
      const signed = await this.#pkarr(key);
      return signed ? this.#pkarrZones.zoneOf(key, signed) : 'no packet';
    }
    for (const zone of this.#zones) if (isUnder(name, zone.origin)) return zone;
    return null;
  }

  async #forward(message: Uint8Array, query: Query, client: DnsClient, base: Omit<ResponseParts, 'aa' | 'rcode' | 'answers' | 'authority'>, udpSize: number | null): Promise<Uint8Array | null> {
    this.stats.forwarded++;
    const answer = await this.#forwarder!.forward(message, client.transport !== 'udp');
    if (!answer) return this.#respond({ ...base, aa: false, rcode: RCODE.SERVFAIL, answers: [], authority: [] }, client, udpSize);
    const limit = this.#sizeLimit(client, udpSize);
    answer[3] = answer[3]! | (FLAG.RA & 0xff); // recursion is available here, whatever the upstream says
    const rcode = answer[3]! & 0xf;
    this.#count(rcode);
    if (answer.length <= limit) return answer;
    // Too big for this UDP client: the header and question only, TC set, so it asks again over TCP.
    const flags = (answer[2]! << 8) | answer[3]!;
    return encodeResponse({ ...base, aa: (flags & FLAG.AA) !== 0, ra: (flags & FLAG.RA) !== 0, rcode, answers: [], authority: [], tc: true }, limit);
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
