// The small expression language of op specs: parsed once into a tree, then printed as JavaScript
// or WGSL. Fully parenthesized output, so the two languages' precedence rules never differ.
import type { DType } from '../dtype.ts';

export type Expr =
  | { t: 'num'; text: string }
  | { t: 'var'; name: string }
  | { t: 'neg'; e: Expr }
  | { t: 'bin'; op: string; l: Expr; r: Expr }
  | { t: 'call'; fn: string; args: Expr[] };

/** Functions an expression may call, with their arity. Both targets implement each one. */
export const FUNCTIONS: Readonly<Record<string, number>> = {
  exp: 1, exp2: 1, log: 1, log2: 1, sqrt: 1, inverseSqrt: 1, sin: 1, cos: 1, tan: 1, asin: 1, acos: 1,
  atan: 1, atan2: 2, tanh: 1, abs: 1, sign: 1, floor: 1, ceil: 1, round: 1, trunc: 1, max: 2, min: 2,
  pow: 2, select: 3,
};

const PRECEDENCE: Readonly<Record<string, number>> = {
  '==': 1, '!=': 1, '<': 2, '<=': 2, '>': 2, '>=': 2, '+': 3, '-': 3, '*': 4, '/': 4, '%': 4,
};

const cache = new Map<string, Expr>();

export function parseExpr(source: string): Expr {
  const hit = cache.get(source);
  if (hit) return hit;
  const tokens = source.match(/\d+\.?\d*(?:e[+-]?\d+)?|[A-Za-z_]\w*|==|!=|<=|>=|[-+*/%<>(),]|\S/g) ?? [];
  let pos = 0;
  const peek = (): string | undefined => tokens[pos];
  const take = (expected?: string): string => {
    const tok = tokens[pos++];
    if (tok === undefined || (expected !== undefined && tok !== expected)) {
      throw new Error(`bad op expression "${source}": expected ${expected ?? 'more'} at token ${pos}`);
    }
    return tok;
  };
  const primary = (): Expr => {
    const tok = take();
    if (tok === '(') {
      const e = binary(0);
      take(')');
      return e;
    }
    if (tok === '-') return { t: 'neg', e: primary() };
    if (/^\d/.test(tok)) return { t: 'num', text: tok };
    if (/^[A-Za-z_]/.test(tok)) {
      if (peek() !== '(') return { t: 'var', name: tok };
      take('(');
      const args: Expr[] = [];
      if (peek() !== ')') {
        args.push(binary(0));
        while (peek() === ',') {
          take(',');
          args.push(binary(0));
        }
      }
      take(')');
      if (FUNCTIONS[tok] !== args.length) throw new Error(`bad op expression "${source}": ${tok}/${args.length}`);
      return { t: 'call', fn: tok, args };
    }
    throw new Error(`bad op expression "${source}": unexpected "${tok}"`);
  };
  const binary = (minPrec: number): Expr => {
    let left = primary();
    for (;;) {
      const op = peek();
      const prec = op === undefined ? undefined : PRECEDENCE[op];
      if (op === undefined || prec === undefined || prec < minPrec) return left;
      take();
      const right = binary(prec + 1);
      left = { t: 'bin', op, l: left, r: right };
    }
  };
  const tree = binary(0);
  if (pos !== tokens.length) throw new Error(`bad op expression "${source}": trailing "${tokens[pos]}"`);
  cache.set(source, tree);
  return tree;
}

/** Names of the functions the JavaScript prelude must define (see codegen/js.ts). */
export function toJs(e: Expr, rename: (v: string) => string = (v) => v): string {
  switch (e.t) {
    case 'num':
      return e.text;
    case 'var':
      return rename(e.name);
    case 'neg':
      return `(-${toJs(e.e, rename)})`;
    case 'bin':
      return `(${toJs(e.l, rename)} ${e.op === '==' ? '===' : e.op === '!=' ? '!==' : e.op} ${toJs(e.r, rename)})`;
    case 'call':
      return `F_${e.fn}(${e.args.map((a) => toJs(a, rename)).join(', ')})`;
  }
}

export function toWgsl(e: Expr, dtype: DType, rename: (v: string) => string = (v) => v): string {
  const w = (x: Expr): string => toWgsl(x, dtype, rename);
  switch (e.t) {
    case 'num':
      // An abstract literal adapts to f32/f16/i32 operands; a literal with a '.' must not meet i32.
      return e.text;
    case 'var':
      return rename(e.name);
    case 'neg':
      return `(-${w(e.e)})`;
    case 'bin':
      return `(${w(e.l)} ${e.op} ${w(e.r)})`;
    case 'call': {
      const args = e.args.map(w);
      // tanh of a large argument is NaN on some drivers (exp overflow inside): clamp first.
      if (e.fn === 'tanh') return `tanh(clamp(${args[0]}, -15.0, 15.0))`;
      return `${e.fn}(${args.join(', ')})`;
    }
  }
}

/** Typed literal for a reduction's initial value. */
export function initLiteral(init: 'zero' | 'one' | '-inf' | '+inf', dtype: DType, target: 'js' | 'wgsl'): string {
  if (init === 'zero') return dtype === 'i32' ? '0' : target === 'js' ? '0' : `${dtype}(0.0)`;
  if (init === 'one') return dtype === 'i32' ? '1' : target === 'js' ? '1' : `${dtype}(1.0)`;
  const neg = init === '-inf';
  if (target === 'js') return dtype === 'i32' ? (neg ? '-2147483648' : '2147483647') : neg ? '-Infinity' : 'Infinity';
  if (dtype === 'i32') return neg ? 'i32(-2147483647 - 1)' : 'i32(2147483647)';
  if (dtype === 'f16') return neg ? 'f16(-65504.0)' : 'f16(65504.0)';
  // ±inf is not a valid constant expression in WGSL; `rzero` is a runtime 0u the kernel defines.
  return neg ? 'bitcast<f32>(0xff800000u + rzero)' : 'bitcast<f32>(0x7f800000u + rzero)';
}
