// Writes blake3-simd.wat: a WebAssembly SIMD (v128) BLAKE3 kernel that compresses four inputs at
// once, one input per 32-bit lane (the "hash_many" design of the BLAKE3 reference: transpose the
// four inputs' message words into lanes, run the rounds with i32x4 adds, xors and rotates).
// The seven rounds are unrolled with the message schedule applied here, as blake3-codegen.ts does
// for the TypeScript kernel, so no message words move between rounds.
// Usage: npx tsx actors/fs/hash/blake3-simd-codegen.ts > actors/fs/hash/blake3-simd.wat
//        then npx tsx actors/fs/hash/blake3-simd-build.ts (assembles it into blake3-simd-module.ts)
const PERMUTATION = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];
const G_POSITIONS = [[0, 4, 8, 12], [1, 5, 9, 13], [2, 6, 10, 14], [3, 7, 11, 15], [0, 5, 10, 15], [1, 6, 11, 12], [2, 7, 8, 13], [3, 4, 9, 14]];
const IV_HEX = ['0x6a09e667', '0xbb67ae85', '0x3c6ef372', '0xa54ff53a', '0x510e527f', '0x9b05688c', '0x1f83d9ab', '0x5be0cd19'];
const PARENT = 4;
/** 5 pages (320 KiB): key, chaining values and a 256 KiB input window; layout in blake3-simd.ts. */
const MEMORY_PAGES = 5;

const schedule: number[][] = [Array.from({ length: 16 }, (_, i) => i)];
for (let round = 1; round < 7; round++) schedule.push(PERMUTATION.map((p) => schedule[round - 1]![p]!));

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const get = (name: string): string => `(local.get $${name})`;
const set = (name: string, value: string): string => `(local.set $${name} ${value})`;
const shuffle = (lanes: number[], a: string, b: string): string => `(i8x16.shuffle ${lanes.join(' ')} ${a} ${b})`;

// Byte-lane patterns for i8x16.shuffle (lanes 0-15 from the first operand, 16-31 from the second).
const INTERLEAVE_LOW_32 = [0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23];
const INTERLEAVE_HIGH_32 = [8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31];
const CONCAT_LOW_64 = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];
const CONCAT_HIGH_64 = [8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31];
// Rotating a little-endian 32-bit lane right by 16 or 8 bits is a byte permutation within the lane.
const ROTR_16 = range(16).map((i) => (i & ~3) + ((i + 2) & 3));
const ROTR_8 = range(16).map((i) => (i & ~3) + ((i + 1) & 3));

/** 4x4 transpose of 32-bit lanes: rows a, b, c, d become columns out0..out3 (uses t0..t3). */
function transpose(indent: string, rows: string[], outs: string[]): string[] {
  const [a, b, c, d] = rows.map(get) as [string, string, string, string];
  return [
    set('t0', shuffle(INTERLEAVE_LOW_32, a, b)),
    set('t1', shuffle(INTERLEAVE_HIGH_32, a, b)),
    set('t2', shuffle(INTERLEAVE_LOW_32, c, d)),
    set('t3', shuffle(INTERLEAVE_HIGH_32, c, d)),
    set(outs[0]!, shuffle(CONCAT_LOW_64, get('t0'), get('t2'))),
    set(outs[1]!, shuffle(CONCAT_HIGH_64, get('t0'), get('t2'))),
    set(outs[2]!, shuffle(CONCAT_LOW_64, get('t1'), get('t3'))),
    set(outs[3]!, shuffle(CONCAT_HIGH_64, get('t1'), get('t3'))),
  ].map((line) => indent + line);
}

function g(indent: string, [ia, ib, ic, id]: number[], mx: number, my: number): string[] {
  const [a, b, c, d] = [`v${ia}`, `v${ib}`, `v${ic}`, `v${id}`];
  const lines: string[] = [];
  for (const [m, r1, r2] of [[`m${mx}`, 16, 12], [`m${my}`, 8, 7]] as Array<[string, number, number]>) {
    lines.push(set(a, `(i32x4.add (i32x4.add ${get(a)} ${get(b)}) ${get(m)})`));
    lines.push(set(d, rotr2(d, a, r1)));
    lines.push(set(c, `(i32x4.add ${get(c)} ${get(d)})`));
    lines.push(set(b, rotr2(b, c, r2)));
  }
  return lines.map((line) => indent + line);
}

