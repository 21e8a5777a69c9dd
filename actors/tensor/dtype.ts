// Element types a tensor can hold, and how each is stored on the host and in WGSL.
// f16 lives on the host as Float32Array (Node 20 has no Float16Array) and is converted to
// IEEE half bits only at the GPU boundary.
export type DType = 'f32' | 'i32' | 'f16';
export const DTYPES: readonly DType[] = ['f32', 'i32', 'f16'];

export type HostArray = Float32Array | Int32Array;

export function isDType(value: unknown): value is DType {
  return value === 'f32' || value === 'i32' || value === 'f16';
}

export function isFloat(dtype: DType): boolean {
  return dtype !== 'i32';
}

/** Bytes per element on the device. */
export function byteSize(dtype: DType): number {
  return dtype === 'f16' ? 2 : 4;
}

export function hostArray(dtype: DType, length: number): HostArray {
  return dtype === 'i32' ? new Int32Array(length) : new Float32Array(length);
}

export function toHostArray(dtype: DType, data: ArrayLike<number>): HostArray {
  if (dtype === 'i32') return data instanceof Int32Array ? data : Int32Array.from(data);
  const out = data instanceof Float32Array ? data : Float32Array.from(data);
  return dtype === 'f16' ? roundToF16(out) : out;
}

/** Type promotion for binary ops: any float wins over i32; f32 wins over f16. */
export function promote(a: DType, b: DType): DType {
  if (a === b) return a;
  if (a === 'f32' || b === 'f32') return 'f32';
  return 'f16';
}

export function wgslType(dtype: DType): string {
  return dtype;
}

// IEEE 754 binary16 conversion (round to nearest even), used to move f16 data to and from the GPU.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function f32ToF16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  return sign | half;
}

export function f16BitsToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

export function roundToF16(values: Float32Array): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f16BitsToF32(f32ToF16Bits(values[i]!));
  return out;
}
