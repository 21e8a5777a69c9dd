// The WebGPU backend on the `webgpu` package (Dawn for Node). It keeps the object returned by
// create() for the device's whole life (dropping it while the device lives crashes the process),
// records every dispatch of a flush into one command encoder and one compute pass, caches one
// pipeline per generated kernel, and recycles buffers through a size-bucketed pool.
import { create } from 'webgpu';
import { byteSize, f16BitsToF32, f32ToF16Bits, hostArray, type DType, type HostArray } from '../dtype.ts';
import { coalesceDims, matmulDims, numel, splitReduceDims } from '../shape.ts';
import type { ReduceSpec } from '../ops/specs.ts';
import type { Backend, BackendInfo, ElementwiseProgram, Storage, View } from './types.ts';
import { BufferPool } from './pool.ts';
import {
  ELEMENTWISE_WG, MM_TILING, elementwiseMeta, matmulTile, type MatmulTiling, elementwiseWgsl, gemvWgsl, matmulMeta, matmulWgsl, reduceMeta, reduceWgsl,
} from '../codegen/wgsl.ts';

const MAP_READ = 1;
const COPY_DST = 8;
/** Flush on our own after this many recorded dispatches, bounding parked buffers. */
const MAX_DISPATCHES_PER_FLUSH = 512;
const MAX_WORKGROUPS_PER_DIM = 65535;

export class GpuStorage implements Storage {
  constructor(public buffer: GPUBuffer, readonly bytes: number, readonly length: number) {}
}

function gpuBuffer(s: Storage): GPUBuffer {
  if (!(s instanceof GpuStorage)) throw new Error('storage belongs to another backend');
  return s.buffer;
}

export interface WebGpuOptions {
  /** Dawn toggles passed to create(), e.g. ['backend=vulkan']. */
  flags?: string[];
  powerPreference?: 'low-power' | 'high-performance';
}

export class WebGpuBackend implements Backend {
  readonly name = 'webgpu' as const;
  private pipelines = new Map<string, GPUComputePipeline>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private parked: GPUBuffer[] = [];
  private dispatches = 0;
  private errors: string[] = [];
  private destroyed = false;
  readonly pool: BufferPool;
  /** Matmul tile shape (the benchmark tries others). */
  tiling: MatmulTiling = MM_TILING;
  /** Counters for the benchmark and tests. */
  stats = { dispatches: 0, flushes: 0, pipelines: 0 };
  /** Resolves when the device is lost for any reason other than our own destroy(). */
  readonly lost: Promise<string>;

  private constructor(
    private gpu: GPU | null,
    readonly adapter: GPUAdapter,
    readonly device: GPUDevice,
    private readonly adapterName: string,
  ) {
    this.pool = new BufferPool(device);
    this.lost = device.lost.then((info) => (this.destroyed ? new Promise<string>(() => {}) : `${info.reason}: ${info.message}`));
    device.addEventListener('uncapturederror', (event) => {
      const message = (event as GPUUncapturedErrorEvent).error.message;
      if (this.errors.length < 10) this.errors.push(message);
    });
  }

  /** Null when no adapter exists (callers then fall back to the JS backend or skip). */
  static async create(options: WebGpuOptions = {}): Promise<WebGpuBackend | null> {
    const gpu = create(options.flags ?? []);
    const adapter = await gpu.requestAdapter(options.powerPreference ? { powerPreference: options.powerPreference } : undefined);
    if (!adapter) return null;
    const requiredFeatures: GPUFeatureName[] = adapter.features.has('shader-f16') ? ['shader-f16'] : [];
    const limits = adapter.limits;
    const device = await adapter.requestDevice({
      requiredFeatures,
      requiredLimits: {
        maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
        maxBufferSize: limits.maxBufferSize,
        maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: Math.min(limits.maxComputeInvocationsPerWorkgroup, 1024),
      },
    });
    const info = adapter.info;
    const name = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') || 'unknown adapter';
    return new WebGpuBackend(gpu, adapter, device, name);
  }

  info(): BackendInfo {
    const l = this.device.limits;
    return {
      backend: 'webgpu',
      adapter: this.adapterName,
      features: [...this.device.features].sort(),
      limits: {
        maxBufferSize: l.maxBufferSize,
        maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
        maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
        maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      },
    };
  }

  supports(dtype: DType): boolean {
    return dtype !== 'f16' || this.device.features.has('shader-f16');
  }

  // ---- memory ---------------------------------------------------------------------------------

  alloc(dtype: DType, length: number): Storage {
    const bytes = Math.ceil((length * byteSize(dtype)) / 4) * 4;
    return new GpuStorage(this.pool.acquire(bytes), bytes, length);
  }

  upload(dtype: DType, data: HostArray): Storage {
    const storage = this.alloc(dtype, data.length) as GpuStorage;
    let bytes: ArrayBufferView;
    if (dtype === 'f16') {
      const half = new Uint16Array(Math.ceil(data.length / 2) * 2);
      for (let i = 0; i < data.length; i++) half[i] = f32ToF16Bits(data[i]!);
      bytes = half;
    } else {
      bytes = data;
    }
    this.device.queue.writeBuffer(storage.buffer, 0, bytes.buffer, bytes.byteOffset, storage.bytes);
    return storage;
  }

