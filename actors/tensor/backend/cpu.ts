// The JavaScript backend: runs the generated JS kernels synchronously on host typed arrays.
// It is the fallback when no WebGPU adapter exists and the oracle the WebGPU tests compare with.
import { hostArray, type DType, type HostArray } from '../dtype.ts';
import { elementwiseJs, reduceJs } from '../codegen/js.ts';
import type { ReduceSpec } from '../ops/specs.ts';
import type { Backend, BackendInfo, ElementwiseProgram, Storage, View } from './types.ts';
import { byteSize } from '../dtype.ts';
import { matmulDims, splitReduceDims } from '../shape.ts';

export class CpuStorage implements Storage {
  constructor(readonly data: HostArray, readonly bytes: number) {}
  get length(): number {
    return this.data.length;
  }
}

function host(s: Storage): HostArray {
  if (!(s instanceof CpuStorage)) throw new Error('storage belongs to another backend');
  return s.data;
}

/** Multiply-adds between two interrupt checks in the matmul: rare enough to cost nothing measurable. */
const INTERRUPT_EVERY = 1 << 20;

export class CpuBackend implements Backend {
  readonly name = 'js' as const;
  interrupt: (() => void) | null = null;

  info(): BackendInfo {
    return { backend: 'js', adapter: 'javascript', features: ['shader-f16'], limits: {} };
  }

  supports(_dtype: DType): boolean {
    return true;
  }

  alloc(dtype: DType, length: number): Storage {
    return new CpuStorage(hostArray(dtype, length), length * byteSize(dtype));
  }

  upload(dtype: DType, data: HostArray): Storage {
    return new CpuStorage(data.slice() as HostArray, data.length * byteSize(dtype));
  }

  async read(storage: Storage, _dtype: DType, offset: number, length: number): Promise<HostArray> {
    return host(storage).slice(offset, offset + length) as HostArray;
  }

  release(_storage: Storage): void {
    // Host memory goes back to the garbage collector once no view refers to it.
  }

  elementwise(program: ElementwiseProgram, inputs: readonly View[], out: View): void {
    const fn = elementwiseJs(program.names, program.expr, out.shape.length);
    fn(
      inputs.map((v) => host(v.storage)),
      host(out.storage),
      out.shape,
      out.strides,
      out.offset,
      inputs.map((v) => v.strides),
      inputs.map((v) => v.offset),
    );
  }

  reduce(spec: ReduceSpec, input: View, dims: readonly number[], out: Storage, _outDtype: DType): void {
    const { keptShape, keptStrides, redShape, redStrides } = splitReduceDims(input.shape, input.strides, dims);
    reduceJs(spec, input.dtype)(host(input.storage), host(out), keptShape, keptStrides, redShape, redStrides, input.offset);
  }

  matmul(a: View, b: View, out: Storage): void {
    const r = a.shape.length;
    const { M, K, N, batchShape, batches } = matmulDims(a.shape, b.shape);
    const A = host(a.storage);
    const B = host(b.storage);
    const C = host(out);
    const [am, ak] = [a.strides[r - 2]!, a.strides[r - 1]!];
    const [bk, bn] = [b.strides[r - 2]!, b.strides[r - 1]!];
    const row = new Float64Array(N);
    const interrupt = this.interrupt;
    let sinceCheck = 0;
    for (let bi = 0; bi < batches; bi++) {
      let ao = a.offset;
      let bo = b.offset;
      let rem = bi;
      for (let d = batchShape.length - 1; d >= 0; d--) {
        const c = rem % batchShape[d]!;
        rem = (rem - c) / batchShape[d]!;
        ao += c * a.strides[d]!;
        bo += c * b.strides[d]!;
      }
      const co = bi * M * N;
      for (let m = 0; m < M; m++) {
        if (interrupt && (sinceCheck += K * N) >= INTERRUPT_EVERY) {
          sinceCheck = 0;
          interrupt();
        }
        row.fill(0);
        for (let k = 0; k < K; k++) {
          const av = A[ao + m * am + k * ak]!;
          const bb = bo + k * bk;
          for (let n = 0; n < N; n++) row[n]! += av * B[bb + n * bn]!;
        }
        for (let n = 0; n < N; n++) C[co + m * N + n] = row[n]!;
      }
    }
  }

  flush(): void {}

  destroy(): void {}
}
