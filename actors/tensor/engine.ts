// The engine: one backend, reference-counted storage shared by views, tidy() scopes that free
// every tensor created inside them, and the PyTorch-shaped factory functions.
import { isDType, toHostArray, byteSize, type DType, type HostArray } from './dtype.ts';
import { checkShape, contiguousStrides, numel, type Shape } from './shape.ts';
import type { Backend, Storage } from './backend/types.ts';
import { CpuBackend } from './backend/cpu.ts';
import { Tensor } from './tensor.ts';

/** Storage plus the number of live tensor handles that view it. */
export class StorageRef {
  refs = 1;
  constructor(readonly storage: Storage, readonly engine: Engine) {}
  retain(): StorageRef {
    this.refs++;
    return this;
  }
  release(): void {
    if (--this.refs === 0) this.engine.releaseStorage(this.storage);
  }
}

export interface TensorOptions {
  shape?: readonly number[];
  dtype?: DType;
  requiresGrad?: boolean;
}

export type TensorData = number | HostArray | readonly number[] | readonly NestedArray[];
export interface NestedArray extends ReadonlyArray<number | NestedArray> {}

function inferShape(data: TensorData): number[] {
  const shape: number[] = [];
  let cur: unknown = data;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = cur[0];
  }
  if (ArrayBuffer.isView(data)) return [(data as HostArray).length];
  return shape;
}

function flatten(data: TensorData): ArrayLike<number> {
  if (typeof data === 'number') return [data];
  if (ArrayBuffer.isView(data)) return data as HostArray;
  return (data as readonly unknown[]).flat(Infinity) as number[];
}

