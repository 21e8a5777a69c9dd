// Requests per second per client address: a token bucket per IPv4 address or IPv6 /64 (one host
// usually holds a whole /64). What happens past it is the caller's: the DNS front end drops a UDP
// query without an answer (no reflection, no amplification) and answers a stream query REFUSED; the
// pkarr relay answers a PUT 429. The table is bounded: the least recently seen address goes first
// when it is full, so a flood from spoofed addresses costs memory once.
import { isIPv6 } from 'node:net';

export interface RateLimitOptions {
  /** Tokens added per second (sustained queries per second); 0 turns the limiter off. */
  perSecond: number;
  /** Bucket size (queries allowed at once). */
  burst: number;
  /** Addresses tracked at once (default 65,536). */
  maxEntries?: number;
  /** Milliseconds, monotonic (tests pass their own). */
  now?: () => number;
}

/** The key an address is counted under: IPv4 as is, IPv6 by its /64. */
export function rateKey(address: string): string {
  const host = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
  if (!isIPv6(host)) return host;
  const [head, tail] = host.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #perMs: number;
  readonly #burst: number;
  readonly #max: number;
  readonly #now: () => number;
  /** Queries refused since the start. */
  limited = 0;

  constructor(options: RateLimitOptions) {
    this.#perMs = options.perSecond / 1000;
    this.#burst = Math.max(1, options.burst);
    this.#max = options.maxEntries ?? 65_536;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Takes one token for `address`; false when its bucket is empty. */
  take(address: string): boolean {
    const key = rateKey(address);
    const now = this.#now();
    let bucket = this.#buckets.get(key);
    if (bucket) {
      this.#buckets.delete(key); // re-inserted below: the map's order is least recently seen first
      bucket.tokens = Math.min(this.#burst, bucket.tokens + (now - bucket.at) * this.#perMs);
      bucket.at = now;
    } else {
      bucket = { tokens: this.#burst, at: now };
      if (this.#buckets.size >= this.#max) this.#buckets.delete(this.#buckets.keys().next().value!);
    }
    this.#buckets.set(key, bucket);
    if (bucket.tokens < 1) {
      this.limited++;
      return false;
    }
    bucket.tokens -= 1;
    return true;
  }

  get size(): number {
    return this.#buckets.size;
  }
}