  release(storage: Storage): void {
    const buffer = gpuBuffer(storage);
    if (this.destroyed) return;
    // Recorded-but-unsubmitted commands may still read it: park it until the flush submits them.
    if (this.encoder) this.parked.push(buffer);
    else this.pool.release(buffer);
  }

  async read(storage: Storage, dtype: DType, offset: number, length: number): Promise<HostArray> {
    const size = byteSize(dtype);
    const start = Math.floor((offset * size) / 4) * 4;
    const end = Math.ceil(((offset + length) * size) / 4) * 4;
    const bytes = Math.max(end - start, 4);
    const staging = this.device.createBuffer({ size: bytes, usage: MAP_READ | COPY_DST });
    this.endPass();
    this.encoder ??= this.device.createCommandEncoder();
    this.encoder.copyBufferToBuffer(gpuBuffer(storage), start, staging, 0, bytes);
    this.flush();
    try {
      await staging.mapAsync(MAP_READ);
      this.throwErrors();
      const raw = staging.getMappedRange().slice(0);
      const skip = offset * size - start;
      if (dtype === 'f16') {
        const half = new Uint16Array(raw, skip, length);
        const out = new Float32Array(length);
        for (let i = 0; i < length; i++) out[i] = f16BitsToF32(half[i]!);
        return out;
      }
      const out = hostArray(dtype, length);
      out.set(dtype === 'i32' ? new Int32Array(raw, skip, length) : new Float32Array(raw, skip, length));
      return out;
    } finally {
      if (staging.mapState === 'mapped') staging.unmap();
      staging.destroy();
    }
  }

  private throwErrors(): void {
    if (this.errors.length) {
      const first = this.errors.splice(0)[0]!.split('\n').filter(Boolean).slice(0, 3).join(' | ');
      throw new Error(`WebGPU error: ${first}`);
    }
  }

  // ---- dispatch -------------------------------------------------------------------------------

