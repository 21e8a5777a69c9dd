// WGSL kernel generator: the same op specs as codegen/js.ts, emitted as compute shaders.
// Geometry (shapes, strides, storage offsets) travels in a small i32 "meta" buffer so one pipeline
// serves every shape of a given rank; kernels are specialized (and cached) per op, dtypes and rank.
import type { DType } from '../dtype.ts';
import type { ReduceSpec } from '../ops/specs.ts';
import { initLiteral, parseExpr, toWgsl } from './expr.ts';

export const ELEMENTWISE_WG = 64;
export const REDUCE_WG = 64;

function enables(dtypes: readonly DType[]): string {
  return dtypes.includes('f16') ? 'enable f16;\n' : '';
}

/** Meta layout: [n, shape(r), outStrides(r), outOffset, (inStrides(r), inOffset) per input]. */
export function elementwiseMeta(shape: readonly number[], outStrides: readonly number[], outOffset: number,
  inputs: readonly { strides: readonly number[]; offset: number }[]): Int32Array {
  let n = 1;
  for (const d of shape) n *= d;
  return Int32Array.from([n, ...shape, ...outStrides, outOffset, ...inputs.flatMap((v) => [...v.strides, v.offset])]);
}

export function elementwiseWgsl(names: readonly string[], expr: string, inDtypes: readonly DType[], outDtype: DType, rank: number): string {
  const body = toWgsl(parseExpr(expr), outDtype, (v) => {
    const i = names.indexOf(v);
    if (i < 0) throw new Error(`op expression uses unknown variable "${v}"`);
    return `v${i}`;
  });
  const r = rank;
  const inBase = (i: number): number => 2 + 2 * r + i * (r + 1);
  const decls = names.map((_, i) => `@group(0) @binding(${i + 1}) var<storage, read> in${i}: array<${inDtypes[i]}>;`);
  let index = '';
  for (let d = r - 1; d >= 0; d--) {
    // The outermost dim needs no modulo: idx < n already bounds it.
    const coord = d === 0 ? 'let c = rem;' : `let n = prm[${1 + d}]; let c = rem % n; rem = rem / n;`;
    index += `  { ${coord} po += c * prm[${1 + r + d}];`;
    names.forEach((_, i) => (index += ` p${i} += c * prm[${inBase(i) + d}];`));
    index += ' }\n';
  }
  return `${enables([...inDtypes, outDtype])}
@group(0) @binding(0) var<storage, read> prm: array<i32>;
${decls.join('\n')}
@group(0) @binding(${names.length + 1}) var<storage, read_write> out: array<${outDtype}>;

@compute @workgroup_size(${ELEMENTWISE_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = i32(gid.x + gid.y * nwg.x * ${ELEMENTWISE_WG}u);
  if (idx >= prm[0]) { return; }
  var rem = idx;
  var po = prm[${1 + 2 * r}];
${names.map((_, i) => `  var p${i} = prm[${inBase(i) + r}];`).join('\n')}
${index}${names.map((_, i) => `  let v${i} = in${i}[p${i}];`).join('\n')}
  out[po] = ${outDtype}(${body});
}
`;
}

/** Meta layout: [nOut, keptShape(kr), keptStrides(kr), redShape(rr), redStrides(rr), offset, n]. */
export function reduceMeta(nOut: number, keptShape: readonly number[], keptStrides: readonly number[],
  redShape: readonly number[], redStrides: readonly number[], offset: number): Int32Array {
  let n = 1;
  for (const d of redShape) n *= d;
  return Int32Array.from([nOut, ...keptShape, ...keptStrides, ...redShape, ...redStrides, offset, n]);
}

