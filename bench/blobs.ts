// BLAKE3 and bao throughput: our pure-TypeScript BLAKE3 next to b3sum (one thread), @noble/hashes and
// hash-wasm, hashing the same file, plus our bao outboard encoding. One table, MB/s (10^6 bytes/s).
// Usage: npx tsx bench/blobs.ts [--short]     (--short: 16 MiB instead of 256 MiB)
// Never fails on timing; a baseline that is missing (b3sum not installed) is reported as such.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { blake3 as nobleBlake3 } from '@noble/hashes/blake3.js';
import { createBLAKE3 } from 'hash-wasm';
import { blake3 } from '../actors/fs/blake3.ts';
import { encodeOutboard } from '../actors/fs/bao.ts';

const short = process.argv.includes('--short');
const size = (short ? 16 : 256) * 1024 * 1024;

interface Row {
  name: string;
  mbps?: number;
  hash?: string;
  note: string;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** Best of `runs` timings of `work`, as MB/s over `size` bytes. */
async function measure(runs: number, work: () => unknown | Promise<unknown>): Promise<{ mbps: number; result: unknown }> {
  let best = Infinity;
  let result: unknown;
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    result = await work();
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    best = Math.min(best, seconds);
  }
  return { mbps: size / 1e6 / best, result };
}

function findB3sum(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v b3sum'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'alknet-bench-blobs-'));
  try {
    const file = path.join(dir, 'input.bin');
    // Pseudo-random content, written once; every implementation hashes this same file.
    const content = new Uint8Array(size);
    let x = 0x9e3779b9;
    const words = new Uint32Array(content.buffer);
    for (let i = 0; i < words.length; i++) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
      words[i] = x >>> 0;
    }
    writeFileSync(file, content);
    const data = new Uint8Array(readFileSync(file));
    const runs = short ? 3 : 2;
    const rows: Row[] = [];

    // Warm up the JIT on a smaller input first so the timing is of optimised code.
    blake3(data.subarray(0, 4 * 1024 * 1024));
    const ours = await measure(runs, () => blake3(data));
    const reference = hex(ours.result as Uint8Array);
    rows.push({ name: 'alknet blake3 (TypeScript)', mbps: ours.mbps, hash: reference, note: 'in memory' });

    const b3sum = findB3sum();
    if (b3sum) {
      const timed = await measure(runs, () => execFileSync(b3sum, ['--num-threads', '1', '--no-names', file], { encoding: 'utf8' }).trim());
      rows.push({ name: 'b3sum --num-threads 1', mbps: timed.mbps, hash: timed.result as string, note: 'reads the file, SIMD' });
    } else {
      rows.push({ name: 'b3sum --num-threads 1', note: 'not installed (Debian package b3sum)' });
    }

    nobleBlake3(data.subarray(0, 1024 * 1024));
    const noble = await measure(short ? runs : 1, () => nobleBlake3(data));
    rows.push({ name: '@noble/hashes blake3', mbps: noble.mbps, hash: hex(noble.result as Uint8Array), note: 'in memory' });

    const wasmHasher = await createBLAKE3();
    const wasm = await measure(runs, () => wasmHasher.init().update(data).digest('hex'));
    rows.push({ name: 'hash-wasm blake3', mbps: wasm.mbps, hash: wasm.result as string, note: 'in memory, WebAssembly' });

    for (const chunkGroupLog of [4, 0]) {
      const encoded = await measure(runs, () => encodeOutboard(data, { chunkGroupLog }));
      const { hash } = encoded.result as { hash: Uint8Array };
      rows.push({
        name: `alknet bao outboard (chunkGroupLog ${chunkGroupLog})`, mbps: encoded.mbps, hash: hex(hash),
        note: chunkGroupLog === 4 ? '16 KiB groups (wire)' : '1 KiB chunks (classic bao)',
      });
    }

    const cpus = os.cpus();
    console.log(`machine: ${cpus.length} cores, ${cpus[0]?.model ?? 'unknown CPU'}, Node.js ${process.version}, ${os.platform()}/${os.arch()}`);
    console.log(`input: ${size / 1024 / 1024} MiB file, best of ${runs} runs (noble: ${short ? runs : 1})\n`);
    const nameWidth = Math.max(...rows.map((r) => r.name.length));
    console.log(`${'implementation'.padEnd(nameWidth)} | ${'MB/s'.padStart(7)} | same hash | note`);
    console.log(`${'-'.repeat(nameWidth)}-|-${'-'.repeat(7)}-|-----------|-----`);
    for (const row of rows) {
      const mbps = row.mbps === undefined ? '-' : row.mbps.toFixed(0);
      const same = row.hash === undefined ? '-' : row.hash === reference ? 'yes' : 'NO';
      console.log(`${row.name.padEnd(nameWidth)} | ${mbps.padStart(7)} | ${same.padEnd(9)} | ${row.note}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
