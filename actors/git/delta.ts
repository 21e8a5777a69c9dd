// Git's delta format (the body of OFS_DELTA and REF_DELTA pack entries): the base's size and the
// result's size as varints, then copy instructions (offset/size from the base) and insert
// instructions (literal bytes). Applying one checks every bound, so a malformed delta is an error,
// never a read outside the base or a result of another size than announced.
import { GitFormatError } from './objects.ts';

function readSize(delta: Uint8Array, at: number): [number, number] {
  let value = 0;
  let shift = 0;
  for (;;) {
    if (at >= delta.length) throw new GitFormatError('delta header is truncated');
    const byte = delta[at++]!;
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (!(byte & 0x80)) break;
    if (shift > 49) throw new GitFormatError('delta size is too large');
  }
  return [value, at];
}

/** The result size a delta announces (without applying it). */
export function deltaResultSize(delta: Uint8Array): number {
  const [, at] = readSize(delta, 0);
  return readSize(delta, at)[0];
}

export function applyDelta(base: Uint8Array, delta: Uint8Array, maxResult = Number.MAX_SAFE_INTEGER): Buffer {
  let [baseSize, at] = readSize(delta, 0);
  if (baseSize !== base.length) throw new GitFormatError(`delta expects a base of ${baseSize} bytes, the base has ${base.length}`);
  let resultSize: number;
  [resultSize, at] = readSize(delta, at);
  if (resultSize > maxResult) throw new GitFormatError('delta result is above the object size limit');
  const out = Buffer.allocUnsafe(resultSize);
  let pos = 0;
  while (at < delta.length) {
    const op = delta[at++]!;
    if (op & 0x80) {
      let offset = 0;
      let size = 0;
      for (let i = 0; i < 4; i++) {
        if (op & (1 << i)) {
          if (at >= delta.length) throw new GitFormatError('delta copy is truncated');
          offset += delta[at++]! * 2 ** (8 * i);
        }
      }
      for (let i = 0; i < 3; i++) {
        if (op & (0x10 << i)) {
          if (at >= delta.length) throw new GitFormatError('delta copy is truncated');
          size |= delta[at++]! << (8 * i);
        }
      }
      if (size === 0) size = 0x10000;
      if (offset + size > base.length || pos + size > resultSize) throw new GitFormatError('delta copy is out of bounds');
      out.set(base.subarray(offset, offset + size), pos);
      pos += size;
    } else if (op !== 0) {
      if (at + op > delta.length || pos + op > resultSize) throw new GitFormatError('delta insert is out of bounds');
      out.set(delta.subarray(at, at + op), pos);
      at += op;
      pos += op;
    } else {
      throw new GitFormatError('delta has a reserved instruction 0');
    }
  }
  if (pos !== resultSize) throw new GitFormatError(`delta produced ${pos} bytes, announced ${resultSize}`);
  return out;
}