/** One workgroup per output element: threads stride over the reduced elements, then a tree. */
export function reduceWgsl(spec: ReduceSpec, dtype: DType, outDtype: DType, kr: number, rr: number): string {
  const acc = dtype === 'i32' ? 'i32' : 'f32';
  const offAt = 1 + 2 * kr + 2 * rr;
  const rename = (v: string): string => (v === 'n' ? `${acc}(n)` : v);
  const combine = (a: string, x: string): string =>
    toWgsl(parseExpr(spec.combine), dtype, (v) => (v === 'acc' ? a : v === 'x' ? x : v));
  let kept = '';
  for (let d = kr - 1; d >= 0; d--) {
    kept += `  { let s = prm[${1 + d}]; let c = rem % s; rem = rem / s; base += c * prm[${1 + kr + d}]; }\n`;
  }
  let red = '';
  for (let d = rr - 1; d >= 0; d--) {
    red += `    { let s = prm[${1 + 2 * kr + d}]; let c = q % s; q = q / s; p += c * prm[${1 + 2 * kr + rr + d}]; }\n`;
  }
  const step = spec.arg
    ? `if (best < 0 || ${combine('acc', 'x')}) { acc = x; best = r; }`
    : `acc = ${combine('acc', 'x')};`;
  const merge = spec.arg
    ? `let ob = sidx[lid + s]; let ov = sacc[lid + s]; let mb = sidx[lid]; let mv = sacc[lid];
      if (ob >= 0 && (mb < 0 || ${combine('mv', 'ov')} || (ov == mv && ob < mb))) { sacc[lid] = ov; sidx[lid] = ob; }`
    : `sacc[lid] = ${combine('sacc[lid]', 'sacc[lid + s]')};`;
  const result = spec.arg ? 'sidx[0]' : `${outDtype}(${toWgsl(parseExpr(spec.finalize), dtype, (v) => (v === 'acc' ? 'sacc[0]' : rename(v)))})`;
  return `${enables([dtype, outDtype])}
@group(0) @binding(0) var<storage, read> prm: array<i32>;
@group(0) @binding(1) var<storage, read> inp: array<${dtype}>;
@group(0) @binding(2) var<storage, read_write> out: array<${outDtype}>;
var<workgroup> sacc: array<${acc}, ${REDUCE_WG}>;
var<workgroup> sidx: array<i32, ${REDUCE_WG}>;

@compute @workgroup_size(${REDUCE_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let o = i32(wid.x + wid.y * nwg.x);
  let nOut = prm[0];
  let rzero = lid & 0u;
  let n = prm[${offAt + 1}];
  var rem = min(o, nOut - 1);
  var base = prm[${offAt}];
${kept}  var acc: ${acc} = ${initLiteral(spec.init, acc === 'i32' ? 'i32' : 'f32', 'wgsl')};
  var best: i32 = -1;
  for (var r = i32(lid); r < n; r += ${REDUCE_WG}) {
    var p = base;
    var q = r;
${red}    let x = ${acc}(inp[p]);
    ${step}
  }
  sacc[lid] = acc;
  sidx[lid] = best;
  workgroupBarrier();
  for (var s = ${REDUCE_WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      ${merge}
    }
    workgroupBarrier();
  }
  if (lid == 0u && o < nOut) { out[o] = ${result}; }
}
`;
}

/** Meta layout: [M, N, K, aRowStride, aColStride, bRowStride, bColStride, aOffset, bOffset,
 *  (batchSize, aBatchStride, bBatchStride) per batch dim]. */
export function matmulMeta(M: number, N: number, K: number, a: { strides: readonly number[]; offset: number },
  b: { strides: readonly number[]; offset: number }, batchShape: readonly number[]): Int32Array {
  const r = batchShape.length + 2;
  return Int32Array.from([
    M, N, K, a.strides[r - 2]!, a.strides[r - 1]!, b.strides[r - 2]!, b.strides[r - 1]!, a.offset, b.offset,
    ...batchShape.flatMap((s, d) => [s, a.strides[d]!, b.strides[d]!]),
  ]);
}

function batchOffsets(batchRank: number, z: string): string {
  let s = `  var ao = prm[7]; var bo = prm[8]; var rem = i32(${z});\n`;
  for (let d = batchRank - 1; d >= 0; d--) {
    const at = 9 + 3 * d;
    s += `  { let c = rem % prm[${at}]; rem = rem / prm[${at}]; ao += c * prm[${at + 1}]; bo += c * prm[${at + 2}]; }\n`;
  }
  return s;
}

