// Loads the BLAKE3 WebAssembly SIMD kernel (blake3-simd.wat, assembled into blake3-simd-module.ts)
// and gives it a typed face. The module owns its memory; whole chunks are copied in (a memcpy) and
// chaining values copied out. `simdKernel` is undefined where the runtime lacks WebAssembly SIMD,
// and blake3.ts then keeps to its TypeScript kernel.
import { BLAKE3_SIMD_WASM_BASE64 } from './blake3-simd-module.ts';

/** Most whole chunks one call takes (256 KiB of input). A power of two. */
export const SIMD_MAX_CHUNKS = 256;
const CHUNK_LEN = 1024;
// Memory layout (5 pages, fixed in the .wat): the key words, the chaining values, then the input.
const KEY_AT = 0;
const CVS_AT = 1024;
const INPUT_AT = 16 * 1024;
const CHUNK_START = 1;
const CHUNK_END = 2;

interface KernelExports {
  memory: WebAssembly.Memory;
  hash_many(input: number, n: number, blocks: number, key: number, counter: bigint, inc: number,
    flags: number, flagsStart: number, flagsEnd: number, out: number): void;
  subtree(input: number, n: number, key: number, counter: bigint, flags: number, out: number): void;
}

export interface Blake3SimdKernel {
  /**
   * Chaining values (8 words each, to `out[outOff..]`) of `count` whole chunks `input[pos..]`, none of
   * them the root, the first with chunk counter `counter`. `count` ≤ SIMD_MAX_CHUNKS.
   */
  chunkCvs(key: Uint32Array, input: Uint8Array, pos: number, count: number, counter: number, flags: number, out: Uint32Array, outOff: number): void;
  /**
   * The non-root chaining value (8 words to `out[outOff..]`) of the subtree of `count` whole chunks
   * `input[pos..]`: `count` a power of two ≤ SIMD_MAX_CHUNKS, `counter` (the first chunk's index) a
   * multiple of it.
   */
  subtreeCv(key: Uint32Array, input: Uint8Array, pos: number, count: number, counter: number, flags: number, out: Uint32Array, outOff: number): void;
}

function load(): Blake3SimdKernel | undefined {
  let exports: KernelExports;
  try {
    const module = new WebAssembly.Module(Buffer.from(BLAKE3_SIMD_WASM_BASE64, 'base64'));
    exports = new WebAssembly.Instance(module, {}).exports as unknown as KernelExports;
  } catch {
    // No WebAssembly SIMD here (it is in every Node.js ≥ 16.4): the TypeScript kernel stays.
    return undefined;
  }
  const bytes = new Uint8Array(exports.memory.buffer);
  const words = new Uint32Array(exports.memory.buffer);
  const copyIn = (key: Uint32Array, input: Uint8Array, pos: number, count: number): void => {
    if (!Number.isInteger(count) || count < 1 || count > SIMD_MAX_CHUNKS) throw new RangeError(`blake3-simd: bad chunk count ${count}`);
    words.set(key.subarray(0, 8), KEY_AT / 4);
    bytes.set(input.subarray(pos, pos + count * CHUNK_LEN), INPUT_AT);
  };
  return {
    chunkCvs(key, input, pos, count, counter, flags, out, outOff) {
      copyIn(key, input, pos, count);
      exports.hash_many(INPUT_AT, count, 16, KEY_AT, BigInt(counter), 1, flags, CHUNK_START, CHUNK_END, CVS_AT);
      out.set(words.subarray(CVS_AT / 4, CVS_AT / 4 + count * 8), outOff);
    },
    subtreeCv(key, input, pos, count, counter, flags, out, outOff) {
      copyIn(key, input, pos, count);
      exports.subtree(INPUT_AT, count, KEY_AT, BigInt(counter), flags, CVS_AT);
      out.set(words.subarray(CVS_AT / 4, CVS_AT / 4 + 8), outOff);
    },
  };
}

export const simdKernel: Blake3SimdKernel | undefined = load();
