// The blob index in LMDB (`<home>/db/`): one record per blob (size, complete or partial), the
// bitfield of verified groups of a partial blob, and tags (name → hash). LMDB gives atomic,
// durable transactions and lets several processes (the node and the CLI) share the index.
import { open, type Database, type RootDatabase } from 'lmdb';

export interface BlobRecord {
  size: number;
  complete: boolean;
  /** Epoch ms of the last change (GC spares fresh partial blobs). */
  updatedAt: number;
}

export class BlobIndex {
  readonly #env: RootDatabase;
  readonly #blobs: Database<BlobRecord, string>;
  readonly #bitfields: Database<Uint8Array, string>;
  readonly #tags: Database<string, string>;

  constructor(dir: string) {
    this.#env = open({ path: dir, compression: false });
    this.#blobs = this.#env.openDB<BlobRecord, string>({ name: 'blobs', encoding: 'json' });
    this.#bitfields = this.#env.openDB<Uint8Array, string>({ name: 'bitfields', encoding: 'binary' });
    this.#tags = this.#env.openDB<string, string>({ name: 'tags', encoding: 'string' });
  }

  get(hash: string): BlobRecord | undefined {
    return this.#blobs.get(hash);
  }

  bitfield(hash: string): Uint8Array | undefined {
    const bits = this.#bitfields.get(hash);
    return bits ? new Uint8Array(bits) : undefined;
  }

  /** Every blob record, in hash order. */
  *entries(): Generator<{ hash: string; record: BlobRecord }> {
    for (const { key, value } of this.#blobs.getRange()) yield { hash: key, record: value };
  }

  *tags(): Generator<{ name: string; hash: string }> {
    for (const { key, value } of this.#tags.getRange()) yield { name: key, hash: value };
  }

  tag(name: string): string | undefined {
    return this.#tags.get(name);
  }

  /** Marks a blob complete (dropping its bitfield) and optionally tags it, in one transaction. */
  putComplete(hash: string, size: number, tag?: string): Promise<void> {
    return this.#env.transaction(() => {
      this.#blobs.put(hash, { size, complete: true, updatedAt: Date.now() });
      this.#bitfields.remove(hash);
      if (tag !== undefined) this.#tags.put(tag, hash);
    });
  }

  putPartial(hash: string, size: number, bitfield: Uint8Array): Promise<void> {
    return this.#env.transaction(() => {
      this.#blobs.put(hash, { size, complete: false, updatedAt: Date.now() });
      this.#bitfields.put(hash, bitfield);
    });
  }

  /** Sets bits of verified groups of a partial blob; returns the new bitfield (undefined if gone). */
  setGroups(hash: string, groups: readonly number[]): Promise<Uint8Array | undefined> {
    return this.#env.transaction(() => {
      const record = this.#blobs.get(hash);
      const current = this.#bitfields.get(hash);
      if (!record || record.complete || !current) return undefined;
      const bits = new Uint8Array(current);
      for (const g of groups) bits[g >> 3] = bits[g >> 3]! | (1 << (g & 7));
      this.#bitfields.put(hash, bits);
      this.#blobs.put(hash, { ...record, updatedAt: Date.now() });
      return bits;
    });
  }

  /** Removes a blob's record and every tag naming it. */
  remove(hash: string): Promise<void> {
    return this.#env.transaction(() => {
      this.#blobs.remove(hash);
      this.#bitfields.remove(hash);
      const naming = [...this.#tags.getRange()].filter(({ value }) => value === hash).map(({ key }) => key);
      for (const name of naming) this.#tags.remove(name);
    });
  }

  putTag(name: string, hash: string): Promise<boolean> {
    return this.#env.transaction(() => {
      if (!this.#blobs.get(hash)) return false;
      this.#tags.put(name, hash);
      return true;
    });
  }

  removeTag(name: string): Promise<boolean> {
    return this.#env.transaction(() => {
      if (this.#tags.get(name) === undefined) return false;
      this.#tags.remove(name);
      return true;
    });
  }

  close(): Promise<void> {
    return this.#env.close();
  }
}