/** Shape of the tiled matmul: WX×WY threads, each computing RM×RN outputs, K stepped by BK. */
export interface MatmulTiling { wx: number; wy: number; rm: number; rn: number; bk: number }
// 8×8 threads × 8×8 outputs (64×64 tile): measured best of several shapes on lavapipe (bench/tensor.ts),
// and 64 accumulators per thread stays within a real GPU's registers.
export const MM_TILING: MatmulTiling = { wx: 8, wy: 8, rm: 8, rn: 8, bk: 16 };

export function matmulTile(t: MatmulTiling = MM_TILING): { bm: number; bn: number } {
  return { bm: t.wy * t.rm, bn: t.wx * t.rn };
}

/**
 * Tiled matmul in workgroup memory with RM×RN register blocking. `vecA`/`vecB`: the operand's rows
 * are contiguous and 16-byte aligned, so tiles load as vec4; otherwise scalar strided loads
 * (transposed or sliced operands) with the same tiling. A's tile is stored transposed ([k][m]) so
 * the inner loop reads both operands as vec4.
 */
export function matmulWgsl(dtype: DType, batchRank: number, vecA: boolean, vecB: boolean, tiling: MatmulTiling = MM_TILING): string {
  const T = dtype;
  const V = `vec4<${T}>`;
  const { wx, wy, rm, rn, bk } = tiling;
  const { bm, bn } = matmulTile(tiling);
  const threads = wx * wy;
  const am4 = bm / 4;
  const bn4 = bn / 4;
  const storeA = (r: string, k: string, v: string): string => `As[(${k}) * ${am4} + (${r}) / 4][(${r}) % 4] = ${v};`;
  const loadA = vecA
    ? `    for (var i = 0; i < ${(bm * bk) / 4 / threads}; i++) {
      let e = li + i * ${threads}; let r = e / ${bk / 4}; let kq = (e % ${bk / 4}) * 4; let gr = row0 + r; let gk = k0 + kq;
      var v = ${V}(0.0);
      if (gr < M && gk < K) { v = A4[(ao + gr * am + gk) / 4]; }
      ${storeA('r', 'kq', 'v.x')} ${storeA('r', 'kq + 1', 'v.y')} ${storeA('r', 'kq + 2', 'v.z')} ${storeA('r', 'kq + 3', 'v.w')}
    }`
    : `    for (var i = 0; i < ${(bm * bk) / threads}; i++) {
      let e = li + i * ${threads}; let r = e % ${bm}; let kk = e / ${bm}; let gr = row0 + r; let gk = k0 + kk;
      var v = ${T}(0.0);
      if (gr < M && gk < K) { v = A[ao + gr * am + gk * ak]; }
      ${storeA('r', 'kk', 'v')}
    }`;
  const loadB = vecB
    ? `    for (var i = 0; i < ${(bn * bk) / 4 / threads}; i++) {
      let e = li + i * ${threads}; let kk = e / ${bn4}; let cq = (e % ${bn4}) * 4; let gk = k0 + kk; let gc = col0 + cq;
      var v = ${V}(0.0);
      if (gk < K && gc < N) { v = B4[(bo + gk * bk + gc) / 4]; }
      Bs[kk * ${bn4} + cq / 4] = v;
    }`
    : `    for (var i = 0; i < ${(bn * bk) / threads}; i++) {
      let e = li + i * ${threads}; let c = e % ${bn}; let kk = e / ${bn}; let gk = k0 + kk; let gc = col0 + c;
      var v = ${T}(0.0);
      if (gk < K && gc < N) { v = B[bo + gk * bk + gc * bn]; }
      Bs[kk * ${bn4} + c / 4][c % 4] = v;
    }`;
  let inner = '';
  for (let q = 0; q < rm / 4; q++) inner += `      let a${q} = As[kk * ${am4} + ty * ${rm / 4} + ${q}];\n`;
  for (let p = 0; p < rn / 4; p++) inner += `      let b${p} = Bs[kk * ${bn4} + tx * ${rn / 4} + ${p}];\n`;
  for (let i = 0; i < rm; i++) {
    for (let p = 0; p < rn / 4; p++) inner += `      acc${i}_${p} += a${Math.floor(i / 4)}.${'xyzw'[i % 4]} * b${p};\n`;
  }
  let accs = '';
  let writes = '';
  for (let i = 0; i < rm; i++) {
    for (let p = 0; p < rn / 4; p++) {
      accs += `  var acc${i}_${p} = ${V}(0.0);\n`;
      writes += `  if (r0 + ${i} < M) { let rowc = co + (r0 + ${i}) * N; for (var j = 0; j < 4; j++) { if (c0 + ${p * 4} + j < N) { C[rowc + c0 + ${p * 4} + j] = acc${i}_${p}[j]; } } }\n`;
    }
  }
  return `${enables([dtype])}
@group(0) @binding(0) var<storage, read> prm: array<i32>;
${vecA ? `@group(0) @binding(1) var<storage, read> A4: array<${V}>;` : `@group(0) @binding(1) var<storage, read> A: array<${T}>;`}
${vecB ? `@group(0) @binding(2) var<storage, read> B4: array<${V}>;` : `@group(0) @binding(2) var<storage, read> B: array<${T}>;`}
@group(0) @binding(3) var<storage, read_write> C: array<${T}>;
var<workgroup> As: array<${V}, ${(bk * bm) / 4}>;
var<workgroup> Bs: array<${V}, ${(bk * bn) / 4}>;

@compute @workgroup_size(${wx}, ${wy})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let M = prm[0]; let N = prm[1]; let K = prm[2];
  let am = prm[3]; let ak = prm[4]; let bk = prm[5]; let bn = prm[6];
${batchOffsets(batchRank, 'wid.z')}  let li = i32(lidx);
  let tx = i32(lid3.x); let ty = i32(lid3.y);
  let row0 = i32(wid.y) * ${bm}; let col0 = i32(wid.x) * ${bn};
${accs}  for (var k0 = 0; k0 < K; k0 += ${bk}) {
${loadA}
${loadB}
    workgroupBarrier();
    for (var kk = 0; kk < ${bk}; kk++) {
${inner}    }
    workgroupBarrier();
  }
  let co = i32(wid.z) * M * N;
  let r0 = row0 + ty * ${rm}; let c0 = col0 + tx * ${rn};
${writes}}
`;
}

