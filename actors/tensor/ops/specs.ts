// Every op is data: a name, its kind, small forward/backward expressions and dtype rules.
// One generator turns these into WGSL kernels, another into JavaScript kernels (codegen/).
// Expressions use a tiny common language: + - * / % < <= > >= == !=, numeric literals, the
// variables listed per kind, and the functions in codegen/expr.ts (exp, log, select(f, t, cond), …).
//   unary:   forward over x; backward over x, y (the output), dy (the output's gradient)
//   binary:  forward over a, b; backward gradA/gradB over a, b, y, dy
//   reduce:  combine(acc, x) folded from init; finalize over acc and n (the reduced count)
import type { DType } from '../dtype.ts';

export type DTypeRule = 'same' | 'i32';

export interface UnarySpec {
  name: string;
  kind: 'unary';
  forward: string;
  /** Omitted: not differentiable (gradient is zero / the op is discrete). */
  backward?: string;
  dtypes: readonly DType[];
  /** NumPy expression used by scripts/tensor-fixtures.py to make the reference values. */
  numpy: string;
  /** Input domain for fixtures and tests: values are drawn from it. */
  domain?: readonly [number, number];
  /** Absolute+relative tolerance when comparing WebGPU with the JS oracle and NumPy. */
  tol: number;
}

export interface BinarySpec {
  name: string;
  kind: 'binary';
  forward: string;
  gradA?: string;
  gradB?: string;
  dtypes: readonly DType[];
  out: DTypeRule;
  numpy: string;
  domainA?: readonly [number, number];
  domainB?: readonly [number, number];
  tol: number;
}

export interface ReduceSpec {
  name: string;
  kind: 'reduction';
  /** 'zero' | 'one' | '-inf' | '+inf': turned into a typed literal per dtype by the generators. */
  init: 'zero' | 'one' | '-inf' | '+inf';
  combine: string;
  finalize: string;
  /** Arg-reductions track the index of the winner (first one on ties, as NumPy). */
  arg?: boolean;
  dtypes: readonly DType[];
  out: DTypeRule;
  numpy: string;
  tol: number;
}

const F: readonly DType[] = ['f32', 'f16'];
const FI: readonly DType[] = ['f32', 'f16', 'i32'];

const GELU_U = '0.7978845608028654 * (x + 0.044715 * x * x * x)';
const SIG = '(1.0 / (1.0 + exp(-x)))';