  private pipeline(key: string, source: () => string): GPUComputePipeline {
    let p = this.pipelines.get(key);
    if (!p) {
      const module = this.device.createShaderModule({ code: source(), label: key });
      p = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: key });
      this.pipelines.set(key, p);
      this.stats.pipelines++;
    }
    return p;
  }

  private metaBuffer(meta: Int32Array): GPUBuffer {
    const buffer = this.pool.acquire(Math.max(meta.byteLength, 16));
    this.device.queue.writeBuffer(buffer, 0, meta.buffer, meta.byteOffset, meta.byteLength);
    return buffer;
  }

  private dispatch(pipeline: GPUComputePipeline, buffers: GPUBuffer[], workgroups: number, z = 1, x2d?: [number, number]): void {
    if (this.destroyed) throw new Error('the WebGPU device was destroyed');
    const entries = buffers.map((buffer, binding) => ({ binding, resource: { buffer } }));
    const bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    this.encoder ??= this.device.createCommandEncoder();
    this.pass ??= this.encoder.beginComputePass();
    this.pass.setPipeline(pipeline);
    this.pass.setBindGroup(0, bindGroup);
    const [x, y] = x2d ?? splitWorkgroups(workgroups);
    this.pass.dispatchWorkgroups(x, y, z);
    this.parked.push(buffers[0]!); // the meta buffer: free again once this flush is submitted
    this.dispatches++;
    this.stats.dispatches++;
    if (this.dispatches >= MAX_DISPATCHES_PER_FLUSH) this.flush();
  }

  elementwise(program: ElementwiseProgram, inputs: readonly View[], out: View): void {
    const n = numel(out.shape);
    if (n === 0) return;
    const merged = coalesceDims(out.shape, [out.strides, ...inputs.map((v) => v.strides)]);
    out = { ...out, shape: merged.shape, strides: merged.strides[0]! };
    inputs = inputs.map((v, i) => ({ ...v, shape: merged.shape, strides: merged.strides[i + 1]! }));
    const rank = out.shape.length;
    const inDtypes = inputs.map((v) => v.dtype);
    const key = `ew:${program.name}:${program.expr}:${inDtypes.join(',')}>${program.outDtype}:r${rank}`;
    const pipeline = this.pipeline(key, () => elementwiseWgsl(program.names, program.expr, inDtypes, program.outDtype, rank));
    for (const v of inputs) {
      if (v.storage === out.storage) throw new Error('elementwise: output aliases an input');
    }
    const meta = elementwiseMeta(out.shape, out.strides, out.offset, inputs);
    this.dispatch(pipeline, [this.metaBuffer(meta), ...inputs.map((v) => gpuBuffer(v.storage)), gpuBuffer(out.storage)],
      Math.ceil(n / ELEMENTWISE_WG));
  }

  reduce(spec: ReduceSpec, input: View, dims: readonly number[], out: Storage, outDtype: DType): void {
    const { keptShape, keptStrides, redShape, redStrides } = splitReduceDims(input.shape, input.strides, dims);
    const nOut = numel(keptShape);
    if (nOut === 0) return;
    const key = `red:${spec.name}:${input.dtype}>${outDtype}:k${keptShape.length}:r${redShape.length}`;
    const pipeline = this.pipeline(key, () => reduceWgsl(spec, input.dtype, outDtype, keptShape.length, redShape.length));
    const meta = reduceMeta(nOut, keptShape, keptStrides, redShape, redStrides, input.offset);
    this.dispatch(pipeline, [this.metaBuffer(meta), gpuBuffer(input.storage), gpuBuffer(out)], nOut);
  }

  matmul(a: View, b: View, out: Storage): void {
    const r = a.shape.length;
    const { M, K, N, batchShape, batches } = matmulDims(a.shape, b.shape);
    if (M * N * batches === 0) return;
    if (K === 0) {
      this.fillZero(out, a.dtype, M * N * batches);
      return;
    }
    if (batches > MAX_WORKGROUPS_PER_DIM) throw new Error(`matmul: ${batches} batches exceed the dispatch limit`);
    const meta = matmulMeta(M, N, K, a, b, batchShape);
    const buffers = [this.metaBuffer(meta), gpuBuffer(a.storage), gpuBuffer(b.storage), gpuBuffer(out)];
    if (M === 1 || N === 1) {
      const pipeline = this.pipeline(`gemv:${a.dtype}:b${batchShape.length}`, () => gemvWgsl(a.dtype, batchShape.length));
      this.dispatch(pipeline, buffers, M * N, batches);
      return;
    }
    // vec4 tile loads need rows that are contiguous and 16-byte aligned at every batch.
    const aligned = (v: View, inner: number, rowStride: number): boolean =>
      v.dtype === 'f32' && inner === 1 && rowStride % 4 === 0 && v.offset % 4 === 0 &&
      v.strides.slice(0, r - 2).every((s) => s % 4 === 0);
    const vecA = aligned(a, a.strides[r - 1]!, a.strides[r - 2]!) && K % 4 === 0;
    const vecB = aligned(b, b.strides[r - 1]!, b.strides[r - 2]!) && N % 4 === 0;
    const t = this.tiling;
    const { bm, bn } = matmulTile(t);
    const pipeline = this.pipeline(`mm:${a.dtype}:b${batchShape.length}:${vecA ? 'v' : 's'}${vecB ? 'v' : 's'}:${t.wx}x${t.wy}x${t.rm}x${t.rn}x${t.bk}`,
      () => matmulWgsl(a.dtype, batchShape.length, vecA, vecB, t));
    this.dispatch(pipeline, buffers, 0, batches, [Math.ceil(N / bn), Math.ceil(M / bm)]);
  }

  private fillZero(out: Storage, dtype: DType, n: number): void {
    const zero = this.upload(dtype, hostArray(dtype, 1));
    const view = (s: Storage): View => ({ storage: s, dtype, shape: [n], strides: [0], offset: 0 });
    this.elementwise({ name: 'copy', names: ['x'], expr: 'x', outDtype: dtype }, [view(zero)], { ...view(out), strides: [1] });
    this.release(zero);
  }

  /** Records a custom kernel (the benchmark's naive matmul) into the current batch. */
  dispatchCustom(key: string, source: string, meta: Int32Array, storages: readonly Storage[], x: number, y: number, z = 1): void {
    const pipeline = this.pipeline(key, () => source);
    this.dispatch(pipeline, [this.metaBuffer(meta), ...storages.map(gpuBuffer)], 0, z, [x, y]);
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  flush(): void {
    if (!this.encoder || this.destroyed) return;
    this.endPass();
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    this.dispatches = 0;
    this.stats.flushes++;
    for (const b of this.parked) this.pool.release(b);
    this.parked = [];
  }

  /** Resolves when all submitted work has finished on the GPU. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.throwErrors();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.flush();
    this.destroyed = true;
    this.pool.drain();
    this.pipelines.clear();
    this.device.destroy();
    // Drop the reference to create()'s object only once Dawn reports the device lost (destroyed):
    // dropping it earlier lets GC free the instance while Dawn still delivers the device's last
    // callbacks, which crashed the process now and then (SIGSEGV/SIGABRT). Once dropped, the
    // process can exit.
    const keep = this.gpu;
    void this.device.lost.then(() => setImmediate(() => void keep));
    this.gpu = null;
  }

  get isDestroyed(): boolean {
    return this.destroyed || this.gpu === null;
  }
}

function splitWorkgroups(n: number): [number, number] {
  if (n <= MAX_WORKGROUPS_PER_DIM) return [Math.max(n, 1), 1];
  const y = Math.ceil(n / MAX_WORKGROUPS_PER_DIM);
  return [Math.ceil(n / y), y];
}
