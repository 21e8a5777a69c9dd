// An authoritative zone in memory and how a name is looked up in it (RFC 1034 4.3.2, without
// delegations): exact match, CNAME chains inside the zone (at most MAX_CNAME_HOPS), wildcards at the
// closest encloser (RFC 4592), NODATA for a name that exists (empty non-terminals included) without
// the type, NXDOMAIN otherwise; negative answers carry the zone's SOA with the negative TTL
// (min of the SOA's TTL and MINIMUM, RFC 2308).
import { isUnder, parentName } from './names.ts';
import { encodeRrTail, RCODE, renamed, TYPE, type Rr } from './wire.ts';
import { ZONE_TYPES, type ZoneText } from './zoneText.ts';

export const MAX_CNAME_HOPS = 8;

const EMPTY: ReadonlyMap<number, Rr[]> = new Map();

export interface SoaData {
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}

export interface ZoneAnswer {
  rcode: typeof RCODE.NOERROR | typeof RCODE.NXDOMAIN;
  answers: Rr[];
  authority: Rr[];
}

/** Defaults of a SOA made for a zone that has none (config zones without an SOA line, pkarr zones). */
export const DEFAULT_SOA_TIMERS = { refresh: 3600, retry: 600, expire: 604_800, minimum: 300 } as const;

export class Zone {
  readonly origin: string;
  readonly soa: Rr;
  /** name → type → records. */
  readonly #records = new Map<string, Map<number, Rr[]>>();
  /** Every name that exists: owners and the empty non-terminals between them and the origin. */
  readonly #exists = new Set<string>();
  readonly #negative: Rr;

  /**
   * `records`: the zone's records (each is encoded once here, so data dns-packet cannot write is
   * refused now, not when answering). `soa`: used when the records have none.
   */
  constructor(origin: string, records: readonly Rr[], soa: { ttl: number; data: SoaData }) {
    this.origin = origin;
    let ownSoa: Rr | null = null;
    this.#exists.add(origin);
    for (const rr of records) {
      if (!isUnder(rr.name, origin)) throw new Error(`${rr.name} is outside the zone ${origin}`);
      encodeRrTail(rr);
      if (rr.type === TYPE.SOA) {
        if (rr.name === origin) ownSoa = rr;
        continue;
      }
      let byType = this.#records.get(rr.name);
      if (!byType) this.#records.set(rr.name, (byType = new Map()));
      const list = byType.get(rr.type);
      if (list) list.push(rr);
      else byType.set(rr.type, [rr]);
      for (let n: string | null = rr.name; n !== null && n !== origin && !this.#exists.has(n); n = parentName(n)) this.#exists.add(n);
    }
    this.soa = ownSoa ?? { name: origin, type: TYPE.SOA, ttl: soa.ttl, data: soa.data };
    encodeRrTail(this.soa);
    const minimum = (this.soa.data as SoaData).minimum;
    this.#negative = { ...this.soa, ttl: Math.min(this.soa.ttl, minimum) };
  }

  static fromText(zone: ZoneText): Zone {
    const rrs: Rr[] = zone.records.map((r) => ({ name: r.name, type: ZONE_TYPES[r.type], ttl: r.ttl, data: r.data }));
    const soa = { ttl: zone.ttl, data: { mname: zone.origin || '.', rname: zone.origin ? `hostmaster.${zone.origin}` : 'hostmaster', serial: 1, ...DEFAULT_SOA_TIMERS } };
    return new Zone(zone.origin, rrs, soa);
  }

  /** The SOA as a negative answer carries it (TTL: min of its TTL and MINIMUM). */
  get negativeSoa(): Rr {
    return this.#negative;
  }

  contains(name: string): boolean {
    return isUnder(name, this.origin);
  }

  /** How many records the zone holds (its SOA included). */
  get size(): number {
    let n = 1;
    for (const byType of this.#records.values()) for (const list of byType.values()) n += list.length;
    return n;
  }

  /** The records of `name` (a key in this zone) for `type` (TYPE.ANY: all of them). */
  lookup(name: string, type: number): ZoneAnswer {
    const answers: Rr[] = [];
    let current = name;
    for (let hop = 0; hop <= MAX_CNAME_HOPS; hop++) {
      let byType = this.#records.get(current) ?? (current === this.origin ? EMPTY : undefined);
      const owner = current;
      if (!byType) {
        if (this.#exists.has(current)) return this.#negativeAnswer(answers, RCODE.NOERROR);
        byType = this.#wildcard(current);
        if (!byType) return this.#negativeAnswer(answers, RCODE.NXDOMAIN);
      }
      const own = (rrs: readonly Rr[]): Rr[] => rrs.map((rr) => (rr.name === owner ? rr : renamed(rr, owner)));
      if (type === TYPE.SOA && current === this.origin) return { rcode: RCODE.NOERROR, answers: [...answers, this.soa], authority: [] };
      if (type === TYPE.ANY) {
        const all = [...byType.values()].flat();
        if (current === this.origin) all.unshift(this.soa);
        return { rcode: RCODE.NOERROR, answers: [...answers, ...own(all)], authority: [] };
      }
      const exact = byType.get(type);
      if (exact) return { rcode: RCODE.NOERROR, answers: [...answers, ...own(exact)], authority: [] };
      const cname = byType.get(TYPE.CNAME);
      if (!cname || type === TYPE.CNAME) return this.#negativeAnswer(answers, RCODE.NOERROR);
      answers.push(...own(cname.slice(0, 1)));
      const target = String(cname[0]!.data).toLowerCase().replace(/\.$/, '');
      if (!this.contains(target) || target === current) return { rcode: RCODE.NOERROR, answers, authority: [] };
      current = target;
    }
    // A chain longer than MAX_CNAME_HOPS: what was followed so far.
    return { rcode: RCODE.NOERROR, answers, authority: [] };
  }

  /** The records of `*.<closest encloser>`, when the closest encloser of `name` has a wildcard. */
  #wildcard(name: string): ReadonlyMap<number, Rr[]> | undefined {
    for (let n = parentName(name); n !== null; n = parentName(n)) {
      if (this.#exists.has(n)) return this.#records.get(n === '' ? '*' : `*.${n}`);
      if (n === this.origin) return undefined;
    }
    return undefined;
  }

  #negativeAnswer(answers: Rr[], rcode: ZoneAnswer['rcode']): ZoneAnswer {
    // After a CNAME the rcode is the last name's (RFC 6604); NXDOMAIN only ever comes from a lookup.
    return { rcode, answers, authority: [this.#negative] };
  }
}
