// The Tensor: a strided view (shape, strides, storage offset) onto reference-counted storage,
// with PyTorch-shaped methods. Views (reshape, permute, slice, expand, …) never copy. Every op
// records a GradNode when an input requires grad; gradients of broadcast operands are summed
// over the broadcast dims (sumTo), which is where webgpu-torch goes wrong.
import { isFloat, promote, type DType, type HostArray } from './dtype.ts';
import {
  broadcastShapes, broadcastStrides, contiguousStrides, isContiguous, normalizeDim, numel, sameShape, type Shape,
} from './shape.ts';
import { BINARY_BY_NAME, REDUCE_BY_NAME, UNARY_BY_NAME, WHERE, type BinarySpec, type UnarySpec } from './ops/specs.ts';
import { parseExpr, type Expr } from './codegen/expr.ts';
import type { ElementwiseProgram, View } from './backend/types.ts';
import { backward as runBackward, isGradEnabled, type GradNode } from './autograd.ts';
import type { Engine, NestedArray, StorageRef } from './engine.ts';

export type Scalarish = Tensor | number;
export type Dims = number | readonly number[] | null | undefined;

function usedVars(e: Expr, out = new Set<string>()): Set<string> {
  if (e.t === 'var') out.add(e.name);
  else if (e.t === 'neg') usedVars(e.e, out);
  else if (e.t === 'bin') (usedVars(e.l, out), usedVars(e.r, out));
  else if (e.t === 'call') e.args.forEach((a) => usedVars(a, out));
  return out;
}

export class Tensor {
  requiresGrad = false;
  grad: Tensor | null = null;
  gradFn: GradNode | null = null;
  private freed = false;

  constructor(
    readonly engine: Engine,
    private ref: StorageRef,
    public dtype: DType,
    public shape: number[],
    public strides: number[],
    public offset: number,
  ) {}

  // ---- basics -------------------------------------------------------------------------------

  get rank(): number {
    return this.shape.length;
  }

  get size(): number {
    return numel(this.shape);
  }

  get isFreed(): boolean {
    return this.freed;
  }

  get isContiguous(): boolean {
    return isContiguous(this.shape, this.strides);
  }

  /** Storage bytes this tensor keeps alive (shared with its views). */
  get storageBytes(): number {
    return this.ref.storage.bytes;
  }

  view(): View {
    if (this.freed) throw new Error('tensor was freed');
    return { storage: this.ref.storage, dtype: this.dtype, shape: this.shape, strides: this.strides, offset: this.offset };
  }

  /** Releases this handle; the storage goes back to the pool when its last view is freed. */
  free(): void {
    if (this.freed) return;
    this.freed = true;
    this.gradFn = null;
    this.ref.release();
  }

  /** Replaces this tensor's contents with `value`'s storage (value's handle is consumed). */
  assign(value: Tensor): this {
    if (!sameShape(value.shape, this.shape)) throw new Error(`assign: shape [${value.shape}] into [${this.shape}]`);
    const v = value.view();
    this.ref.release();
    this.ref = value.ref.retain();
    this.dtype = v.dtype;
    this.strides = [...v.strides];
    this.offset = v.offset;
    value.free();
    return this;
  }

  /** A new handle on the same storage with the given geometry (a view: no copy). */
  private viewAs(shape: Shape, strides: Shape, offset: number): Tensor {
    this.view();
    return this.engine.wrap(this.ref.retain(), this.dtype, shape, strides, offset);
  }

  private record(out: Tensor, name: string, inputs: readonly Tensor[], backward: GradNode['backward']): Tensor {
    if (isGradEnabled() && inputs.some((t) => t.requiresGrad)) {
      out.requiresGrad = true;
      out.gradFn = { name, inputs, backward };
    }
    return out;
  }

  detach(): Tensor {
    return this.viewAs(this.shape, this.strides, this.offset);
  }

  requiresGrad_(flag = true): this {
    this.requiresGrad = flag;
    return this;
  }

