// What the pkarr actor does for each message (machine.ts owns the lifecycle): the store of signed
// packets (store.ts), the DHT node (dht.ts) and the relay client (relayClient.ts). Plain promises;
// every answer is data. The node's key never comes here: its packet is signed by `vault.sign` over
// the BEP44 signable bytes.
import os from 'node:os';
import { isIP } from 'node:net';
import type { Bus } from '../../bus/bus.ts';
import type { ReplyOf, RequestOf } from '../../bus/catalogue.ts';
import { BusError } from '../../bus/errors.ts';
import { VAULT_SYSTEM_ID } from '../vault/messages.ts';
import { publicKeyFromNodeId } from '../../lib/nodeId.ts';
import {
  decodeSignedPacket, encodeSignedPacket, nowMicros, signableBytes, SignedPacketError, verifySignedPacket, type SignedPacket,
} from '../../lib/pkarr/signedPacket.ts';
import { buildNodeDnsPacket, formatHostPort, MAX_PUBLISHED_ADDRESSES, parseHostPort, type HostPort } from '../../lib/pkarr/records.ts';
import type { PkarrStore } from './store.ts';
import type { PkarrDht } from './dht.ts';
import { checkRelay, relayGet, relayPut, type RelayClientOptions } from './relayClient.ts';

export interface PkarrServiceOptions {
  store: PkarrStore;
  dht: PkarrDht | null;
  bus: Pick<Bus, 'request'>;
  /** Configured relays (config [pkarr] relays). */
  relays: readonly string[];
  /** The addresses publishSelf publishes by default (config [pkarr] addresses, else the listen address). */
  selfAddresses: () => readonly string[];
  relayClient?: RelayClientOptions;
  log?: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
}

type Source = ReplyOf<'pkarr.resolve'>['source'];

export class PkarrService {
  readonly #o: PkarrServiceOptions;
  #self: { nodeId: string; publicKey: Uint8Array } | null = null;
  /** Serializes publishSelf: two at once would race for the timestamp. */
  #publishing: Promise<unknown> = Promise.resolve();

  constructor(options: PkarrServiceOptions) {
    this.#o = options;
  }

