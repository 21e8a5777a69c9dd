// The handle table of one engine: which caller owns which kept tensor, and how much memory each
// caller holds. It lives as long as its engine (the tensor actor makes a new one with every engine
// and frees it when the engine goes), so a handle never outlives the device its buffer is on.
import { randomBytes } from 'node:crypto';
import { BusError } from '../../bus/errors.ts';
import { byteSize } from './dtype.ts';
import type { Engine } from './engine.ts';
import type { Tensor } from './tensor.ts';
import type { HandleInfo } from './messages.ts';

interface Handle {
  owner: string;
  tensor: Tensor;
  bytes: number;
}

export interface HandleLimits {
  /** Bytes of kept tensors one owner may hold. */
  quotaBytes: number;
  /** Handles one owner may hold. */
  maxHandles: number;
}

export class HandleTable {
  readonly #handles = new Map<string, Handle>();
  readonly #bytesByOwner = new Map<string, number>();
  readonly #countByOwner = new Map<string, number>();

  constructor(readonly engine: Engine, readonly limits: HandleLimits) {}

  get size(): number {
    return this.#handles.size;
  }

  countOf(owner: string): number {
    return this.#countByOwner.get(owner) ?? 0;
  }

  bytesOf(owner: string): number {
    return this.#bytesByOwner.get(owner) ?? 0;
  }

  /** The owner's tensor. Another owner's handle answers exactly like a missing one: handles are not discoverable. */
  get(owner: string, id: string): Tensor {
    const h = this.#handles.get(id);
    if (!h || h.owner !== owner) throw new BusError('NOT_FOUND', `no tensor handle "${id.slice(0, 64)}"`);
    return h.tensor;
  }

  /** Takes ownership of `tensor` (it is freed when the handle is); BUSY past the owner's quota. */
  add(owner: string, tensor: Tensor): HandleInfo {
    const bytes = tensor.size * byteSize(tensor.dtype);
    const { quotaBytes, maxHandles } = this.limits;
    if (this.bytesOf(owner) + bytes > quotaBytes) {
      tensor.free();
      throw new BusError('BUSY', `tensor memory quota of ${quotaBytes} bytes exceeded; free some handles`, { retryable: false });
    }
    if (this.countOf(owner) >= maxHandles) {
      tensor.free();
      throw new BusError('BUSY', `at most ${maxHandles} tensor handles per caller`, { retryable: false });
    }
    const id = `t_${randomBytes(12).toString('base64url')}`;
    this.#handles.set(id, { owner, tensor: this.engine.keep(tensor), bytes });
    this.#bytesByOwner.set(owner, this.bytesOf(owner) + bytes);
    this.#countByOwner.set(owner, this.countOf(owner) + 1);
    return { handle: id, shape: [...tensor.shape], dtype: tensor.dtype };
  }

  /** Frees the owner's handle; false when it has none of that id. */
  free(owner: string, id: string): boolean {
    const h = this.#handles.get(id);
    if (!h || h.owner !== owner) return false;
    this.#drop(id, h);
    return true;
  }

  /** Frees every handle of this owner (its last connection closed); returns how many. */
  freeOwner(owner: string): number {
    let n = 0;
    for (const [id, h] of this.#handles) if (h.owner === owner) (this.#drop(id, h), n++);
    return n;
  }

  /** Frees every handle (the engine stops). */
  freeAll(): void {
    for (const [id, h] of this.#handles) this.#drop(id, h);
  }

  #drop(id: string, h: Handle): void {
    this.#handles.delete(id);
    const bytes = this.bytesOf(h.owner) - h.bytes;
    const count = this.countOf(h.owner) - 1;
    if (count === 0) (this.#bytesByOwner.delete(h.owner), this.#countByOwner.delete(h.owner));
    else (this.#bytesByOwner.set(h.owner, bytes), this.#countByOwner.set(h.owner, count));
    if (!this.engine.isDestroyed) h.tensor.free();
  }

  /** Snapshots (the inspector) show counts only, never tensors or owners' data. */
  toJSON(): { handles: number; owners: number } {
    return { handles: this.#handles.size, owners: this.#countByOwner.size };
  }
}
