// What a tensor/run graph will cost, found before any real work: the graph is run once on a "meta"
// engine whose backend allocates nothing and runs no kernels (PyTorch's meta device). The Tensor API
// does all its shape, dtype and attribute checks as usual, so a bad graph fails here, up front, and
// every kernel it would launch — including those inside composites such as softmax or layer_norm —
// is counted with its real geometry.
//
// Cost units (about one multiply-add each): an elementwise kernel costs its output elements, a
// reduction its input elements, a matmul batches·M·N·K.
import { Engine } from './engine.ts';
import { contiguousStrides, numel, matmulDims } from './shape.ts';
import type { DType, HostArray } from './dtype.ts';
import { byteSize, hostArray } from './dtype.ts';
import type { ReduceSpec } from './ops/specs.ts';
import type { Backend, BackendInfo, ElementwiseProgram, Storage, View } from './backend/types.ts';
import type { Tensor } from './tensor.ts';

class MetaStorage implements Storage {
  constructor(readonly length: number, readonly bytes: number) {}
}

/** Cost of one kernel launch, in units of about one multiply-add. */
export function elementwiseCost(out: View): number {
  return numel(out.shape);
}

export function reduceCost(input: View): number {
  return numel(input.shape);
}

export function matmulCost(a: View, b: View): number {
  const { M, K, N, batches } = matmulDims(a.shape, b.shape);
  return batches * M * N * K;
}

/** Counts kernels and bytes; computes nothing. Dtype support is the real backend's. */
export class MetaBackend implements Backend {
  readonly name: Backend['name'];
  /** Summed cost of every kernel recorded so far. */
  cost = 0;
  liveBytes = 0;
  peakBytes = 0;

  constructor(private readonly real: Backend) {
    this.name = real.name;
  }

  info(): BackendInfo {
    return this.real.info();
  }

  supports(dtype: DType): boolean {
    return this.real.supports(dtype);
  }

  alloc(dtype: DType, length: number): Storage {
    const bytes = length * byteSize(dtype);
    this.liveBytes += bytes;
    this.peakBytes = Math.max(this.peakBytes, this.liveBytes);
    return new MetaStorage(length, bytes);
  }

  upload(dtype: DType, data: HostArray): Storage {
    return this.alloc(dtype, data.length);
  }

  async read(_storage: Storage, dtype: DType, _offset: number, length: number): Promise<HostArray> {
    return hostArray(dtype, length);
  }

  release(storage: Storage): void {
    this.liveBytes -= storage.bytes;
  }

  elementwise(_program: ElementwiseProgram, _inputs: readonly View[], out: View): void {
    this.cost += elementwiseCost(out);
  }

  reduce(_spec: ReduceSpec, input: View): void {
    this.cost += reduceCost(input);
  }

  matmul(a: View, b: View): void {
    this.cost += matmulCost(a, b);
  }

  flush(): void {}

  destroy(): void {}
}

/** A meta engine for one graph; its backend's counters are the graph's cost and peak memory. */
export function metaEngine(real: Engine): { engine: Engine; backend: MetaBackend } {
  const backend = new MetaBackend(real.backend);
  return { engine: new Engine(backend), backend };
}

/** A tensor of the meta engine with the geometry of a real one (same storage length, strides, offset). */
export function metaLike(meta: Engine, t: Tensor): Tensor {
  const v = t.view();
  return meta.wrap(meta.newStorage(t.dtype, v.storage.length), t.dtype, t.shape, t.strides, t.offset);
}

/** A contiguous meta tensor (the stand-in for a value sent with the request: no data is uploaded). */
export function metaOf(meta: Engine, shape: readonly number[], dtype: DType): Tensor {
  return meta.wrap(meta.newStorage(dtype, numel(shape)), dtype, [...shape], contiguousStrides(shape), 0);
}
