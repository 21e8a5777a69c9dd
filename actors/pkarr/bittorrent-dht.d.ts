// The part of bittorrent-dht (no published types) that actors/pkarr/dht.ts uses.
declare module 'bittorrent-dht' {
  import { EventEmitter } from 'node:events';

  interface DhtOptions {
    /** false: none; an array of "host:port": these only. Omitted: the public routers (never used here). */
    bootstrap: false | string[];
    verify?: (sig: Uint8Array, message: Uint8Array, publicKey: Uint8Array) => boolean;
    maxValues?: number;
    host?: string;
    /** k-rpc's per-query timeout, ms. */
    timeout?: number;
  }

  interface MutablePut {
    k: Buffer;
    v: Buffer;
    seq: number;
    sig: Buffer;
    cas?: number;
    salt?: Buffer;
  }

  interface GetResult {
    v?: Buffer;
    seq?: number;
    sig?: Buffer;
    k?: Buffer;
  }

  export default class DHT extends EventEmitter {
    constructor(opts: DhtOptions);
    ready: boolean;
    listen(port: number, host: string, cb?: () => void): void;
    address(): { address: string; family: string; port: number };
    addNode(node: { host: string; port: number }): void;
    put(opts: MutablePut, cb: (err: (Error & { code?: number }) | null, key: Buffer, n: number) => void): Buffer;
    get(target: Buffer, opts: { cache?: boolean }, cb: (err: Error | null, res: GetResult | null) => void): void;
    toJSON(): { nodes: { host: string; port: number }[]; values: Record<string, unknown> };
    destroy(cb?: () => void): void;
  }
}
