// The pkarr actor's store of signed packets, in the node's LMDB environment (HOME/db/, beside the blob
// index; named databases `pkarr` and `pkarr-age`). One record per public key: the newest valid signed
// packet for it. Bounded: past `maxRecords` the record stored (or refreshed) longest ago is evicted —
// by the time this node last accepted it, not by the packet's own timestamp, so a packet dated far
// in the future cannot make itself unevictable.
//
// Values: storedAt (epoch ms, 8-byte big-endian float64) ‖ the signed packet as relays carry it. Only the actor
// writes; checks and writes of one put happen in one LMDB write transaction, so newer-wins holds
// against concurrent puts for the same key.
import fs from 'node:fs';
import { open, type Database, type RootDatabase } from 'lmdb';
import { compareSignedPackets, decodeSignedPacket, type SignedPacket } from '../../lib/pkarr/signedPacket.ts';

export const DEFAULT_MAX_RECORDS = 10_000;

export type PutOutcome = 'stored' | 'same' | 'older' | 'precondition';

export interface StoredRecord {
  packet: SignedPacket;
  /** When this node accepted it, epoch ms. */
  storedAt: number;
}

type AgeKey = [number, string];

export class PkarrStore {
  readonly #env: RootDatabase;
  readonly #records: Database<Uint8Array, string>;
  readonly #age: Database<Uint8Array, AgeKey>;
  readonly maxRecords: number;
  #lastStoredAt = 0;
  #closed = false;

  constructor(dir: string, opts: { maxRecords?: number } = {}) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.maxRecords = Math.max(1, Math.floor(opts.maxRecords ?? DEFAULT_MAX_RECORDS));
    this.#env = open({ path: dir, compression: false });
    this.#records = this.#env.openDB<Uint8Array, string>({ name: 'pkarr', encoding: 'binary' });
    this.#age = this.#env.openDB<Uint8Array, AgeKey>({ name: 'pkarr-age', encoding: 'binary' });
  }

  /** The stored record for a z-base-32 key, or null. A record that no longer decodes is ignored. */
  get(z32: string): StoredRecord | null {
    const raw = this.#records.get(z32);
    return raw ? decodeRecord(raw) : null;
  }

  count(): number {
    return (this.#records.getStats() as { entryCount: number }).entryCount;
  }

  /**
   * Stores a packet already verified under `z32`'s key if it is newer than the stored one (and, with
   * `ifUnmodifiedSince` in µs, only if the stored one is not newer than that). Evicts the oldest
   * records beyond maxRecords in the same transaction.
   */
  put(z32: string, packet: SignedPacket, opts: { ifUnmodifiedSince?: number } = {}): Promise<{ outcome: PutOutcome; evicted: number }> {
    if (this.#closed) return Promise.reject(new Error('pkarr store is closed'));
    return this.#env.transaction(() => {
      const raw = this.#records.get(z32);
      const old = raw ? decodeRecord(raw) : null;
      if (old && opts.ifUnmodifiedSince !== undefined && old.packet.timestamp > opts.ifUnmodifiedSince) return { outcome: 'precondition' as const, evicted: 0 };
      const freshness = compareSignedPackets(packet, old?.packet ?? null);
      if (freshness === 'older') return { outcome: 'older' as const, evicted: 0 };
      // The same bytes again: refresh its age (it is still being published), keep the record.
      const storedAt = Math.max(Date.now(), this.#lastStoredAt + 1);
      this.#lastStoredAt = storedAt;
      if (raw) this.#age.remove([readStoredAt(raw), z32]);
      this.#records.put(z32, encodeRecord(storedAt, packet.bytes));
      this.#age.put([storedAt, z32], EMPTY);
      let evicted = 0;
      let count = (this.#records.getStats() as { entryCount: number }).entryCount;
      if (count > this.maxRecords) {
        for (const key of this.#age.getKeys({ limit: count - this.maxRecords })) {
          const [, victim] = key;
          this.#age.remove(key);
          this.#records.remove(victim);
          evicted++;
          count--;
        }
      }
      return { outcome: freshness === 'same' ? ('same' as const) : ('stored' as const), evicted };
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#env.close();
  }
}

const EMPTY = new Uint8Array(0);

function encodeRecord(storedAt: number, bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + bytes.length);
  new DataView(out.buffer).setFloat64(0, storedAt);
  out.set(bytes, 8);
  return out;
}

function readStoredAt(raw: Uint8Array): number {
  return new DataView(raw.buffer, raw.byteOffset, raw.byteLength).getFloat64(0);
}

function decodeRecord(raw: Uint8Array): StoredRecord | null {
  if (raw.length < 8) return null;
  try {
    // Copied: LMDB's buffer is only valid until the next read of this thread.
    const packet = decodeSignedPacket(new Uint8Array(raw.subarray(8)));
    return { packet, storedAt: readStoredAt(raw) };
  } catch {
    return null;
  }
}
