// Tensor values on the wire: {shape, dtype, data}, data either a flat row-major list (JSON, the CLI)
// or raw little-endian bytes (msgpack binary: f32/i32 4 bytes, f16 2 bytes each).
//
// JSON has no NaN or ±Infinity (JSON.stringify writes them as `null`), so in the list form a float
// that is not finite travels as one of the strings "NaN", "Infinity", "-Infinity" — in both
// directions. The binary form carries the IEEE bits as they are.
import { endianness } from 'node:os';
import { Type, type Static } from '@sinclair/typebox';
import { byteSize, f16BitsToF32, f32ToF16Bits, isFloat, toHostArray, type DType, type HostArray } from './dtype.ts';
import { checkShape, numel } from './shape.ts';

export const DTypeSchema = Type.Union([Type.Literal('f32'), Type.Literal('i32'), Type.Literal('f16')]);
export const ShapeSchema = Type.Array(Type.Integer({ minimum: 0 }), { maxItems: 8 });

/** How a float that is not finite is written in the list form. */
export const NonFiniteSchema = Type.Union([Type.Literal('NaN'), Type.Literal('Infinity'), Type.Literal('-Infinity')]);
export type NonFinite = Static<typeof NonFiniteSchema>;

export const TensorValueSchema = Type.Object({
  shape: ShapeSchema,
  dtype: DTypeSchema,
  data: Type.Union([Type.Array(Type.Union([Type.Number(), NonFiniteSchema])), Type.Uint8Array()]),
});
export type TensorValue = Static<typeof TensorValueSchema>;

export class WireError extends Error {
  override name = 'WireError';
}

/** On a little-endian host (nearly all), f32/i32 bytes are copied as they are instead of read one by one. */
const LITTLE_ENDIAN = endianness() === 'LE';

const FROM_TEXT: Readonly<Record<NonFinite, number>> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity };

/** A list element → its number; "NaN"/"Infinity"/"-Infinity" only for float dtypes. */
function fromListElement(v: number | string, float: boolean): number {
  if (typeof v === 'number') return v;
  if (float && Object.prototype.hasOwnProperty.call(FROM_TEXT, v)) return FROM_TEXT[v as NonFinite];
  throw new WireError(float ? `"${String(v).slice(0, 16)}" is not a number ("NaN", "Infinity", "-Infinity" are)` : 'i32 data must be integers');
}

/** A number → its list element: finite numbers as they are, the others as text (JSON has no NaN). */
function toListElement(v: number): number | NonFinite {
  if (Number.isFinite(v)) return v;
  return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
}

/** Validates and converts wire data to a host array; `maxElements` bounds what one tensor may hold. */
export function decodeTensorValue(value: TensorValue, maxElements: number): { shape: number[]; dtype: DType; data: HostArray } {
  const shape = [...value.shape];
  try {
    checkShape(shape);
  } catch (err) {
    throw new WireError((err as Error).message);
  }
  const n = numel(shape);
  if (n > maxElements) throw new WireError(`tensor of ${n} elements is over the limit of ${maxElements}`);
  const dtype = value.dtype;
  if (value.data instanceof Uint8Array) {
    const bytes = value.data;
    if (bytes.byteLength !== n * byteSize(dtype)) {
      throw new WireError(`binary data has ${bytes.byteLength} bytes; shape [${shape}] of ${dtype} needs ${n * byteSize(dtype)}`);
    }
    if (LITTLE_ENDIAN && dtype !== 'f16') {
      // A copy into a fresh, aligned buffer: the message's bytes may sit at any offset of a larger one.
      const copy = new Uint8Array(bytes).buffer;
      return { shape, dtype, data: dtype === 'i32' ? new Int32Array(copy) : new Float32Array(copy) };
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (dtype === 'i32') return { shape, dtype, data: Int32Array.from({ length: n }, (_, i) => view.getInt32(i * 4, true)) };
    if (dtype === 'f16') return { shape, dtype, data: Float32Array.from({ length: n }, (_, i) => f16BitsToF32(view.getUint16(i * 2, true))) };
    return { shape, dtype, data: Float32Array.from({ length: n }, (_, i) => view.getFloat32(i * 4, true)) };
  }
  const list = value.data;
  if (list.length !== n) throw new WireError(`data has ${list.length} numbers; shape [${shape}] needs ${n}`);
  const float = isFloat(dtype);
  const numbers = list.every((v) => typeof v === 'number') ? (list as number[]) : list.map((v) => fromListElement(v, float));
  if (!float && !numbers.every((v) => Number.isInteger(v))) throw new WireError('i32 data must be integers');
  return { shape, dtype, data: toHostArray(dtype, numbers) };
}

export function encodeTensorValue(shape: readonly number[], dtype: DType, data: HostArray, binary: boolean): TensorValue {
  if (!binary) return { shape: [...shape], dtype, data: Array.from(data, toListElement) };
  if (LITTLE_ENDIAN && dtype !== 'f16') {
    return { shape: [...shape], dtype, data: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) };
  }
  const bytes = new Uint8Array(data.length * byteSize(dtype));
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < data.length; i++) {
    if (dtype === 'i32') view.setInt32(i * 4, data[i]!, true);
    else if (dtype === 'f16') view.setUint16(i * 2, f32ToF16Bits(data[i]!), true);
    else view.setFloat32(i * 4, data[i]!, true);
  }
  return { shape: [...shape], dtype, data: bytes };
}
