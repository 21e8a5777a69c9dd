// Shape and stride arithmetic shared by the Tensor API and both backends. Pure.
export type Shape = readonly number[];

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

export function isContiguous(shape: Shape, strides: Shape): boolean {
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && strides[i] !== s) return false;
    s *= shape[i]!;
  }
  return true;
}

/** NumPy broadcasting: align from the right; a dimension of 1 stretches. */
export function broadcastShapes(...shapes: Shape[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const o = rank - s.length + i;
      const d = s[i]!;
      if (d === 1) continue;
      if (out[o] !== 1 && out[o] !== d) {
        throw new Error(`shapes [${shapes.map((x) => x.join(',')).join('] and [')}] do not broadcast`);
      }
      out[o] = d;
    }
  }
  return out;
}

/** Strides that read a tensor of `shape`/`strides` as if it had `target` shape (0 on stretched dims). */
export function broadcastStrides(shape: Shape, strides: Shape, target: Shape): number[] {
  const out = new Array<number>(target.length).fill(0);
  for (let i = 0; i < shape.length; i++) {
    const o = target.length - shape.length + i;
    out[o] = shape[i] === 1 && target[o] !== 1 ? 0 : strides[i]!;
  }
  return out;
}

export function normalizeDim(dim: number, rank: number): number {
  const d = dim < 0 ? dim + rank : dim;
  if (!Number.isInteger(d) || d < 0 || d >= Math.max(rank, 1)) {
    throw new Error(`dim ${dim} is out of range for a tensor of rank ${rank}`);
  }
  return d;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function checkShape(shape: Shape): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`bad shape [${shape.join(',')}]: sizes are integers >= 0`);
  }
}

/**
 * Merges adjacent dims that every operand walks contiguously (stride[d] = stride[d+1]·shape[d+1]),
 * so kernels do fewer index divisions: a contiguous [256, 256] add runs as rank 1.
 */
export function coalesceDims(shape: Shape, strides: readonly Shape[]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1 && shape.length > 1) continue; // size-1 dims never move the index
    const last = outShape.length - 1;
    if (last >= 0 && strides.every((s, i) => outStrides[i]![last] === s[d]! * shape[d]!)) {
      outShape[last] = outShape[last]! * shape[d]!;
      strides.forEach((s, i) => (outStrides[i]![last] = s[d]!));
    } else {
      outShape.push(shape[d]!);
      strides.forEach((s, i) => outStrides[i]!.push(s[d]!));
    }
  }
  return { shape: outShape, strides: outStrides };
}

/** A reduction's view of its input: the kept dims and the reduced dims, each with its strides. */
export function splitReduceDims(shape: Shape, strides: Shape, dims: readonly number[]) {
  const kept = { shape: [] as number[], strides: [] as number[] };
  const reduced = { shape: [] as number[], strides: [] as number[] };
  shape.forEach((d, i) => {
    const side = dims.includes(i) ? reduced : kept;
    side.shape.push(d);
    side.strides.push(strides[i]!);
  });
  return { keptShape: kept.shape, keptStrides: kept.strides, redShape: reduced.shape, redStrides: reduced.strides };
}

/** A (batched) matmul's sizes: a is [...batch, M, K], b is [...batch, K, N]. */
export function matmulDims(a: Shape, b: Shape): { M: number; K: number; N: number; batchShape: number[]; batches: number } {
  const r = a.length;
  const batchShape = a.slice(0, r - 2);
  return { M: a[r - 2]!, K: a[r - 1]!, N: b[r - 1]!, batchShape, batches: numel(batchShape) };
}
