// Refused logins per remote address in a sliding minute. Past the limit the address is shut out
// until its oldest failure is a minute old, so one client guessing keys or passwords cannot keep
// trying (and logging) at line rate. Bounded: at most `maxAddresses` addresses are tracked; when
// full, the address idle longest is forgotten.
export interface AuthFailureLimits {
  perMinute: number;
  maxAddresses?: number;
  windowMs?: number;
}

export class AuthFailures {
  readonly #byHost = new Map<string, number[]>();
  readonly #perMinute: number;
  readonly #maxAddresses: number;
  readonly #windowMs: number;
  constructor(limits: AuthFailureLimits, private readonly now: () => number = Date.now) {
    this.#perMinute = limits.perMinute;
    this.#maxAddresses = limits.maxAddresses ?? 10_000;
    this.#windowMs = limits.windowMs ?? 60_000;
  }

  #recent(host: string): number[] {
    const since = this.now() - this.#windowMs;
    const list = (this.#byHost.get(host) ?? []).filter((t) => t > since);
    if (list.length === 0) this.#byHost.delete(host);
    else this.#byHost.set(host, list);
    return list;
  }

  /** True while the address has used up its failures for this minute (0 in config = no limit). */
  blocked(host: string): boolean {
    if (this.#perMinute <= 0) return false;
    return this.#recent(host).length >= this.#perMinute;
  }

  /** Counts one refused login; returns how many this address has in the window now. */
  fail(host: string): number {
    const list = this.#recent(host);
    list.push(this.now());
    if (list.length > this.#perMinute + 1) list.splice(0, list.length - this.#perMinute - 1);
    this.#byHost.delete(host); // re-insert: the Map's order is the order of last failure
    this.#byHost.set(host, list);
    while (this.#byHost.size > this.#maxAddresses) this.#byHost.delete(this.#byHost.keys().next().value!);
    return list.length;
  }

  get trackedAddresses(): number {
    return this.#byHost.size;
  }
}