// asin/acos are written through atan2: lavapipe's native asin/acos are off by ~2e-4.
export const UNARY: readonly UnarySpec[] = [
  { name: 'neg', kind: 'unary', forward: '-x', backward: '-dy', dtypes: FI, numpy: '-x', tol: 0 },
  { name: 'abs', kind: 'unary', forward: 'abs(x)', backward: 'dy * sign(x)', dtypes: FI, numpy: 'np.abs(x)', tol: 0 },
  { name: 'exp', kind: 'unary', forward: 'exp(x)', backward: 'dy * y', dtypes: F, numpy: 'np.exp(x)', domain: [-4, 4], tol: 1e-5 },
  { name: 'exp2', kind: 'unary', forward: 'exp2(x)', backward: 'dy * y * 0.6931471805599453', dtypes: F, numpy: 'np.exp2(x)', domain: [-4, 4], tol: 1e-5 },
  { name: 'expm1', kind: 'unary', forward: 'exp(x) - 1.0', backward: 'dy * (y + 1.0)', dtypes: F, numpy: 'np.expm1(x)', domain: [-3, 3], tol: 1e-5 },
  { name: 'log', kind: 'unary', forward: 'log(x)', backward: 'dy / x', dtypes: F, numpy: 'np.log(x)', domain: [0.1, 5], tol: 1e-5 },
  { name: 'log2', kind: 'unary', forward: 'log2(x)', backward: 'dy / (x * 0.6931471805599453)', dtypes: F, numpy: 'np.log2(x)', domain: [0.1, 5], tol: 1e-5 },
  { name: 'log1p', kind: 'unary', forward: 'log(1.0 + x)', backward: 'dy / (1.0 + x)', dtypes: F, numpy: 'np.log1p(x)', domain: [0, 4], tol: 1e-5 },
  { name: 'sqrt', kind: 'unary', forward: 'sqrt(x)', backward: 'dy * 0.5 / y', dtypes: F, numpy: 'np.sqrt(x)', domain: [0.1, 5], tol: 1e-5 },
  { name: 'rsqrt', kind: 'unary', forward: 'inverseSqrt(x)', backward: 'dy * -0.5 * y * y * y', dtypes: F, numpy: '1 / np.sqrt(x)', domain: [0.1, 5], tol: 1e-5 },
  { name: 'square', kind: 'unary', forward: 'x * x', backward: 'dy * 2.0 * x', dtypes: FI, numpy: 'x * x', tol: 1e-6 },
  { name: 'reciprocal', kind: 'unary', forward: '1.0 / x', backward: '-dy * y * y', dtypes: F, numpy: '1 / x', domain: [0.2, 4], tol: 1e-5 },
  { name: 'sin', kind: 'unary', forward: 'sin(x)', backward: 'dy * cos(x)', dtypes: F, numpy: 'np.sin(x)', domain: [-3, 3], tol: 1e-5 },
  { name: 'cos', kind: 'unary', forward: 'cos(x)', backward: '-dy * sin(x)', dtypes: F, numpy: 'np.cos(x)', domain: [-3, 3], tol: 1e-5 },
  { name: 'tan', kind: 'unary', forward: 'tan(x)', backward: 'dy * (1.0 + y * y)', dtypes: F, numpy: 'np.tan(x)', domain: [-1.2, 1.2], tol: 1e-4 },
  { name: 'asin', kind: 'unary', forward: 'atan2(x, sqrt(1.0 - x * x))', backward: 'dy * inverseSqrt(1.0 - x * x)', dtypes: F, numpy: 'np.arcsin(x)', domain: [-0.9, 0.9], tol: 1e-5 },
  { name: 'acos', kind: 'unary', forward: 'atan2(sqrt(1.0 - x * x), x)', backward: '-dy * inverseSqrt(1.0 - x * x)', dtypes: F, numpy: 'np.arccos(x)', domain: [-0.9, 0.9], tol: 1e-5 },
  { name: 'atan', kind: 'unary', forward: 'atan(x)', backward: 'dy / (1.0 + x * x)', dtypes: F, numpy: 'np.arctan(x)', tol: 1e-5 },
  { name: 'tanh', kind: 'unary', forward: 'tanh(x)', backward: 'dy * (1.0 - y * y)', dtypes: F, numpy: 'np.tanh(x)', tol: 1e-5 },
  { name: 'sigmoid', kind: 'unary', forward: SIG.replace(/x/g, 'x'), backward: 'dy * y * (1.0 - y)', dtypes: F, numpy: '1 / (1 + np.exp(-x))', tol: 1e-5 },
  { name: 'relu', kind: 'unary', forward: 'max(x, 0.0)', backward: 'select(0.0, dy, x > 0.0)', dtypes: F, numpy: 'np.maximum(x, 0)', tol: 0 },
  // GELU with the tanh approximation (PyTorch's approximate='tanh'): WGSL has no erf.
  {
    name: 'gelu', kind: 'unary', forward: `0.5 * x * (1.0 + tanh(${GELU_U}))`,
    backward: `dy * (0.5 * (1.0 + tanh(${GELU_U})) + 0.5 * x * (1.0 - tanh(${GELU_U}) * tanh(${GELU_U})) * 0.7978845608028654 * (1.0 + 0.134145 * x * x))`,
    dtypes: F, numpy: '0.5 * x * (1 + np.tanh(0.7978845608028654 * (x + 0.044715 * x**3)))', tol: 1e-5,
  },
  { name: 'silu', kind: 'unary', forward: `x * ${SIG}`, backward: `dy * (${SIG} * (1.0 + x * (1.0 - ${SIG})))`, dtypes: F, numpy: 'x / (1 + np.exp(-x))', tol: 1e-5 },
  { name: 'softplus', kind: 'unary', forward: 'max(x, 0.0) + log(1.0 + exp(-abs(x)))', backward: `dy * ${SIG}`, dtypes: F, numpy: 'np.logaddexp(0, x)', tol: 1e-5 },
  { name: 'elu', kind: 'unary', forward: 'select(exp(x) - 1.0, x, x > 0.0)', backward: 'select(dy * (y + 1.0), dy, x > 0.0)', dtypes: F, numpy: 'np.where(x > 0, x, np.expm1(x))', tol: 1e-5 },
  { name: 'sign', kind: 'unary', forward: 'sign(x)', dtypes: FI, numpy: 'np.sign(x)', tol: 0 },
  { name: 'floor', kind: 'unary', forward: 'floor(x)', dtypes: F, numpy: 'np.floor(x)', tol: 0 },
  { name: 'ceil', kind: 'unary', forward: 'ceil(x)', dtypes: F, numpy: 'np.ceil(x)', tol: 0 },
  { name: 'round', kind: 'unary', forward: 'round(x)', dtypes: F, numpy: 'np.round(x)', tol: 0 },
  { name: 'trunc', kind: 'unary', forward: 'trunc(x)', dtypes: F, numpy: 'np.trunc(x)', tol: 0 },
  { name: 'frac', kind: 'unary', forward: 'x - floor(x)', backward: 'dy', dtypes: F, numpy: 'x - np.floor(x)', tol: 1e-6 },
];