  async put(req: RequestOf<'pkarr.put'>): Promise<ReplyOf<'pkarr.put'>> {
    let packet: SignedPacket;
    try {
      packet = verifySignedPacket(req.publicKey, req.packet);
    } catch (err) {
      if (err instanceof SignedPacketError) return { stored: false, refused: 'invalid', reason: err.message };
      throw err;
    }
    // Copied: the bytes may be a view into a request buffer that is reused.
    const own = decodeSignedPacket(new Uint8Array(packet.bytes));
    const { outcome, evicted } = await this.#o.store.put(req.publicKey, own, req.ifUnmodifiedSince === undefined ? {} : { ifUnmodifiedSince: req.ifUnmodifiedSince });
    if (evicted > 0) this.#o.log?.info({ evicted }, 'pkarr store full: evicted the least recently stored records');
    switch (outcome) {
      case 'stored':
      case 'same': {
        const reply: ReplyOf<'pkarr.put'> = { stored: outcome === 'stored' };
        if (req.publish && this.#o.dht) {
          reply.dhtNodes = await this.#o.dht.put(publicKeyFromNodeId(req.publicKey), own).catch((err: Error) => {
            this.#o.log?.info({ key: req.publicKey, error: err.message }, 'pkarr: relayed packet not stored in the DHT');
            return 0;
          });
        }
        return reply;
      }
      case 'older':
        return { stored: false, refused: 'older', reason: 'a newer packet (or another with the same timestamp) is stored for this key' };
      case 'precondition':
        return { stored: false, refused: 'precondition', reason: 'the stored packet is newer than If-Unmodified-Since' };
    }
  }

  get(req: RequestOf<'pkarr.get'>): ReplyOf<'pkarr.get'> {
    const record = this.#o.store.get(req.publicKey);
    return { packet: record ? record.packet.bytes : null };
  }

  stats(): ReplyOf<'pkarr.stats'> {
    return { records: this.#o.store.count(), maxRecords: this.#o.store.maxRecords, dht: this.#o.dht?.address() ?? null };
  }

  /**
   * The local store first (unless `fresh`), then the DHT and the relays at once: the newest valid
   * packet wins and is stored, so the next resolve is local.
   */
  async resolve(req: RequestOf<'pkarr.resolve'>, signal?: AbortSignal): Promise<ReplyOf<'pkarr.resolve'>> {
    const local = this.#o.store.get(req.publicKey);
    if (local && !req.fresh) return { packet: local.packet.bytes, source: 'local' };
    if (req.localOnly) return { packet: local?.packet.bytes ?? null, source: local ? 'local' : null };
    const relays = this.#relaysOf(req.relays);
    const found = await resolveFromNetwork(req.publicKey, { dht: this.#o.dht, relays, relayClient: this.#o.relayClient ?? {}, ...(signal ? { signal } : {}) });
    let best: { packet: SignedPacket; source: Source } | null = local ? { packet: local.packet, source: 'local' } : null;
    if (found && (!best || found.packet.timestamp > best.packet.timestamp)) best = found;
    if (!best) return { packet: null, source: null };
    if (best.source !== 'local') await this.#o.store.put(req.publicKey, best.packet).catch(() => {});
    return { packet: best.packet.bytes, source: best.source };
  }

  /** The relays a request names (else the configured ones), each checked; INVALID_INPUT names a bad one. */
  #relaysOf(named: readonly string[] | undefined): readonly string[] {
    const relays = named ?? this.#o.relays;
    for (const r of relays) {
      try {
        checkRelay(r);
      } catch (err) {
        throw new BusError('INVALID_INPUT', (err as Error).message);
      }
    }
    return relays;
  }

  /** Builds, signs (vault.sign), stores and publishes the node's own packet. */
  publishSelf(req: RequestOf<'pkarr.publishSelf'>): Promise<ReplyOf<'pkarr.publishSelf'>> {
    const run = this.#publishing.catch(() => {}).then(() => this.#publishSelf(req));
    this.#publishing = run;
    return run;
  }

  async #publishSelf(req: RequestOf<'pkarr.publishSelf'>): Promise<ReplyOf<'pkarr.publishSelf'>> {
    const self = await this.#learnSelf();
    let addresses: HostPort[];
    try {
      addresses = expandAddresses((req.addresses ?? this.#o.selfAddresses()).map(parseHostPort));
    } catch (err) {
      throw new BusError('INVALID_INPUT', (err as Error).message);
    }
    if (addresses.length === 0) throw new BusError('INVALID_INPUT', 'no address to publish: give one (HOST:PORT)');
    const relays = this.#relaysOf(req.relays);
    const dns = buildNodeDnsPacket(self.nodeId, addresses.slice(0, MAX_PUBLISHED_ADDRESSES));
    // Strictly newer than what is stored for us, even within one millisecond.
    const stored = this.#o.store.get(self.nodeId);
    const timestamp = Math.max(nowMicros(), (stored?.packet.timestamp ?? 0) + 1);
    const { signature } = await this.#o.bus.request(VAULT_SYSTEM_ID, 'vault.sign', { data: signableBytes(timestamp, dns) }, { deadlineMs: 30_000 });
    const bytes = encodeSignedPacket(signature, timestamp, dns);
    const packet = verifySignedPacket(self.publicKey, bytes); // the vault signed with the node key
    const { outcome } = await this.#o.store.put(self.nodeId, packet);
    if (outcome !== 'stored') throw new BusError('INTERNAL', `own packet not stored (${outcome})`);
    const [dht, relayResults] = await Promise.all([
      this.#o.dht
        ? this.#o.dht.put(self.publicKey, packet).then((n) => ({ ok: true, detail: `stored on ${n} DHT node${n === 1 ? '' : 's'}` }), (err: Error) => ({ ok: false, detail: err.message }))
        : Promise.resolve({ ok: false, detail: 'the DHT is off ([pkarr] dht = false)' }),
      Promise.all(relays.map((url) => relayPut(url, self.nodeId, bytes, this.#o.relayClient ?? {}).then(
        (r) => ({ url, ok: r.ok, detail: r.detail.slice(0, 500) }),
        (err: Error) => ({ url, ok: false, detail: err.message.slice(0, 500) }),
      ))),
    ]);
    this.#o.log?.info({ timestamp, addresses: addresses.map(formatHostPort), dht: dht.detail, relays: relayResults.length }, 'pkarr: published own packet');
    return { publicKey: self.nodeId, timestamp, packet: bytes, relays: relayResults, dht: dht.ok, dhtDetail: dht.detail.slice(0, 500) };
  }

  async #learnSelf(): Promise<{ nodeId: string; publicKey: Uint8Array }> {
    if (!this.#self) {
      const { nodeId } = await this.#o.bus.request(VAULT_SYSTEM_ID, 'vault.identity', {}, { deadlineMs: 30_000 });
      this.#self = { nodeId, publicKey: publicKeyFromNodeId(nodeId) };
    }
    return this.#self;
  }
}

/**
 * Asks the DHT and the relays for a key at once; the newest packet that verifies wins. Used by the
 * actor and by discovery in a process without a node.
 */
export async function resolveFromNetwork(
  z32: string,
  opts: { dht: PkarrDht | null; relays: readonly string[]; relayClient?: RelayClientOptions; signal?: AbortSignal; onError?: (where: string, err: Error) => void },
): Promise<{ packet: SignedPacket; source: 'dht' | 'relay' } | null> {
  const publicKey = publicKeyFromNodeId(z32);
  const attempts: Promise<{ packet: SignedPacket; source: 'dht' | 'relay' } | null>[] = [];
  const verified = (bytes: Uint8Array | null, source: 'dht' | 'relay', where: string) => {
    if (!bytes) return null;
    try {
      return { packet: verifySignedPacket(publicKey, new Uint8Array(bytes)), source };
    } catch (err) {
      opts.onError?.(where, err as Error);
      return null;
    }
  };
  if (opts.dht) {
    attempts.push(opts.dht.get(publicKey).then((b) => verified(b, 'dht', 'dht'), (err: Error) => (opts.onError?.('dht', err), null)));
  }
  for (const relay of opts.relays) {
    attempts.push(relayGet(relay, z32, opts.relayClient ?? {}).then((b) => verified(b, 'relay', relay), (err: Error) => (opts.onError?.(relay, err), null)));
  }
  const results = await Promise.all(attempts);
  let best: { packet: SignedPacket; source: 'dht' | 'relay' } | null = null;
  for (const r of results) if (r && (!best || r.packet.timestamp > best.packet.timestamp)) best = r;
  return best;
}

/** An unspecified host (0.0.0.0, ::) stands for every non-internal interface address (else loopback). */
export function expandAddresses(addresses: readonly HostPort[]): HostPort[] {
  const out: HostPort[] = [];
  for (const a of addresses) {
    if (a.host !== '0.0.0.0' && a.host !== '::') {
      out.push(a);
      continue;
    }
    const v6 = a.host === '::';
    const found: HostPort[] = [];
    for (const list of Object.values(os.networkInterfaces())) {
      for (const i of list ?? []) {
        if (i.internal || (i.family === 'IPv6' && !v6) || (i.family === 'IPv6' && i.address.startsWith('fe80'))) continue;
        if (isIP(i.address) === 0) continue;
        found.push({ host: i.address, port: a.port });
      }
    }
    out.push(...(found.length > 0 ? found : [{ host: v6 ? '::1' : '127.0.0.1', port: a.port }]));
  }
  return out;
}