/** (x ^ y) rotated right by `bits`: the xor is stored into x once (local.tee), then x is read again. */
function rotr2(x: string, y: string, bits: number): string {
  const xored = `(local.tee $${x} (v128.xor ${get(x)} ${get(y)}))`;
  if (bits === 16) return shuffle(ROTR_16, xored, get(x));
  if (bits === 8) return shuffle(ROTR_8, xored, get(x));
  return `(v128.or (i32x4.shr_u ${xored} (i32.const ${bits})) (i32x4.shl ${get(x)} (i32.const ${32 - bits})))`;
}

function rounds(indent: string): string[] {
  const lines: string[] = [];
  schedule.forEach((words, round) => {
    lines.push(`${indent};; round ${round + 1}`);
    G_POSITIONS.forEach((positions, gi) => lines.push(...g(indent, positions, words[2 * gi]!, words[2 * gi + 1]!)));
  });
  return lines;
}

function hashMany(): string {
  const i6 = ' '.repeat(6);
  const i8 = ' '.repeat(8);
  const locals = [
    '(local $i i32) (local $b i32) (local $stride i32) (local $last i32) (local $bf i32)',
    '(local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32) (local $c i64)',
    '(local $ctrlo v128) (local $ctrhi v128) (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)',
    '(local $r0 v128) (local $r1 v128) (local $r2 v128) (local $r3 v128)',
    range(8).map((j) => `(local $h${j} v128)`).join(' '),
    range(16).map((j) => `(local $v${j} v128)`).join(' '),
    range(16).map((j) => `(local $m${j} v128)`).join(' '),
  ];
  // Lane l hashes input min(i + l, n - 1): lanes past the end repeat the last input, and their
  // results are not stored.
  const pointers = range(4).map((l) => set(`p${l}`,
    `(i32.add (local.get $in) (i32.mul (local.get $stride) ${l === 0 ? get('i') : `(select (i32.add ${get('i')} (i32.const ${l})) ${get('last')} (i32.lt_u (i32.add ${get('i')} (i32.const ${l})) ${get('n')}))`}))`));
  const counters: string[] = [];
  for (const l of range(4)) {
    counters.push(set('c', `(i64.add ${get('counter')} (i64.extend_i32_u (i32.mul ${get('inc')} (i32.add ${get('i')} (i32.const ${l})))))`));
    const lo = `(i32.wrap_i64 ${get('c')})`;
    const hi = `(i32.wrap_i64 (i64.shr_u ${get('c')} (i64.const 32)))`;
    if (l === 0) {
      counters.push(set('ctrlo', `(i32x4.splat ${lo})`), set('ctrhi', `(i32x4.splat ${hi})`));
    } else {
      counters.push(set('ctrlo', `(i32x4.replace_lane ${l} ${get('ctrlo')} ${lo})`), set('ctrhi', `(i32x4.replace_lane ${l} ${get('ctrhi')} ${hi})`));
    }
  }
  const message: string[] = [];
  for (const k of range(4)) {
    for (const l of range(4)) message.push(i8 + set(`r${l}`, `(v128.load offset=${16 * k} ${get(`p${l}`)})`));
    message.push(...transpose(i8, ['r0', 'r1', 'r2', 'r3'], range(4).map((j) => `m${4 * k + j}`)));
  }
  const init = [
    ...range(8).map((j) => set(`v${j}`, get(`h${j}`))),
    ...range(4).map((j) => set(`v${8 + j}`, `(v128.const i32x4 ${IV_HEX[j]} ${IV_HEX[j]} ${IV_HEX[j]} ${IV_HEX[j]})`)),
    set('v12', get('ctrlo')), set('v13', get('ctrhi')),
    set('v14', '(v128.const i32x4 64 64 64 64)'), set('v15', `(i32x4.splat ${get('bf')})`),
  ].map((line) => i8 + line);
  const feedForward = range(8).map((j) => i8 + set(`h${j}`, `(v128.xor ${get(`v${j}`)} ${get(`v${j + 8}`)})`));
  const stores: string[] = [];
  stores.push(...transpose(i6, ['h0', 'h1', 'h2', 'h3'], ['r0', 'r1', 'r2', 'r3']));
  stores.push(...transpose(i6, ['h4', 'h5', 'h6', 'h7'], ['m0', 'm1', 'm2', 'm3']));
  for (const l of range(4)) {
    const at = `(i32.add ${get('out')} (i32.shl (i32.add ${get('i')} (i32.const ${l})) (i32.const 5)))`;
    const pair = `(v128.store ${at} ${get(`r${l}`)}) (v128.store offset=16 ${at} ${get(`m${l}`)})`;
    stores.push(i6 + (l === 0 ? pair : `(if (i32.lt_u (i32.add ${get('i')} (i32.const ${l})) ${get('n')}) (then ${pair}))`));
  }
  return `  ;; hash_many: n inputs of \`blocks\` 64-byte blocks each, contiguous from \`in\`. Input j is hashed
  ;; from the key (8 words at \`key\`) with counter \`counter + inc * j\`, block flags \`flags\`, plus
  ;; \`fstart\` on its first block and \`fend\` on its last; its 32-byte chaining value goes to
  ;; \`out + 32 j\`. Whole chunks: blocks 16, inc 1, fstart CHUNK_START, fend CHUNK_END. Parents:
  ;; blocks 1, inc 0, flags PARENT. \`out\` may equal \`in\` for parents (each group of four reads its
  ;; blocks before it writes, and writes below where later groups read).
  (func $hash_many (export "hash_many")
    (param $in i32) (param $n i32) (param $blocks i32) (param $key i32) (param $counter i64) (param $inc i32)
    (param $flags i32) (param $fstart i32) (param $fend i32) (param $out i32)
    ${locals.join('\n    ')}
    (local.set $stride (i32.shl ${get('blocks')} (i32.const 6)))
    (local.set $last (i32.sub ${get('n')} (i32.const 1)))
    (block $done
      (loop $group
      (br_if $done (i32.ge_u ${get('i')} ${get('n')}))
${pointers.map((line) => i6 + line).join('\n')}
${counters.map((line) => i6 + line).join('\n')}
${range(8).map((j) => i6 + set(`h${j}`, `(v128.load32_splat offset=${4 * j} ${get('key')})`)).join('\n')}
      (local.set $b (i32.const 0))
      (loop $block
        (local.set $bf (i32.or ${get('flags')} (i32.or
          (select ${get('fstart')} (i32.const 0) (i32.eqz ${get('b')}))
          (select ${get('fend')} (i32.const 0) (i32.eq ${get('b')} (i32.sub ${get('blocks')} (i32.const 1)))))))
${message.join('\n')}
${init.join('\n')}
${rounds(i8).join('\n')}
${feedForward.join('\n')}
${range(4).map((l) => i8 + set(`p${l}`, `(i32.add ${get(`p${l}`)} (i32.const 64))`)).join('\n')}
        (local.set $b (i32.add ${get('b')} (i32.const 1)))
        (br_if $block (i32.lt_u ${get('b')} ${get('blocks')})))
${stores.join('\n')}
      (local.set $i (i32.add ${get('i')} (i32.const 4)))
      (br $group)))
  )`;
}

