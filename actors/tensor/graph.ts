// Applies ops by name with PyTorch's argument names, for `tensor/run` graphs and fixture tests.
// Op names are the Tensor API's method names; snake_case aliases (log_softmax, layer_norm) are
// accepted because that is how PyTorch users spell them.
import type { Engine } from './engine.ts';
import { Tensor } from './tensor.ts';
import { BINARY_BY_NAME, REDUCE_BY_NAME, UNARY_BY_NAME } from './ops/specs.ts';
import { isDType } from './dtype.ts';

export type Attrs = Readonly<Record<string, unknown>>;

export class OpError extends Error {
  override name = 'OpError';
}

const ALIASES: Readonly<Record<string, string>> = {
  log_softmax: 'logSoftmax', layer_norm: 'layerNorm', view: 'reshape', cast: 'to', mm: 'matmul', bmm: 'matmul',
  swapaxes: 'transpose', concat: 'cat', concatenate: 'cat',
};

function num(attrs: Attrs, key: string, fallback?: number): number {
  const v = attrs[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new OpError(`attr "${key}" must be a number`);
  return v;
}

function optNum(attrs: Attrs, key: string): number | undefined {
  return attrs[key] === undefined || attrs[key] === null ? undefined : num(attrs, key);
}

function ints(attrs: Attrs, key: string): number[] {
  const v = attrs[key];
  if (!Array.isArray(v) || !v.every((d) => Number.isInteger(d))) throw new OpError(`attr "${key}" must be a list of integers`);
  return v as number[];
}

function dims(attrs: Attrs): number | number[] | null {
  const v = attrs.dim;
  if (v === undefined || v === null) return null;
  if (Number.isInteger(v)) return v as number;
  return ints(attrs, 'dim');
}

function bool(attrs: Attrs, key: string, fallback = false): boolean {
  const v = attrs[key] ?? fallback;
  if (typeof v !== 'boolean') throw new OpError(`attr "${key}" must be true or false`);
  return v;
}

export const GRAPH_OPS: readonly string[] = [
  ...UNARY_BY_NAME.keys(), ...BINARY_BY_NAME.keys(), ...REDUCE_BY_NAME.keys(), 'where', 'var', 'std', 'softmax',
  'logSoftmax', 'layerNorm', 'matmul', 'reshape', 'permute', 'transpose', 'T', 'slice', 'narrow', 'expand', 'squeeze',
  'unsqueeze', 'detach', 'contiguous', 'flatten', 'cat', 'clamp', 'to', 'clone', ...Object.keys(ALIASES),
];

export function applyOp(engine: Engine, opName: string, args: readonly Tensor[], attrs: Attrs = {}): Tensor {
  const op = ALIASES[opName] ?? opName;
  const arity = (n: number): void => {
    if (args.length !== n) throw new OpError(`${opName} takes ${n} tensor argument(s), got ${args.length}`);
  };
  if (UNARY_BY_NAME.has(op)) return (arity(1), args[0]!.unary(op));
  if (BINARY_BY_NAME.has(op)) {
    if (args.length === 1 && attrs.other !== undefined) return args[0]!.binary(op, num(attrs, 'other'));
    arity(2);
    return args[0]!.binary(op, args[1]!);
  }
  if (REDUCE_BY_NAME.has(op)) {
    arity(1);
    return args[0]!.reduce(op, dims(attrs), bool(attrs, 'keepdim'));
  }
  switch (op) {
    case 'where':
      arity(3);
      return Tensor.where(args[0]!, args[1]!, args[2]!);
    case 'var':
    case 'std': {
      arity(1);
      const correction = attrs.unbiased === false ? 0 : num(attrs, 'correction', 1);
      return op === 'var' ? args[0]!.var(dims(attrs), bool(attrs, 'keepdim'), correction) : args[0]!.std(dims(attrs), bool(attrs, 'keepdim'), correction);
    }
    case 'softmax':
      return (arity(1), args[0]!.softmax(num(attrs, 'dim', -1)));
    case 'logSoftmax':
      return (arity(1), args[0]!.logSoftmax(num(attrs, 'dim', -1)));
    case 'layerNorm': {
      if (args.length < 1 || args.length > 3) throw new OpError('layer_norm takes input[, weight[, bias]]');
      const shape = attrs.normalized_shape === undefined ? [args[0]!.shape[args[0]!.rank - 1]!] : ints(attrs, 'normalized_shape');
      return args[0]!.layerNorm(shape, args[1], args[2], num(attrs, 'eps', 1e-5));
    }
    case 'matmul':
      return (arity(2), args[0]!.matmul(args[1]!));
    case 'reshape':
      return (arity(1), args[0]!.reshape(ints(attrs, 'shape')));
    case 'permute':
      return (arity(1), args[0]!.permute(ints(attrs, 'dims')));
    case 'transpose':
      return (arity(1), args[0]!.transpose(num(attrs, 'dim0', -2), num(attrs, 'dim1', -1)));
    case 'T':
      // The property `.T` of the Tensor API: the last two dims swapped (a rank < 2 tensor as it is).
      return (arity(1), args[0]!.T);
    case 'detach':
      return (arity(1), args[0]!.detach());
    case 'slice':
      arity(1);
      return args[0]!.slice(num(attrs, 'dim', 0), num(attrs, 'start', 0), optNum(attrs, 'end'), num(attrs, 'step', 1));
    case 'narrow':
      return (arity(1), args[0]!.narrow(num(attrs, 'dim'), num(attrs, 'start'), num(attrs, 'length')));
    case 'expand':
      return (arity(1), args[0]!.expand(ints(attrs, attrs.size !== undefined ? 'size' : 'shape')));
    case 'squeeze':
      return (arity(1), args[0]!.squeeze(optNum(attrs, 'dim')));
    case 'unsqueeze':
      return (arity(1), args[0]!.unsqueeze(num(attrs, 'dim')));
    case 'contiguous':
      return (arity(1), args[0]!.contiguous());
    case 'flatten':
      return (arity(1), args[0]!.flatten());
    case 'clone':
      return (arity(1), args[0]!.clone());
    case 'clamp':
      return (arity(1), args[0]!.clamp(optNum(attrs, 'min'), optNum(attrs, 'max')));
    case 'to': {
      arity(1);
      const dtype = attrs.dtype;
      if (!isDType(dtype)) throw new OpError('attr "dtype" must be f32, i32 or f16');
      return args[0]!.to(dtype);
    }
    case 'cat':
      if (args.length === 0) throw new OpError('cat needs at least one tensor');
      return Tensor.cat(args, num(attrs, 'dim', 0));
    default:
      throw new OpError(`unknown op "${opName}"`);
  }
}