  backward(gradient?: Tensor): void {
    runBackward(this, gradient);
  }

  async toArray(): Promise<HostArray> {
    const n = this.size;
    if (this.isContiguous) return this.engine.backend.read(this.view().storage, this.dtype, this.offset, n);
    const c = this.contiguous();
    try {
      return await this.engine.backend.read(c.view().storage, this.dtype, c.offset, n);
    } finally {
      c.free();
    }
  }

  /** Nested arrays (rank 0: a number), like torch's tolist(). */
  async toList(): Promise<number | NestedArray> {
    const flat = Array.from(await this.toArray());
    const build = (dim: number, start: number): number | NestedArray => {
      if (dim === this.rank) return flat[start]!;
      const inner = numel(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim]! }, (_, i) => build(dim + 1, start + i * inner));
    };
    return build(0, 0);
  }

  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item() needs one element, tensor has ${this.size}`);
    return (await this.toArray())[0]!;
  }

  // ---- elementwise core -----------------------------------------------------------------------

  /** Runs an elementwise program over broadcast inputs into a new contiguous tensor. */
  static elementwise(program: ElementwiseProgram, inputs: readonly Tensor[]): Tensor {
    const engine = inputs[0]!.engine;
    const shape = broadcastShapes(...inputs.map((t) => t.shape));
    const ref = engine.newStorage(program.outDtype, numel(shape));
    const out = engine.wrap(ref, program.outDtype, shape, contiguousStrides(shape), 0);
    const views = inputs.map((t) => {
      const v = t.view();
      return { ...v, shape, strides: broadcastStrides(v.shape, v.strides, shape) };
    });
    engine.backend.elementwise(program, views, out.view());
    return out;
  }

  /** Copies `src` (broadcast) into this view in place. No autograd: used by cat and slice's backward. */
  copyFrom(src: Tensor): this {
    const v = src.view();
    const target = this.view();
    if (v.storage === target.storage) throw new Error('copyFrom: source and target share storage');
    const program: ElementwiseProgram = { name: 'copy', names: ['x'], expr: 'x', outDtype: this.dtype };
    this.engine.backend.elementwise(program, [{ ...v, shape: this.shape, strides: broadcastStrides(v.shape, v.strides, this.shape) }], target);
    return this;
  }

  private scalarLike(value: Scalarish): Tensor {
    if (value instanceof Tensor) return value;
    const dtype = this.dtype === 'i32' && !Number.isInteger(value) ? 'f32' : this.dtype;
    return this.engine.scalar(value, dtype);
  }

  private floatInput(spec: { dtypes: readonly DType[] }): Tensor {
    return spec.dtypes.includes(this.dtype) ? this : this.to('f32');
  }

  /** Casts to another dtype (a copy; float → i32 truncates toward zero). */
  to(dtype: DType): Tensor {
    if (dtype === this.dtype) return this.detachedClone();
    const out = Tensor.elementwise({ name: 'cast', names: ['x'], expr: 'x', outDtype: dtype }, [this]);
    if (isFloat(dtype) && isFloat(this.dtype)) {
      return this.record(out, 'cast', [this], (dy) => [dy.to(this.dtype)]);
    }
    return out;
  }

  private detachedClone(): Tensor {
    const out = Tensor.elementwise({ name: 'copy', names: ['x'], expr: 'x', outDtype: this.dtype }, [this]);
    return this.record(out, 'clone', [this], (dy) => [dy.detach()]);
  }

  clone(): Tensor {
    return this.detachedClone();
  }

  unary(name: string): Tensor {
    const spec = UNARY_BY_NAME.get(name);
    if (!spec) throw new Error(`unknown unary op "${name}"`);
    const x = this.floatInput(spec);
    const y = Tensor.elementwise({ name, names: ['x'], expr: spec.forward, outDtype: x.dtype }, [x]);
    if (x !== this) {
      // Only i32 inputs are cast here, and integers carry no gradient: the copy is not needed later.
      x.free();
      return y;
    }
    return this.record(y, name, [this], (dy) => [unaryGrad(spec, this, y, dy)]);
  }

  binary(name: string, other: Scalarish): Tensor {
    const spec = BINARY_BY_NAME.get(name);
    if (!spec) throw new Error(`unknown binary op "${name}"`);
    let a: Tensor = this;
    let b = this.scalarLike(other);
    const made: Tensor[] = b === other ? [] : [b];
    let dtype = promote(a.dtype, b.dtype);
    if (!spec.dtypes.includes(dtype)) dtype = 'f32';
    if (a.dtype !== dtype) made.push((a = a.to(dtype)));
    if (b.dtype !== dtype) made.push((b = b.to(dtype)));
    const outDtype = spec.out === 'i32' ? 'i32' : dtype;
    const y = Tensor.elementwise({ name, names: ['a', 'b'], expr: spec.forward, outDtype }, [a, b]);
    // Scalars made here are not part of the user's graph; cast copies stay alive for backward.
    if (!(spec.gradA || spec.gradB) || !isFloat(outDtype) || !(a.requiresGrad || b.requiresGrad) || !isGradEnabled()) {
      made.forEach((t) => t.free());
      return y;
    }
    return this.record(y, name, [a, b], (dy) => binaryGrads(spec, a, b, y, dy));
  }

  // Unary ops (specs in ops/specs.ts).
  neg(): Tensor { return this.unary('neg'); }
  abs(): Tensor { return this.unary('abs'); }
  exp(): Tensor { return this.unary('exp'); }
  exp2(): Tensor { return this.unary('exp2'); }
  expm1(): Tensor { return this.unary('expm1'); }
  log(): Tensor { return this.unary('log'); }
  log2(): Tensor { return this.unary('log2'); }
  log1p(): Tensor { return this.unary('log1p'); }
  sqrt(): Tensor { return this.unary('sqrt'); }
  rsqrt(): Tensor { return this.unary('rsqrt'); }
  square(): Tensor { return this.unary('square'); }
  reciprocal(): Tensor { return this.unary('reciprocal'); }
  sin(): Tensor { return this.unary('sin'); }
  cos(): Tensor { return this.unary('cos'); }
  tan(): Tensor { return this.unary('tan'); }
  asin(): Tensor { return this.unary('asin'); }
  acos(): Tensor { return this.unary('acos'); }
  atan(): Tensor { return this.unary('atan'); }
  tanh(): Tensor { return this.unary('tanh'); }
  sigmoid(): Tensor { return this.unary('sigmoid'); }
  relu(): Tensor { return this.unary('relu'); }
  gelu(): Tensor { return this.unary('gelu'); }
  silu(): Tensor { return this.unary('silu'); }
  softplus(): Tensor { return this.unary('softplus'); }
  elu(): Tensor { return this.unary('elu'); }
  sign(): Tensor { return this.unary('sign'); }
  floor(): Tensor { return this.unary('floor'); }
  ceil(): Tensor { return this.unary('ceil'); }
  round(): Tensor { return this.unary('round'); }
  trunc(): Tensor { return this.unary('trunc'); }
  frac(): Tensor { return this.unary('frac'); }

  // Binary ops with broadcasting.
  add(o: Scalarish): Tensor { return this.binary('add', o); }
  sub(o: Scalarish): Tensor { return this.binary('sub', o); }
  mul(o: Scalarish): Tensor { return this.binary('mul', o); }
  div(o: Scalarish): Tensor { return this.binary('div', o); }
  pow(o: Scalarish): Tensor { return this.binary('pow', o); }
  maximum(o: Scalarish): Tensor { return this.binary('maximum', o); }
  minimum(o: Scalarish): Tensor { return this.binary('minimum', o); }
  atan2(o: Scalarish): Tensor { return this.binary('atan2', o); }
  fmod(o: Scalarish): Tensor { return this.binary('fmod', o); }
  eq(o: Scalarish): Tensor { return this.binary('eq', o); }
  ne(o: Scalarish): Tensor { return this.binary('ne', o); }
  lt(o: Scalarish): Tensor { return this.binary('lt', o); }
  le(o: Scalarish): Tensor { return this.binary('le', o); }
  gt(o: Scalarish): Tensor { return this.binary('gt', o); }
  ge(o: Scalarish): Tensor { return this.binary('ge', o); }

  /** where(cond, a, b): a where cond is non-zero, else b (broadcast). */
  static where(cond: Tensor, a: Scalarish, b: Scalarish): Tensor {
    const engine = cond.engine;
    const dtype = promote(a instanceof Tensor ? a.dtype : 'f32', b instanceof Tensor ? b.dtype : 'f32');
    const ta = a instanceof Tensor ? a : engine.scalar(a, dtype);
    const tb = b instanceof Tensor ? b : engine.scalar(b, dtype);
    const ca = ta.dtype === dtype ? ta : ta.to(dtype);
    const cb = tb.dtype === dtype ? tb : tb.to(dtype);
    const y = Tensor.elementwise({ name: 'where', names: ['c', 'a', 'b'], expr: WHERE.forward, outDtype: dtype }, [cond, ca, cb]);
    return ca.record(y, 'where', [ca, cb], (dy) => [
      sumToOwned(Tensor.elementwise({ name: 'where_ga', names: ['c', 'dy'], expr: WHERE.gradA, outDtype: dy.dtype }, [cond, dy]), ca.shape),
      sumToOwned(Tensor.elementwise({ name: 'where_gb', names: ['c', 'dy'], expr: WHERE.gradB, outDtype: dy.dtype }, [cond, dy]), cb.shape),
    ]);
  }

  clamp(min?: number, max?: number): Tensor {
    return this.composite(() => {
      let out: Tensor = this;
      if (min !== undefined) out = out.maximum(min);
      if (max !== undefined) out = out.minimum(max);
      return out === this ? this.detachedClone() : out;
    });
  }

  // ---- reductions -----------------------------------------------------------------------------

  private reduceDims(dim: Dims): number[] {
    if (dim === null || dim === undefined) return this.shape.map((_, i) => i);
    const dims = (typeof dim === 'number' ? [dim] : [...dim]).map((d) => normalizeDim(d, this.rank));
    return [...new Set(dims)].sort((x, y) => x - y);
  }

  private keptShape(dims: readonly number[], keepdim: boolean): number[] {
    return keepdim ? this.shape.map((d, i) => (dims.includes(i) ? 1 : d)) : this.shape.filter((_, i) => !dims.includes(i));
  }

  reduce(name: string, dim?: Dims, keepdim = false): Tensor {
    const spec = REDUCE_BY_NAME.get(name);
    if (!spec) throw new Error(`unknown reduction "${name}"`);
    const x = this.floatInput(spec);
    const dims = x.rank === 0 ? [] : x.reduceDims(dim);
    for (const d of dims) {
      if (x.shape[d] === 0 && (name.startsWith('arg') || name === 'max' || name === 'min')) {
        throw new Error(`${name}() over an empty dimension`);
      }
    }
    const outDtype = spec.out === 'i32' ? 'i32' : x.dtype;
    const kept = x.keptShape(dims, false);
    const ref = this.engine.newStorage(outDtype, numel(kept));
    this.engine.backend.reduce(spec, x.view(), dims, ref.storage, outDtype);
    const shape = x.keptShape(dims, keepdim);
    const y = this.engine.wrap(ref, outDtype, shape, contiguousStrides(shape), 0);
    if (x !== this) x.free();
    if (spec.arg || !isFloat(outDtype) || x !== this) return y;
    return x.record(y, name, [x], (dy) => {
      const g = dy.reshape(x.keptShape(dims, true));
      const n = dims.reduce((p, d) => p * x.shape[d]!, 1);
      const yk = y.reshape(x.keptShape(dims, true));
      const grad = (): Tensor => {
        if (name === 'sum') return g.expand(x.shape);
        if (name === 'mean') return owned([g.div(n)], (t) => t.expand(x.shape));
        if (name === 'prod') return owned([g.mul(yk)], (t) => t.div(x));
        // max/min: the gradient is shared equally among the elements that attain the extreme.
        const eq = x.eq(yk);
        const mask = eq.to(x.dtype);
        const count = mask.sum(dims, true);
        const masked = mask.mul(g);
        const out = masked.div(count);
        [eq, mask, count, masked].forEach((t) => t.free());
        return out;
      };
      const out = grad();
      g.free();
      yk.free();
      return [out];
    });
  }

  sum(dim?: Dims, keepdim = false): Tensor { return this.reduce('sum', dim, keepdim); }
  mean(dim?: Dims, keepdim = false): Tensor { return this.reduce('mean', dim, keepdim); }
  prod(dim?: Dims, keepdim = false): Tensor { return this.reduce('prod', dim, keepdim); }
  max(dim?: Dims, keepdim = false): Tensor { return this.reduce('max', dim, keepdim); }
  min(dim?: Dims, keepdim = false): Tensor { return this.reduce('min', dim, keepdim); }
  argmax(dim?: number | null, keepdim = false): Tensor { return this.reduce('argmax', dim ?? null, keepdim); }
  argmin(dim?: number | null, keepdim = false): Tensor { return this.reduce('argmin', dim ?? null, keepdim); }

  /** Variance with Bessel's correction by default (torch.var's `correction=1`). */
  var(dim?: Dims, keepdim = false, correction = 1): Tensor {
    const dims = this.reduceDims(dim);
    const n = dims.reduce((p, d) => p * this.shape[d]!, 1);
    return this.composite(() => {
      const d = this.sub(this.mean(dims, true));
      return d.mul(d).sum(dims, keepdim).div(Math.max(n - correction, 0));
    });
  }

  std(dim?: Dims, keepdim = false, correction = 1): Tensor {
    return this.composite(() => this.var(dim, keepdim, correction).sqrt());
  }

  /** Sums a broadcast result back down to `shape` (the gradient rule for broadcast operands). */
  sumTo(shape: Shape): Tensor {
    if (sameShape(this.shape, shape)) return this;
    const lead = this.rank - shape.length;
    const dims: number[] = [];
    for (let i = 0; i < this.rank; i++) {
      if (i < lead || (shape[i - lead] === 1 && this.shape[i] !== 1)) dims.push(i);
    }
    if (!dims.length) return this.reshape(shape);
    const s = this.sum(dims, true);
    const out = s.reshape(shape);
    if (!(isGradEnabled() && s.requiresGrad)) s.free();
    return out;
  }

  /** Composite ops free their temporaries at once unless a graph is being recorded through them. */
  private composite(fn: () => Tensor, ...others: (Tensor | null | undefined)[]): Tensor {
    const recording = isGradEnabled() && [this, ...others].some((t) => t?.requiresGrad);
    return recording ? fn() : this.engine.tidy(fn);
  }

  softmax(dim = -1): Tensor {
    return this.composite(() => {
      const e = this.sub(this.detach().max(dim, true)).exp();
      return e.div(e.sum(dim, true));
    });
  }

  logSoftmax(dim = -1): Tensor {
    return this.composite(() => {
      const shifted = this.sub(this.detach().max(dim, true));
      return shifted.sub(shifted.exp().sum(dim, true).log());
    });
  }

  /** Layer norm over the last `normalizedShape.length` dims (biased variance, as PyTorch). */
  layerNorm(normalizedShape: readonly number[], weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
    const k = normalizedShape.length;
    if (!sameShape(this.shape.slice(this.rank - k), normalizedShape)) {
      throw new Error(`layerNorm: normalized_shape [${normalizedShape}] does not match the end of [${this.shape}]`);
    }
    const dims = normalizedShape.map((_, i) => this.rank - k + i);
    return this.composite(() => {
      const centered = this.sub(this.mean(dims, true));
      const variance = centered.mul(centered).mean(dims, true);
      let out = centered.mul(variance.add(eps).rsqrt());
      if (weight) out = out.mul(weight);
      if (bias) out = out.add(bias);
      return out;
    }, weight, bias);
  }

  // ---- matmul ---------------------------------------------------------------------------------

  /** torch.matmul: 1-D operands are promoted and the added dim removed; batch dims broadcast. */
  matmul(other: Tensor): Tensor {
    if (this.rank === 0 || other.rank === 0) throw new Error('matmul needs operands of rank >= 1');
    const a = this.rank === 1 ? this.unsqueeze(0) : this;
    const b = other.rank === 1 ? other.unsqueeze(1) : other;
    let y = Tensor.mm(a, b);
    if (this.rank === 1) y = y.squeeze(-2);
    if (other.rank === 1) y = y.squeeze(-1);
    return y;
  }

  private static mm(a: Tensor, b: Tensor): Tensor {
    const K = a.shape[a.rank - 1]!;
    if (b.shape[b.rank - 2] !== K) {
      throw new Error(`matmul: [${a.shape}] @ [${b.shape}]: inner sizes ${K} and ${b.shape[b.rank - 2]} differ`);
    }
    if (!isFloat(a.dtype) || a.dtype !== b.dtype) {
      const dtype = promote(a.dtype, b.dtype) === 'i32' ? 'f32' : promote(a.dtype, b.dtype);
      if (a.dtype !== dtype) a = a.to(dtype);
      if (b.dtype !== dtype) b = b.to(dtype);
    }
    const M = a.shape[a.rank - 2]!;
    const N = b.shape[b.rank - 1]!;
    const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
    const av = a.view();
    const bv = b.view();
    const aShape = [...batch, M, K];
    const bShape = [...batch, K, N];
    const outShape = [...batch, M, N];
    const ref = a.engine.newStorage(a.dtype, numel(outShape));
    // Wrapped before the kernel runs: a kernel stopped by the backend's interrupt throws, and the
    // output must then be in the tidy() scope to be freed.
    const y = a.engine.wrap(ref, a.dtype, outShape, contiguousStrides(outShape), 0);
    a.engine.backend.matmul(
      { ...av, shape: aShape, strides: broadcastStrides(av.shape, av.strides, aShape) },
      { ...bv, shape: bShape, strides: broadcastStrides(bv.shape, bv.strides, bShape) },
      ref.storage,
    );
    return a.record(y, 'matmul', [a, b], (dy) => [
      a.requiresGrad ? owned([b.transpose(-1, -2)], (bt) => sumToOwned(Tensor.mm(dy, bt), a.shape)) : null,
      b.requiresGrad ? owned([a.transpose(-1, -2)], (at) => sumToOwned(Tensor.mm(at, dy), b.shape)) : null,
    ]);
  }

  // ---- views ----------------------------------------------------------------------------------

  reshape(shape: readonly number[]): Tensor {
    const target = [...shape];
    const infer = target.indexOf(-1);
    if (infer >= 0) {
      const known = target.reduce((p, d, i) => (i === infer ? p : p * d), 1);
      target[infer] = known === 0 ? 0 : this.size / known;
    }
    if (numel(target) !== this.size || target.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new Error(`reshape: cannot view [${this.shape}] (${this.size} elements) as [${shape}]`);
    }
    const src = this.isContiguous ? this : this.contiguous();
    const y = src.viewAs(target, contiguousStrides(target), src.offset);
    if (src !== this) src.free();
    return this.record(y, 'reshape', [this], (dy) => [dy.reshape(this.shape)]);
  }

  view_(shape: readonly number[]): Tensor {
    return this.reshape(shape);
  }

  flatten(): Tensor {
    return this.reshape([-1]);
  }

  permute(dims: readonly number[]): Tensor {
    const order = dims.map((d) => normalizeDim(d, this.rank));
    if (order.length !== this.rank || new Set(order).size !== this.rank) {
      throw new Error(`permute: [${dims}] is not a permutation of ${this.rank} dims`);
    }
    const y = this.viewAs(order.map((d) => this.shape[d]!), order.map((d) => this.strides[d]!), this.offset);
    const inverse = new Array<number>(order.length);
    order.forEach((d, i) => (inverse[d] = i));
    return this.record(y, 'permute', [this], (dy) => [dy.permute(inverse)]);
  }

  transpose(dim0 = -2, dim1 = -1): Tensor {
    const order = this.shape.map((_, i) => i);
    const a = normalizeDim(dim0, this.rank);
    const b = normalizeDim(dim1, this.rank);
    [order[a], order[b]] = [order[b]!, order[a]!];
    return this.permute(order);
  }

  /** Matrix transpose of the last two dims (`.T` / `.mT`). */
  get T(): Tensor {
    return this.rank < 2 ? this.detach() : this.transpose(-2, -1);
  }

  /** Python-style slice along one dim: start/end may be negative or out of range (clamped). */
  slice(dim: number, start = 0, end?: number, step = 1): Tensor {
    const d = normalizeDim(dim, this.rank);
    const n = this.shape[d]!;
    if (!Number.isInteger(step) || step <= 0) throw new Error('slice: step must be a positive integer');
    const clampIndex = (i: number): number => Math.min(Math.max(i < 0 ? i + n : i, 0), n);
    const s = clampIndex(start);
    const e = clampIndex(end ?? n);
    const len = Math.max(0, Math.ceil((e - s) / step));
    const shape = [...this.shape];
    const strides = [...this.strides];
    shape[d] = len;
    strides[d] = this.strides[d]! * step;
    const y = this.viewAs(shape, strides, this.offset + s * this.strides[d]!);
    return this.record(y, 'slice', [this], (dy) => {
      const g = this.engine.zeros(this.shape, { dtype: dy.dtype });
      const window = g.slice(d, s, e, step);
      window.copyFrom(dy);
      window.free();
      return [g];
    });
  }

  narrow(dim: number, start: number, length: number): Tensor {
    return this.slice(dim, start, start + length);
  }

  /** Stretches size-1 dims (and adds leading ones) without copying: stride 0. -1 keeps a size. */
  expand(shape: readonly number[]): Tensor {
    const lead = shape.length - this.rank;
    if (lead < 0) throw new Error(`expand: [${this.shape}] to fewer dims [${shape}]`);
    const outShape = shape.map((s, i) => (s === -1 ? (i < lead ? 1 : this.shape[i - lead]!) : s));
    const strides = outShape.map((s, i) => {
      if (i < lead) return 0;
      const own = this.shape[i - lead]!;
      if (own === s) return this.strides[i - lead]!;
      if (own === 1) return 0;
      throw new Error(`expand: cannot expand [${this.shape}] to [${shape}]`);
    });
    const y = this.viewAs(outShape, strides, this.offset);
    return this.record(y, 'expand', [this], (dy) => [dy.sumTo(this.shape)]);
  }

  squeeze(dim?: number): Tensor {
    const drop = dim === undefined ? this.shape.map((s, i) => (s === 1 ? i : -1)).filter((i) => i >= 0) : [normalizeDim(dim, this.rank)];
    const keep = this.shape.map((_, i) => i).filter((i) => !(drop.includes(i) && this.shape[i] === 1));
    const y = this.viewAs(keep.map((i) => this.shape[i]!), keep.map((i) => this.strides[i]!), this.offset);
    return this.record(y, 'squeeze', [this], (dy) => [dy.reshape(this.shape)]);
  }

  unsqueeze(dim: number): Tensor {
    const d = normalizeDim(dim < 0 ? dim + this.rank + 1 : dim, this.rank + 1);
    const shape = [...this.shape];
    const strides = [...this.strides];
    shape.splice(d, 0, 1);
    strides.splice(d, 0, d < this.rank ? this.strides[d]! * this.shape[d]! : 1);
    const y = this.viewAs(shape, strides, this.offset);
    return this.record(y, 'unsqueeze', [this], (dy) => [dy.reshape(this.shape)]);
  }

  /** A contiguous copy if this view is strided; otherwise a new handle on the same storage. */
  contiguous(): Tensor {
    if (this.isContiguous) {
      const y = this.viewAs(this.shape, contiguousStrides(this.shape), this.offset);
      return this.record(y, 'contiguous', [this], (dy) => [dy.detach()]);
    }
    const y = Tensor.elementwise({ name: 'copy', names: ['x'], expr: 'x', outDtype: this.dtype }, [this]);
    return this.record(y, 'contiguous', [this], (dy) => [dy.detach()]);
  }

  static cat(tensors: readonly Tensor[], dim = 0): Tensor {
    if (tensors.length === 0) throw new Error('cat of no tensors');
    const first = tensors[0]!;
    const d = normalizeDim(dim, first.rank);
    const dtype = tensors.map((t) => t.dtype).reduce(promote);
    for (const t of tensors) {
      if (t.rank !== first.rank || t.shape.some((s, i) => i !== d && s !== first.shape[i])) {
        throw new Error(`cat: shapes [${first.shape}] and [${t.shape}] differ outside dim ${dim}`);
      }
    }
    const shape = [...first.shape];
    shape[d] = tensors.reduce((p, t) => p + t.shape[d]!, 0);
    const engine = first.engine;
    const out = engine.wrap(engine.newStorage(dtype, numel(shape)), dtype, shape, contiguousStrides(shape), 0);
    const starts: number[] = [];
    let at = 0;
    for (const t of tensors) {
      starts.push(at);
      const window = out.slice(d, at, at + t.shape[d]!);
      window.copyFrom(t.dtype === dtype ? t : t.to(dtype));
      window.free();
      at += t.shape[d]!;
    }
    return first.record(out, 'cat', tensors, (dy) => tensors.map((t, i) => dy.slice(d, starts[i], starts[i]! + t.shape[d]!)));
  }
}

function unaryGrad(spec: UnarySpec, x: Tensor, y: Tensor, dy: Tensor): Tensor {
  if (!spec.backward) return x.engine.zerosLike(x);
  const vars = [...usedVars(parseExpr(spec.backward))];
  const bind: Record<string, Tensor> = { x, y, dy };
  return Tensor.elementwise({ name: `${spec.name}_grad`, names: vars, expr: spec.backward, outDtype: dy.dtype }, vars.map((v) => bind[v]!));
}

function binaryGrads(spec: BinarySpec, a: Tensor, b: Tensor, y: Tensor, dy: Tensor): (Tensor | null)[] {
  const bind: Record<string, Tensor> = { a, b, y, dy };
  const one = (expr: string | undefined, which: Tensor, tag: string): Tensor | null => {
    if (!expr || !which.requiresGrad) return null;
    const vars = [...usedVars(parseExpr(expr))];
    const full = Tensor.elementwise({ name: `${spec.name}_${tag}`, names: vars, expr, outDtype: dy.dtype }, vars.map((v) => bind[v]!));
    return sumToOwned(full, which.shape);
  };
  return [one(spec.gradA, a, 'ga'), one(spec.gradB, b, 'gb')];
}

/** sumTo that frees its input when it made a new tensor (for temporaries inside backward). */
function sumToOwned(t: Tensor, shape: Shape): Tensor {
  const out = t.sumTo(shape);
  if (out !== t) t.free();
  return out;
}

/** Runs fn on temporaries and frees them afterwards. */
function owned(temps: Tensor[], fn: (...t: Tensor[]) => Tensor): Tensor {
  try {
    return fn(...temps);
  } finally {
    temps.forEach((t) => t.free());
  }
}