process.stdout.write(`;; Generated by actors/fs/hash/blake3-simd-codegen.ts; change the generator, not this file.
;; BLAKE3 with WebAssembly SIMD: four inputs per call of the round code, one per 32-bit lane.
;; Memory is the module's own; the caller copies input in and chaining values out (see blake3-simd.ts).
(module
  (memory (export "memory") ${MEMORY_PAGES})
${hashMany()}

  ;; subtree: the (non-root) chaining value of n whole chunks at \`in\` (n a power of two, first chunk
  ;; counter \`counter\`, a multiple of n), written as 32 bytes at \`out\`. The chunks' values are
  ;; reduced level by level in place with hash_many over parent blocks.
  (func (export "subtree")
    (param $in i32) (param $n i32) (param $key i32) (param $counter i64) (param $flags i32) (param $out i32)
    (call $hash_many ${get('in')} ${get('n')} (i32.const 16) ${get('key')} ${get('counter')} (i32.const 1) ${get('flags')} (i32.const 1) (i32.const 2) ${get('out')})
    (block $done
      (loop $level
        (br_if $done (i32.le_u ${get('n')} (i32.const 1)))
        (local.set $n (i32.shr_u ${get('n')} (i32.const 1)))
        (call $hash_many ${get('out')} ${get('n')} (i32.const 1) ${get('key')} (i64.const 0) (i32.const 0)
          (i32.or ${get('flags')} (i32.const ${PARENT})) (i32.const 0) (i32.const 0) ${get('out')})
        (br $level)))
  )
)
`);
