// Signed packets in the BitTorrent Mainline DHT as BEP44 mutable items, the way pkarr puts them
// (design/base.md "Publishing and resolving"): k = the Ed25519 public key, no salt, seq = the
// timestamp (µs), v = the DNS packet, sig = the packet's signature — the signature already covers
// `3:seqi<seq>e1:v<len>:<v>`, which is exactly what BEP44 signs, so a packet goes into the DHT
// unchanged and comes out as the same bytes. Through bittorrent-dht (a DHT node of our own, on UDP).
//
// Bootstrap is always explicit: an empty list means none (a first node of a private DHT), never
// bittorrent-dht's built-in public routers. A deployment on the public DHT lists them in config.toml
// ([pkarr] dhtBootstrap, docs/pkarr.md).
import DHT from 'bittorrent-dht';
import { createHash } from 'node:crypto';
import { encodeSignedPacket, verifySignature, verifySignedPacket, MAX_DNS_PACKET_BYTES, type SignedPacket } from '../../lib/pkarr/signedPacket.ts';
import { parseHostPort } from '../../lib/pkarr/records.ts';

export interface PkarrDhtOptions {
  /** UDP host:port of our DHT node (port 0: any free one). */
  listen: string;
  /** host:port of nodes to join through; [] for none. */
  bootstrap: readonly string[];
  /** Mutable items our DHT node keeps for others (default 1000). */
  maxValues?: number;
  /** How long start() waits for the bootstrap round, ms (default 5000). */
  readyTimeoutMs?: number;
  /** How long one DHT query waits for its answer, ms (default 2000, bittorrent-dht's). */
  queryTimeoutMs?: number;
}

export class PkarrDht {
  readonly #dht: DHT;
  #destroyed = false;

  private constructor(dht: DHT) {
    this.#dht = dht;
  }

  /** Listens, then joins through the bootstrap nodes (bounded by readyTimeoutMs). */
  static async start(opts: PkarrDhtOptions): Promise<PkarrDht> {
    const { host, port } = parseListenAddress(opts.listen);
    const bootstrap = opts.bootstrap.map((b) => {
      const hp = parseHostPort(b);
      return `${hp.host}:${hp.port}`;
    });
    const dht = new DHT({
      bootstrap: bootstrap.length === 0 ? false : bootstrap,
      verify: (sig: Uint8Array, message: Uint8Array, key: Uint8Array) => verifySignature(sig, message, key),
      maxValues: opts.maxValues ?? 1000,
      ...(opts.queryTimeoutMs ? { timeout: opts.queryTimeoutMs } : {}),
      // bittorrent-dht rejects BEP44 values of 1000 bytes and more on put; pkarr allows 1000.
    });
    const self = new PkarrDht(dht);
    dht.on('error', () => {}); // socket errors surface as failed queries
    dht.on('warning', () => {});
    try {
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error) => reject(new Error(`DHT cannot listen on ${opts.listen}: ${err.message}`));
        dht.once('error', onError);
        dht.listen(port, host, () => {
          dht.off('error', onError);
          resolve();
        });
      });
      await new Promise<void>((resolve) => {
        if (dht.ready) return resolve();
        const timer = setTimeout(resolve, opts.readyTimeoutMs ?? 5000);
        dht.once('ready', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    } catch (err) {
      self.destroy();
      throw err;
    }
    return self;
  }

  /** host:port of our DHT socket. */
  address(): string {
    const a = this.#dht.address();
    return a.family === 'IPv6' || a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  }

  /** The nodes k-rpc would bootstrap from (its own list, not ours): empty unless configured. */
  bootstrapList(): string[] {
    const rpc = (this.#dht as unknown as { _rpc?: { bootstrap?: { host?: string; address?: string; port: number }[] } })._rpc;
    return (rpc?.bootstrap ?? []).map((n) => `${n.host ?? n.address}:${n.port}`);
  }

  /** Nodes in our routing table. */
  nodeCount(): number {
    return this.#dht.toJSON().nodes.length;
  }

  addNode(hostPort: string): void {
    const { host, port } = parseHostPort(hostPort);
    this.#dht.addNode({ host, port });
  }

  /** Puts a verified packet; resolves with how many DHT nodes stored it (rejects when none did). */
  put(publicKey: Uint8Array, packet: SignedPacket): Promise<number> {
    if (packet.dnsPacket.length >= MAX_DNS_PACKET_BYTES) {
      return Promise.reject(new Error(`bittorrent-dht puts values under ${MAX_DNS_PACKET_BYTES} bytes; this DNS packet has ${packet.dnsPacket.length}`));
    }
    return new Promise((resolve, reject) => {
      if (this.#destroyed) return reject(new Error('the DHT node is stopped'));
      this.#dht.put(
        { k: Buffer.from(publicKey), v: Buffer.from(packet.dnsPacket), seq: packet.timestamp, sig: Buffer.from(packet.signature) },
        (err: (Error & { code?: number }) | null, _key: Buffer, n: number) => {
          if (err) {
            const older = err.code === 302 || /sequence number less than current/.test(err.message);
            reject(Object.assign(new Error(older ? 'the DHT holds a newer packet for this key' : `DHT put failed: ${err.message}`), { older }));
          } else resolve(n);
        },
      );
    });
  }

  /**
   * The newest packet the DHT holds for a key, verified (signature and DNS structure), as relay bytes
   * (signature ‖ timestamp ‖ DNS packet), or null when no node has one.
   */
  get(publicKey: Uint8Array): Promise<Uint8Array | null> {
    const target = createHash('sha1').update(publicKey).digest();
    return new Promise((resolve, reject) => {
      if (this.#destroyed) return reject(new Error('the DHT node is stopped'));
      // cache: false asks the network even when our own node holds a value for the key.
      this.#dht.get(target, { cache: false }, (err: Error | null, res: { v?: Buffer; seq?: number; sig?: Buffer; k?: Buffer } | null) => {
        if (err) return reject(new Error(`DHT get failed: ${err.message}`));
        if (!res || !res.v || !res.sig || typeof res.seq !== 'number' || !res.k || !Buffer.from(res.k).equals(Buffer.from(publicKey))) return resolve(null);
        try {
          const bytes = encodeSignedPacket(res.sig, res.seq, res.v);
          verifySignedPacket(publicKey, bytes);
          resolve(bytes);
        } catch {
          resolve(null); // a value that is not a valid pkarr packet
        }
      });
    });
  }

  destroy(): Promise<void> {
    if (this.#destroyed) return Promise.resolve();
    this.#destroyed = true;
    return new Promise((resolve) => this.#dht.destroy(() => resolve()));
  }
}

function parseListenAddress(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s\[\]]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`DHT listen address "${text.slice(0, 80)}" must be HOST:PORT (port 0 picks a free one)`);
  return { host: (m[1] ?? m[2])!, port };
}
