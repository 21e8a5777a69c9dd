// Public surface of the tensor engine: the PyTorch-shaped API, engines on either backend, nn.
import { Engine, setEngine } from './engine.ts';
import { CpuBackend } from './backend/cpu.ts';
import { WebGpuBackend, type WebGpuOptions } from './backend/webgpu.ts';

export { Engine, getEngine, setEngine, tensor, zeros, ones, full, rand, randn, arange, cat, where, tidy } from './engine.ts';
export type { TensorOptions, TensorData, NestedArray } from './engine.ts';
export { Tensor } from './tensor.ts';
export type { Dims, Scalarish } from './tensor.ts';
export { noGrad } from './autograd.ts';
export type { DType, HostArray } from './dtype.ts';
export { CpuBackend } from './backend/cpu.ts';
export { WebGpuBackend } from './backend/webgpu.ts';
export type { Backend, BackendInfo } from './backend/types.ts';

export interface CreateEngineOptions extends WebGpuOptions {
  /** 'auto' (default): WebGPU when an adapter exists, else the JS backend. */
  backend?: 'auto' | 'webgpu' | 'js';
  /** Also make it the default engine of the top-level functions (tensor(), zeros(), …). */
  makeDefault?: boolean;
}

export async function createEngine(options: CreateEngineOptions = {}): Promise<Engine> {
  const want = options.backend ?? 'auto';
  let engine: Engine;
  if (want === 'js') {
    engine = new Engine(new CpuBackend());
  } else {
    const gpu = await WebGpuBackend.create(options);
    if (!gpu && want === 'webgpu') throw new Error('no WebGPU adapter found (on Linux without a GPU, install Mesa lavapipe)');
    engine = new Engine(gpu ?? new CpuBackend());
  }
  if (options.makeDefault) setEngine(engine);
  return engine;
}
export { Linear, MLP, SGD, Adam, Optimizer, mseLoss, crossEntropyOneHot } from './nn.ts';
export type { Module, Activation } from './nn.ts';