export const BINARY: readonly BinarySpec[] = [
  { name: 'add', kind: 'binary', forward: 'a + b', gradA: 'dy', gradB: 'dy', dtypes: FI, out: 'same', numpy: 'a + b', tol: 1e-6 },
  { name: 'sub', kind: 'binary', forward: 'a - b', gradA: 'dy', gradB: '-dy', dtypes: FI, out: 'same', numpy: 'a - b', tol: 1e-6 },
  { name: 'mul', kind: 'binary', forward: 'a * b', gradA: 'dy * b', gradB: 'dy * a', dtypes: FI, out: 'same', numpy: 'a * b', tol: 1e-6 },
  { name: 'div', kind: 'binary', forward: 'a / b', gradA: 'dy / b', gradB: '-dy * a / (b * b)', dtypes: F, out: 'same', numpy: 'a / b', domainB: [0.5, 3], tol: 1e-5 },
  { name: 'pow', kind: 'binary', forward: 'pow(a, b)', gradA: 'dy * b * pow(a, b - 1.0)', gradB: 'dy * y * log(a)', dtypes: F, out: 'same', numpy: 'np.power(a, b)', domainA: [0.2, 3], domainB: [-2, 2], tol: 1e-4 },
  { name: 'maximum', kind: 'binary', forward: 'max(a, b)', gradA: 'select(0.0, dy, a >= b)', gradB: 'select(0.0, dy, b > a)', dtypes: FI, out: 'same', numpy: 'np.maximum(a, b)', tol: 0 },
  { name: 'minimum', kind: 'binary', forward: 'min(a, b)', gradA: 'select(0.0, dy, a <= b)', gradB: 'select(0.0, dy, b < a)', dtypes: FI, out: 'same', numpy: 'np.minimum(a, b)', tol: 0 },
  { name: 'atan2', kind: 'binary', forward: 'atan2(a, b)', gradA: 'dy * b / (a * a + b * b)', gradB: '-dy * a / (a * a + b * b)', dtypes: F, out: 'same', numpy: 'np.arctan2(a, b)', domainB: [0.5, 3], tol: 1e-5 },
  { name: 'fmod', kind: 'binary', forward: 'a % b', gradA: 'dy', gradB: '-dy * trunc(a / b)', dtypes: F, out: 'same', numpy: 'np.fmod(a, b)', domainB: [0.5, 3], tol: 1e-5 },
  { name: 'eq', kind: 'binary', forward: 'select(0, 1, a == b)', dtypes: FI, out: 'i32', numpy: '(a == b)', tol: 0 },
  { name: 'ne', kind: 'binary', forward: 'select(0, 1, a != b)', dtypes: FI, out: 'i32', numpy: '(a != b)', tol: 0 },
  { name: 'lt', kind: 'binary', forward: 'select(0, 1, a < b)', dtypes: FI, out: 'i32', numpy: '(a < b)', tol: 0 },
  { name: 'le', kind: 'binary', forward: 'select(0, 1, a <= b)', dtypes: FI, out: 'i32', numpy: '(a <= b)', tol: 0 },
  { name: 'gt', kind: 'binary', forward: 'select(0, 1, a > b)', dtypes: FI, out: 'i32', numpy: '(a > b)', tol: 0 },
  { name: 'ge', kind: 'binary', forward: 'select(0, 1, a >= b)', dtypes: FI, out: 'i32', numpy: '(a >= b)', tol: 0 },
];

export const REDUCE: readonly ReduceSpec[] = [
  { name: 'sum', kind: 'reduction', init: 'zero', combine: 'acc + x', finalize: 'acc', dtypes: FI, out: 'same', numpy: 'np.sum', tol: 1e-4 },
  { name: 'mean', kind: 'reduction', init: 'zero', combine: 'acc + x', finalize: 'acc / n', dtypes: F, out: 'same', numpy: 'np.mean', tol: 1e-5 },
  { name: 'prod', kind: 'reduction', init: 'one', combine: 'acc * x', finalize: 'acc', dtypes: FI, out: 'same', numpy: 'np.prod', tol: 1e-4 },
  { name: 'max', kind: 'reduction', init: '-inf', combine: 'max(acc, x)', finalize: 'acc', dtypes: FI, out: 'same', numpy: 'np.max', tol: 0 },
  { name: 'min', kind: 'reduction', init: '+inf', combine: 'min(acc, x)', finalize: 'acc', dtypes: FI, out: 'same', numpy: 'np.min', tol: 0 },
  { name: 'argmax', kind: 'reduction', init: '-inf', combine: 'x > acc', finalize: 'acc', arg: true, dtypes: FI, out: 'i32', numpy: 'np.argmax', tol: 0 },
  { name: 'argmin', kind: 'reduction', init: '+inf', combine: 'x < acc', finalize: 'acc', arg: true, dtypes: FI, out: 'i32', numpy: 'np.argmin', tol: 0 },
];

/** where(cond, a, b): the one ternary elementwise op. */
export const WHERE = {
  forward: 'select(b, a, c != 0)',
  gradA: 'select(0.0, dy, c != 0)',
  gradB: 'select(dy, 0.0, c != 0)',
} as const;

export const UNARY_BY_NAME = new Map(UNARY.map((s) => [s.name, s]));
export const BINARY_BY_NAME = new Map(BINARY.map((s) => [s.name, s]));
export const REDUCE_BY_NAME = new Map(REDUCE.map((s) => [s.name, s]));
