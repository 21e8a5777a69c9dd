// The contract between the Tensor API and a compute backend (JS or WebGPU). A backend owns raw
// storage and runs generated kernels on strided views; reference counting of storage shared by
// views lives above it, in the engine.
import type { DType, HostArray } from '../dtype.ts';
import type { ReduceSpec } from '../ops/specs.ts';

/** Opaque device storage; `bytes` counts toward quotas. */
export interface Storage {
  readonly bytes: number;
  readonly length: number;
}

/** A strided window onto a storage: element (i0..in) lives at offset + Σ ik·strides[k]. */
export interface View {
  storage: Storage;
  dtype: DType;
  shape: readonly number[];
  strides: readonly number[];
  offset: number;
}

/** An elementwise kernel: `expr` over the named inputs, one output element per output index. */
export interface ElementwiseProgram {
  /** Cache key of the kernel (op name + variant); dtypes and rank are appended by the backend. */
  name: string;
  names: readonly string[];
  expr: string;
  outDtype: DType;
}

export interface BackendInfo {
  backend: 'js' | 'webgpu';
  adapter: string;
  features: string[];
  limits: Record<string, number>;
}

export interface Backend {
  readonly name: 'js' | 'webgpu';
  info(): BackendInfo;
  supports(dtype: DType): boolean;
  alloc(dtype: DType, length: number): Storage;
  upload(dtype: DType, data: HostArray): Storage;
  /** Reads `length` elements from `offset` of a storage (contiguous range). */
  read(storage: Storage, dtype: DType, offset: number, length: number): Promise<HostArray>;
  release(storage: Storage): void;
  /** out may be any strided view; inputs are broadcast to out.shape already (stride 0 allowed). */
  elementwise(program: ElementwiseProgram, inputs: readonly View[], out: View): void;
  /** Reduces `input` over sorted `dims`; writes a contiguous result with the kept dims' shape. */
  reduce(spec: ReduceSpec, input: View, dims: readonly number[], out: Storage, outDtype: DType): void;
  /** a: [...batch, M, K], b: [...batch, K, N] with equal batch shapes (stride 0 where broadcast);
   *  out: contiguous [...batch, M, N]. */
  matmul(a: View, b: View, out: Storage): void;
  /** Submits queued work (WebGPU: one command encoder per flush). */
  flush(): void;
  /** Resolves once every kernel recorded so far has finished (WebGPU: flush, then the queue drains). */
  sync?(): Promise<void>;
  /**
   * Called now and then inside long synchronous kernels (the JS matmul). A throw from it abandons the
   * kernel and leaves its output undefined. The tensor service sets it around one op, so a deadline
   * can stop a kernel that would otherwise run for minutes; null otherwise.
   */
  interrupt?: (() => void) | null;
  destroy(): void;
  /** Resolves with a reason if the device is lost (not on our own destroy()). */
  readonly lost?: Promise<string>;
}