/** Matrix-vector path (M == 1 or N == 1): one workgroup per output, threads split K, then a tree. */
export function gemvWgsl(dtype: DType, batchRank: number): string {
  const T = dtype;
  return `${enables([dtype])}
@group(0) @binding(0) var<storage, read> prm: array<i32>;
@group(0) @binding(1) var<storage, read> A: array<${T}>;
@group(0) @binding(2) var<storage, read> B: array<${T}>;
@group(0) @binding(3) var<storage, read_write> C: array<${T}>;
var<workgroup> part: array<f32, ${REDUCE_WG}>;

@compute @workgroup_size(${REDUCE_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let M = prm[0]; let N = prm[1]; let K = prm[2];
  let am = prm[3]; let ak = prm[4]; let bk = prm[5]; let bn = prm[6];
${batchOffsets(batchRank, 'wid.z')}  let o = i32(wid.x + wid.y * nwg.x);
  let oc = min(o, M * N - 1);
  let m = oc / N; let n = oc % N;
  var s = 0.0;
  for (var k = i32(lid); k < K; k += ${REDUCE_WG}) {
    s += f32(A[ao + m * am + k * ak]) * f32(B[bo + k * bk + n * bn]);
  }
  part[lid] = s;
  workgroupBarrier();
  for (var h = ${REDUCE_WG / 2}u; h > 0u; h = h >> 1u) {
    if (lid < h) { part[lid] += part[lid + h]; }
    workgroupBarrier();
  }
  if (lid == 0u && o < M * N) { C[i32(wid.z) * M * N + o] = ${T}(part[0]); }
}
`;
}