/** mulberry32: a small seedable generator so tests and examples are reproducible. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Engine {
  private scopes: Set<Tensor>[] = [];
  private random: () => number = mulberry32(0x5eed);
  /** Bytes of storage currently allocated through this engine. */
  liveBytes = 0;
  liveStorages = 0;
  private destroyed = false;

  constructor(readonly backend: Backend) {}

  // ---- storage & lifetime -------------------------------------------------------------------

  newStorage(dtype: DType, length: number): StorageRef {
    this.checkAlive();
    if (!this.backend.supports(dtype)) throw new Error(`dtype ${dtype} is not supported by the ${this.backend.name} backend`);
    const storage = this.backend.alloc(dtype, Math.max(length, 1));
    this.liveBytes += storage.bytes;
    this.liveStorages++;
    return new StorageRef(storage, this);
  }

  uploadStorage(dtype: DType, data: HostArray): StorageRef {
    this.checkAlive();
    if (!this.backend.supports(dtype)) throw new Error(`dtype ${dtype} is not supported by the ${this.backend.name} backend`);
    const storage = this.backend.upload(dtype, data.length ? data : toHostArray(dtype, [0]));
    this.liveBytes += storage.bytes;
    this.liveStorages++;
    return new StorageRef(storage, this);
  }

  releaseStorage(storage: Storage): void {
    this.liveBytes -= storage.bytes;
    this.liveStorages--;
    if (!this.destroyed) this.backend.release(storage);
  }

  /** Wraps storage in a tensor handle registered with the innermost tidy() scope. */
  wrap(ref: StorageRef, dtype: DType, shape: Shape, strides: Shape, offset: number): Tensor {
    const t = new Tensor(this, ref, dtype, [...shape], [...strides], offset);
    this.scopes[this.scopes.length - 1]?.add(t);
    return t;
  }

  /** Removes a tensor from tidy() tracking: it lives until free(). */
  keep<T extends Tensor>(t: T): T {
    for (const s of this.scopes) s.delete(t);
    return t;
  }

  /**
   * Runs fn and frees every tensor it created except those it returns (a tensor, an array, or an
   * object of tensors) and those passed to keep(). Synchronous by design: tensors created by
   * concurrent async code would otherwise land in the wrong scope.
   */
  tidy<T>(fn: () => T): T {
    const scope = new Set<Tensor>();
    this.scopes.push(scope);
    let result: T;
    try {
      result = fn();
    } catch (err) {
      // A failed op sequence must not leak what it allocated before failing.
      for (const t of scope) t.free();
      throw err;
    } finally {
      this.scopes.pop();
    }
    const kept = new Set<Tensor>();
    const collect = (v: unknown): void => {
      if (v instanceof Tensor) kept.add(v);
      else if (Array.isArray(v)) v.forEach(collect);
      else if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) Object.values(v).forEach(collect);
    };
    collect(result);
    const parent = this.scopes[this.scopes.length - 1];
    for (const t of scope) {
      if (kept.has(t)) parent?.add(t);
      else t.free();
    }
    return result;
  }

  flush(): void {
    this.backend.flush();
  }

  /** Frees the backend (destroys the GPU device); every tensor of this engine becomes unusable. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.backend.destroy();
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  private checkAlive(): void {
    if (this.destroyed) throw new Error('the tensor engine was shut down');
  }

  // ---- factories ----------------------------------------------------------------------------

  tensor(data: TensorData, options: TensorOptions = {}): Tensor {
    const dtype = options.dtype ?? (data instanceof Int32Array ? 'i32' : 'f32');
    if (!isDType(dtype)) throw new Error(`unknown dtype "${String(dtype)}" (f32, i32, f16)`);
    const flat = flatten(data);
    const shape = options.shape ? [...options.shape] : inferShape(data);
    checkShape(shape);
    if (numel(shape) !== flat.length) {
      throw new Error(`data has ${flat.length} elements but shape [${shape.join(',')}] needs ${numel(shape)}`);
    }
    const host = toHostArray(dtype, flat);
    const t = this.wrap(this.uploadStorage(dtype, host), dtype, shape, contiguousStrides(shape), 0);
    if (options.requiresGrad) t.requiresGrad = true;
    return t;
  }

  full(shape: Shape, value: number, options: TensorOptions = {}): Tensor {
    const dtype = options.dtype ?? 'f32';
    checkShape(shape);
    const host = toHostArray(dtype, new Array<number>(numel(shape)).fill(value));
    const t = this.wrap(this.uploadStorage(dtype, host), dtype, shape, contiguousStrides(shape), 0);
    if (options.requiresGrad) t.requiresGrad = true;
    return t;
  }

  zeros(shape: Shape, options: TensorOptions = {}): Tensor {
    return this.full(shape, 0, options);
  }

  ones(shape: Shape, options: TensorOptions = {}): Tensor {
    return this.full(shape, 1, options);
  }

  onesLike(t: Tensor): Tensor {
    return this.full(t.shape, 1, { dtype: t.dtype });
  }

  zerosLike(t: Tensor): Tensor {
    return this.full(t.shape, 0, { dtype: t.dtype });
  }

  scalar(value: number, dtype: DType): Tensor {
    return this.full([], value, { dtype });
  }

  manualSeed(seed: number): void {
    this.random = mulberry32(seed);
  }

  /** Uniform in [0, 1). */
  rand(shape: Shape, options: TensorOptions = {}): Tensor {
    checkShape(shape);
    const data = new Float32Array(numel(shape));
    for (let i = 0; i < data.length; i++) data[i] = this.random();
    return this.tensor(data, { ...options, shape, dtype: options.dtype ?? 'f32' });
  }

  /** Standard normal (Box–Muller). */
  randn(shape: Shape, options: TensorOptions = {}): Tensor {
    checkShape(shape);
    const data = new Float32Array(numel(shape));
    for (let i = 0; i < data.length; i++) {
      const u = 1 - this.random();
      data[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.random());
    }
    return this.tensor(data, { ...options, shape, dtype: options.dtype ?? 'f32' });
  }

  arange(start: number, end?: number, step = 1, options: TensorOptions = {}): Tensor {
    if (end === undefined) [start, end] = [0, start];
    if (step === 0) throw new Error('arange step must not be 0');
    const n = Math.max(0, Math.ceil((end - start) / step));
    const dtype = options.dtype ?? ([start, end, step].every(Number.isInteger) ? 'i32' : 'f32');
    const data = Array.from({ length: n }, (_, i) => start + i * step);
    return this.tensor(data, { ...options, shape: [n], dtype });
  }

  /** Concatenates along an existing dim (torch.cat). */
  cat(tensors: readonly Tensor[], dim = 0): Tensor {
    return Tensor.cat(tensors, dim);
  }

  where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
    return Tensor.where(cond, a, b);
  }

  bytesOf(dtype: DType, n: number): number {
    return n * byteSize(dtype);
  }
}

// ---- the default engine, for the PyTorch-shaped top-level functions -------------------------

let defaultEngine: Engine | undefined;

export function getEngine(): Engine {
  defaultEngine ??= new Engine(new CpuBackend());
  return defaultEngine;
}

export function setEngine(engine: Engine): void {
  defaultEngine = engine;
}

export const tensor = (data: TensorData, options?: TensorOptions): Tensor => getEngine().tensor(data, options);
export const zeros = (shape: Shape, options?: TensorOptions): Tensor => getEngine().zeros(shape, options);
export const ones = (shape: Shape, options?: TensorOptions): Tensor => getEngine().ones(shape, options);
export const full = (shape: Shape, value: number, options?: TensorOptions): Tensor => getEngine().full(shape, value, options);
export const rand = (shape: Shape, options?: TensorOptions): Tensor => getEngine().rand(shape, options);
export const randn = (shape: Shape, options?: TensorOptions): Tensor => getEngine().randn(shape, options);
export const arange = (start: number, end?: number, step?: number, options?: TensorOptions): Tensor =>
  getEngine().arange(start, end, step, options);
export const cat = (tensors: readonly Tensor[], dim?: number): Tensor => Tensor.cat(tensors, dim);
export const where = (cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor => Tensor.where(cond, a, b);
export const tidy = <T>(fn: () => T): T => getEngine().tidy(fn);
