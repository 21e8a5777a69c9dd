// Tensor values on the wire: {shape, dtype, data}, data either a flat row-major list of numbers
// (JSON, the CLI) or raw little-endian bytes (msgpack binary: f32/i32 4 bytes, f16 2 bytes each).
import { Type, type Static } from '@sinclair/typebox';
import { byteSize, f16BitsToF32, f32ToF16Bits, toHostArray, type DType, type HostArray } from './dtype.ts';
import { checkShape, numel } from './shape.ts';

export const DTypeSchema = Type.Union([Type.Literal('f32'), Type.Literal('i32'), Type.Literal('f16')]);
export const ShapeSchema = Type.Array(Type.Integer({ minimum: 0 }), { maxItems: 8 });

export const TensorValueSchema = Type.Object({
  shape: ShapeSchema,
  dtype: DTypeSchema,
  data: Type.Union([Type.Array(Type.Number()), Type.Uint8Array()]),
});
export type TensorValue = Static<typeof TensorValueSchema>;

export class WireError extends Error {
  override name = 'WireError';
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
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (dtype === 'i32') return { shape, dtype, data: Int32Array.from({ length: n }, (_, i) => view.getInt32(i * 4, true)) };
    if (dtype === 'f16') return { shape, dtype, data: Float32Array.from({ length: n }, (_, i) => f16BitsToF32(view.getUint16(i * 2, true))) };
    return { shape, dtype, data: Float32Array.from({ length: n }, (_, i) => view.getFloat32(i * 4, true)) };
  }
  if (value.data.length !== n) throw new WireError(`data has ${value.data.length} numbers; shape [${shape}] needs ${n}`);
  if (dtype === 'i32' && !value.data.every((v) => Number.isInteger(v))) throw new WireError('i32 data must be integers');
  return { shape, dtype, data: toHostArray(dtype, value.data) };
}

export function encodeTensorValue(shape: readonly number[], dtype: DType, data: HostArray, binary: boolean): TensorValue {
  if (!binary) return { shape: [...shape], dtype, data: Array.from(data) };
  const bytes = new Uint8Array(data.length * byteSize(dtype));
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < data.length; i++) {
    if (dtype === 'i32') view.setInt32(i * 4, data[i]!, true);
    else if (dtype === 'f16') view.setUint16(i * 2, f32ToF16Bits(data[i]!), true);
    else view.setFloat32(i * 4, data[i]!, true);
  }
  return { shape: [...shape], dtype, data: bytes };
}
