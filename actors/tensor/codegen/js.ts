// JavaScript kernel generator: the same op specs as the WGSL generator, compiled with `new Function`
// into loops specialized by rank. These kernels are the fallback backend and the oracle in tests.
import type { DType, HostArray } from '../dtype.ts';
import type { ReduceSpec } from '../ops/specs.ts';
import { initLiteral, parseExpr, toJs } from './expr.ts';

// Round half to even, as WGSL's round() and NumPy's np.round do (Math.round rounds half up).
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const PRELUDE: Readonly<Record<string, (...args: number[]) => number>> = {
  F_exp: Math.exp, F_exp2: (x) => 2 ** x, F_log: Math.log, F_log2: Math.log2, F_sqrt: Math.sqrt,
  F_inverseSqrt: (x) => 1 / Math.sqrt(x), F_sin: Math.sin, F_cos: Math.cos, F_tan: Math.tan,
  F_asin: Math.asin, F_acos: Math.acos, F_atan: Math.atan, F_atan2: Math.atan2, F_tanh: Math.tanh,
  F_abs: Math.abs, F_sign: Math.sign, F_floor: Math.floor, F_ceil: Math.ceil, F_round: roundHalfEven,
  F_trunc: Math.trunc, F_max: Math.max, F_min: Math.min, F_pow: Math.pow,
  F_select: (f, t, c) => (c ? t : f),
};
const PRELUDE_NAMES = Object.keys(PRELUDE);
const PRELUDE_VALUES = Object.values(PRELUDE);

export type ElementwiseJs = (
  ins: readonly HostArray[],
  out: HostArray,
  shape: readonly number[],
  outStrides: readonly number[],
  outOffset: number,
  inStrides: readonly (readonly number[])[],
  inOffsets: readonly number[],
) => void;

/** Source of an elementwise kernel: nested loops over `rank` dims, one offset per operand. */
export function elementwiseJsSource(names: readonly string[], expr: string, rank: number): string {
  const body = toJs(parseExpr(expr), (v) => {
    const i = names.indexOf(v);
    if (i < 0) throw new Error(`op expression uses unknown variable "${v}"`);
    return `v${i}`;
  });
  const lines: string[] = [];
  names.forEach((_, i) => lines.push(`const in${i} = ins[${i}];`));
  for (let d = 0; d < rank; d++) {
    lines.push(`const n${d} = shape[${d}], so${d} = outStrides[${d}];`);
    names.forEach((_, i) => lines.push(`const s${i}_${d} = inStrides[${i}][${d}];`));
  }
  const open: string[] = [];
  const offs = (d: number, base: string): void => {
    open.push(`let o_${d} = ${base === 'root' ? 'outOffset' : `o_${d - 1}`};`);
    names.forEach((_, i) => open.push(`let p${i}_${d} = ${base === 'root' ? `inOffsets[${i}]` : `p${i}_${d - 1}`};`));
  };
  offs(0, 'root');
  let inner = '';
  for (let d = 0; d < rank; d++) {
    inner += `for (let i${d} = 0; i${d} < n${d}; i${d}++) {\n`;
    inner += `const o_${d + 1} = o_${d} + i${d} * so${d};\n`;
    names.forEach((_, i) => (inner += `const p${i}_${d + 1} = p${i}_${d} + i${d} * s${i}_${d};\n`));
  }
  names.forEach((_, i) => (inner += `const v${i} = in${i}[p${i}_${rank}];\n`));
  inner += `out[o_${rank}] = ${body};\n`;
  inner += '}\n'.repeat(rank);
  return `${lines.join('\n')}\n${open.join('\n')}\n${inner}`;
}

const elementwiseCache = new Map<string, ElementwiseJs>();

export function elementwiseJs(names: readonly string[], expr: string, rank: number): ElementwiseJs {
  const key = `${names.join(',')}|${expr}|${rank}`;
  let fn = elementwiseCache.get(key);
  if (!fn) {
    const src = elementwiseJsSource(names, expr, rank);
    const make = new Function(...PRELUDE_NAMES, `return function (ins, out, shape, outStrides, outOffset, inStrides, inOffsets) {\n${src}\n};`);
    fn = make(...PRELUDE_VALUES) as ElementwiseJs;
    elementwiseCache.set(key, fn);
  }
  return fn;
}

export type ReduceJs = (
  input: HostArray,
  out: HostArray,
  keptShape: readonly number[],
  keptStrides: readonly number[],
  redShape: readonly number[],
  redStrides: readonly number[],
  offset: number,
) => void;

/** Source of a reduction: one loop over kept indices, an inner loop over the reduced ones. */
export function reduceJsSource(spec: ReduceSpec, dtype: DType): string {
  const combine = spec.arg ? '' : toJs(parseExpr(spec.combine));
  const better = spec.arg ? toJs(parseExpr(spec.combine)) : '';
  const finalize = toJs(parseExpr(spec.finalize));
  return `
let nOut = 1; for (const d of keptShape) nOut *= d;
let n = 1; for (const d of redShape) n *= d;
const kr = keptShape.length, rr = redShape.length;
for (let o = 0; o < nOut; o++) {
  let base = offset, rem = o;
  for (let d = kr - 1; d >= 0; d--) { const c = rem % keptShape[d]; rem = (rem - c) / keptShape[d]; base += c * keptStrides[d]; }
  let acc = ${initLiteral(spec.init, dtype, 'js')};
  let best = 0;
  for (let r = 0; r < n; r++) {
    let p = base, rr2 = r;
    for (let d = rr - 1; d >= 0; d--) { const c = rr2 % redShape[d]; rr2 = (rr2 - c) / redShape[d]; p += c * redStrides[d]; }
    const x = input[p];
    ${spec.arg ? `if (${better} || (r === 0)) { acc = x; best = r; }` : `acc = ${combine};`}
  }
  ${spec.arg ? 'out[o] = best;' : `out[o] = ${finalize};`}
}`;
}

const reduceCache = new Map<string, ReduceJs>();

export function reduceJs(spec: ReduceSpec, dtype: DType): ReduceJs {
  const key = `${spec.name}|${dtype}`;
  let fn = reduceCache.get(key);
  if (!fn) {
    const make = new Function(...PRELUDE_NAMES, `return function (input, out, keptShape, keptStrides, redShape, redStrides, offset) {\n${reduceJsSource(spec, dtype)}\n};`);
    fn = make(...PRELUDE_VALUES) as ReduceJs;
    reduceCache.set(key, fn);
  }
  return fn;
}
