// BLAKE3 and bao throughput: our pure-TypeScript BLAKE3 next to b3sum (one thread), @noble/hashes and
// hash-wasm, hashing the same file, plus our bao outboard encoding. One table, MB/s (10^6 bytes/s).
// Then the network: a verified alknet/blobs fetch between two local nodes over TLS, next to the raw
// bulk stream on the same transport (and an unverified read of the same slice), in one table. The
// providing node (and the raw stream's sink) runs in its own process (bench/blobs-provider.ts), so
// each node has its own thread as in real use; the receiver hashes on ALKNET_HASH_WORKERS workers.
// Usage: npx tsx bench/blobs.ts [--short] [--hashing | --network | --receive]
//        (--short: 16 MiB instead of 256 MiB; 16 vs 128 MiB over the network)
//        --receive: only the receiver's store path, no network: a whole blob's slice from memory, in
//        16 KiB pieces (as TLS hands them), into BlobStore.writeEncoded with fsync and completion.
// Never fails on timing; a baseline that is missing (b3sum not installed) is reported as such.
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { blake3 as nobleBlake3 } from '@noble/hashes/blake3.js';
import { createBLAKE3 } from 'hash-wasm';
import { blake3, simdKernelActive, useSimdKernel } from '../actors/fs/hash/blake3.ts';
import { BaoDecoder, encodeOutboard } from '../actors/fs/hash/bao.ts';
import { pino } from 'pino';
import { createVaultFile } from '../actors/vault/vaultFile.ts';
import { startNode, type RunningNode } from '../supervisors/startNode.ts';
import { SINK, benchContent } from './blobs-provider.ts';
import { Blake3Pool, defaultHashWorkers } from '../actors/fs/hash/blake3-pool.ts';
import { PipelinedVerifier } from '../actors/fs/hash/bao-verify.ts';
import { dial } from '../actors/listener/dial.ts';
import { blobsProtocol } from '../protocols/blobs/provider.ts';
import { BlobsClient } from '../protocols/blobs/client.ts';
import { fetchBlob, storeVerifiedSlice } from '../protocols/blobs/fetch.ts';
import { startLocalFs } from '../actors/fs/local.ts';
import { BlobStore } from '../actors/fs/store.ts';

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
    rows.push({
      name: 'alknet blake3 (default)', mbps: ours.mbps, hash: reference,
      note: simdKernelActive() ? 'in memory, WebAssembly SIMD kernel' : 'in memory, TypeScript (no WebAssembly SIMD here)',
    });
    useSimdKernel(false);
    blake3(data.subarray(0, 4 * 1024 * 1024));
    const pureTs = await measure(runs, () => blake3(data));
    useSimdKernel(true);
    rows.push({ name: 'alknet blake3 (TypeScript kernel only)', mbps: pureTs.mbps, hash: hex(pureTs.result as Uint8Array), note: 'in memory, the fallback' });

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

async function benchNode(dir: string, name: string): Promise<RunningNode> {
  const home = path.join(dir, name);
  await createVaultFile(home, { passphrase: 'bench', kdf: { N: 1024, r: 8, p: 1 } });
  return startNode({ home, passphrase: 'bench', listen: '127.0.0.1:0', tensor: false, protocols: [blobsProtocol()], logger: pino({ level: 'silent' }) });
}

interface ProviderProcess {
  address: string;
  hash: string;
  stop(): Promise<void>;
}

/** Starts bench/blobs-provider.ts in a child process (its own thread) and waits for its address. */
async function startProvider(dir: string, bytes: number): Promise<ProviderProcess> {
  const script = fileURLToPath(new URL('./blobs-provider.ts', import.meta.url));
  // From the project root, so `--import tsx` resolves wherever the bench was started from.
  const cwd = fileURLToPath(new URL('..', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, dir, String(bytes)], { cwd, stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    const line = await new Promise<string>((resolve, reject) => {
      let text = '';
      const timer = setTimeout(() => reject(new Error('the provider process did not start in 60 s')), 60_000);
      child.stdout.on('data', (c: Buffer) => {
        text += c.toString();
        const end = text.indexOf('\n');
        if (end >= 0) { clearTimeout(timer); resolve(text.slice(0, end)); }
      });
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the provider process exited (${code})`)); });
    });
    const { address, hash } = JSON.parse(line) as { address: string; hash: string };
    return { address, hash, stop };
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
}

/** Verified fetch vs raw stream between two nodes on 127.0.0.1, TLS, same run. */
async function network(): Promise<void> {
  const netSize = (short ? 16 : 128) * 1024 * 1024;
  const runs = short ? 2 : 3;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'alknet-bench-net-'));
  let provider: ProviderProcess | undefined;
  let b: RunningNode | undefined;
  try {
    // The provider runs in its own process (own thread), the receiver here: as two real nodes.
    [provider, b] = await Promise.all([startProvider(dir, netSize), benchNode(dir, 'b')]);
    const busB = b.bus;
    const data = benchContent(netSize);
    const { hash, address } = provider;
    // Besides the wall time, the receiving process's CPU time (user + system, all its threads) of
    // the least costly run: on a shared machine it swings far less than MB/s does.
    const best = async (work: () => Promise<void>, prepare?: () => Promise<unknown>): Promise<{ mbps: number; cpuMs: number }> => {
      let seconds = Infinity;
      let cpuMs = Infinity;
      for (let i = 0; i < runs; i++) {
        await prepare?.();
        const cpu = process.cpuUsage();
        const start = performance.now();
        await work();
        seconds = Math.min(seconds, (performance.now() - start) / 1000);
        const used = process.cpuUsage(cpu);
        cpuMs = Math.min(cpuMs, (used.user + used.system) / 1000);
      }
      return { mbps: netSize / 1e6 / seconds, cpuMs };
    };
    const rows: Array<[string, number | string, number | string, string]> = [];
    const cell = async (name: string, note: string, work: () => Promise<void>, prepare?: () => Promise<unknown>): Promise<void> => {
      try {
        const { mbps, cpuMs } = await best(work, prepare);
        rows.push([name, mbps, cpuMs, note]);
      } catch (err) {
        rows.push([name, 'error', '', (err as Error).message.slice(0, 60)]);
      }
    };

    await cell('raw bulk stream (TLS)', '64 KiB writes into a counting sink, one connection', async () => {
      const conn = await dial(address, { alpn: SINK, transport: 'tls' });
      const stream = await conn.openStream();
      const reply = new Promise<string>((resolve, reject) => {
        let text = '';
        stream.on('data', (c: Buffer) => { text += c.toString(); });
        stream.once('end', () => resolve(text));
        stream.once('error', reject);
      });
      for (let at = 0; at < netSize; at += 64 * 1024) {
        if (!stream.write(data.subarray(at, at + 64 * 1024))) await new Promise((r) => stream.once('drain', r));
      }
      stream.end();
      if (Number(await reply) !== netSize) throw new Error('sink count differs');
      await conn.close();
    });
    await cell('alknet/blobs slice, not verified (TLS)', 'provider streams from its files; receiver discards', async () => {
      const client = await BlobsClient.connect(address, { transport: 'tls' });
      const reply = await client.request(hash);
      let n = 0;
      for await (const piece of reply.body) n += piece.length;
      if (n !== reply.len) throw new Error('short slice');
      await client.close();
    });
    // Verification alone (no store, no disk): what the slice costs once every group is hashed.
    await cell('alknet/blobs slice, verified in memory (TLS)', 'BaoDecoder over each piece; nothing stored', async () => {
      const client = await BlobsClient.connect(address, { transport: 'tls' });
      const reply = await client.request(hash);
      const decoder = new BaoDecoder(Buffer.from(hash, 'hex'), reply.size, { chunkGroupLog: 4 });
      for await (const piece of reply.body) for (const group of decoder.write(piece)) void group;
      decoder.finish();
      await client.close();
    });
    // The same with the groups hashed on a worker thread, pipelined (what writeEncoded does).
    const pool = new Blake3Pool(Math.max(1, defaultHashWorkers()));
    await cell('alknet/blobs slice, verified in memory, worker (TLS)', 'same, groups hashed on a worker thread while reading', async () => {
      const client = await BlobsClient.connect(address, { transport: 'tls' });
      const reply = await client.request(hash);
      const verifier = new PipelinedVerifier(new BaoDecoder(Buffer.from(hash, 'hex'), reply.size, { chunkGroupLog: 4 }), pool);
      for await (const piece of reply.body) for (const group of await verifier.write(piece)) void group;
      for (const group of await verifier.finish()) void group;
      await client.close();
    });
    await pool.close();
    // The previous run's copy is deleted before the clock starts (unlinking 128 MiB is not the fetch).
    await cell('alknet/blobs fetchBlob, verified (TLS)', 'verify each 16 KiB group, write by message, fsync, into the store', async () => {
      await fetchBlob(hash, [address], { bus: busB, transport: 'tls' });
      if (!(await busB.request('fs', 'fs.has', { hash })).has) throw new Error('not complete');
    }, () => busB.request('fs', 'fs.delete', { hash }));

    console.log(`\nnetwork: ${netSize / 1024 / 1024} MiB blob between two nodes on 127.0.0.1, best of ${runs};`
      + ` the provider (and the raw stream's sink) in its own process, the receiver here; receiver hash workers: ${defaultHashWorkers()}`);
    const width = Math.max(...rows.map(([n]) => n.length));
    const num = (v: number | string): string => (typeof v === 'number' ? v.toFixed(0) : v);
    console.log(`${'transfer'.padEnd(width)} | ${'MB/s'.padStart(7)} | ${'recv CPU ms'.padStart(11)} | note`);
    console.log(`${'-'.repeat(width)}-|-${'-'.repeat(7)}-|-${'-'.repeat(11)}-|-----`);
    for (const [name, mbps, cpuMs, note] of rows) {
      console.log(`${name.padEnd(width)} | ${num(mbps).padStart(7)} | ${num(cpuMs).padStart(11)} | ${note}`);
    }
  } finally {
    await Promise.allSettled([provider?.stop(), b?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The receiving store alone (no sockets, no other process): far steadier than the network table
 * on a shared machine, so a change to the decoder or the write path shows here first. Hashing on
 * this thread (0 workers), as on a 2-core receiver.
 */
async function receive(): Promise<void> {
  const netSize = (short ? 16 : 128) * 1024 * 1024;
  const runs = 5;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'alknet-bench-recv-'));
  for (const name of ['from', 'into', 'msg']) mkdirSync(path.join(dir, name));
  const from = await BlobStore.open(path.join(dir, 'from'), { hashWorkers: 0 });
  const into = await BlobStore.open(path.join(dir, 'into'), { hashWorkers: 0 });
  try {
    const data = benchContent(netSize);
    const { hash } = await from.add(data);
    const slice: Uint8Array[] = [];
    for await (const piece of await from.encoded(hash)) slice.push(piece);
    const whole = Buffer.concat(slice);
    // Each piece a buffer of its own, as a socket hands them.
    const pieces: Uint8Array[] = [];
    for (let at = 0; at < whole.length; at += 16 * 1024) pieces.push(Buffer.from(whole.subarray(at, at + 16 * 1024)));
    const ms = (xs: number[]): string => xs.map((x) => x.toFixed(0)).join(' / ');
    const timed = async (label: string, prepare: () => Promise<unknown>, work: () => Promise<void>): Promise<void> => {
      const walls: number[] = [];
      const cpus: number[] = [];
      for (let i = 0; i < runs; i++) {
        await prepare();
        const cpu = process.cpuUsage();
        const start = performance.now();
        await work();
        walls.push(performance.now() - start);
        const used = process.cpuUsage(cpu);
        cpus.push((used.user + used.system) / 1000);
      }
      console.log(`${label}\n  wall ms: ${ms(walls)}   (best ${(netSize / 1e6 / (Math.min(...walls) / 1000)).toFixed(0)} MB/s)\n  CPU ms:  ${ms(cpus)}`);
    };
    console.log(`\nreceive: ${netSize / 1024 / 1024} MiB slice from memory in 16 KiB pieces (verify, write, fsync, complete), ${runs} runs`);
    // The store's own path: BlobStore.writeEncoded verifies and writes in one place.
    await timed('BlobStore.writeEncoded (the store verifies)', async () => {
      await into.delete(hash);
      await into.beginPartial(hash, netSize);
    }, async () => {
      await into.writeEncoded(hash, undefined, (async function* () { yield* pieces; })());
      if (!into.has(hash)) throw new Error('not complete');
    });
    // The fetcher's path: verified here, each ~1 MiB run sent as fs.writeGroups to an fs actor.
    const local = startLocalFs(path.join(dir, 'msg'), { hashWorkers: 0 });
    try {
      const bus = local.bus;
      await timed('verify here + fs.writeGroups by message (what fetchBlob does)', async () => {
        await bus.request('fs', 'fs.delete', { hash });
        await bus.request('fs', 'fs.beginPartial', { hash, size: netSize });
      }, async () => {
        const { stat, failure } = await storeVerifiedSlice(bus, hash, netSize, undefined, (async function* () { yield* pieces; })());
        if (failure || !stat.complete) throw new Error(`not complete: ${String(failure)}`);
      });
    } finally {
      await local.stop();
    }
  } finally {
    await Promise.allSettled([from.close(), into.close()]);
    rmSync(dir, { recursive: true, force: true });
  }
}

// --hashing / --network / --receive: only that table (e.g. for node --cpu-prof on one of them).
const only = process.argv.includes('--hashing') ? 'hashing' : process.argv.includes('--network') ? 'network'
  : process.argv.includes('--receive') ? 'receive' : undefined;
if (only === undefined || only === 'hashing') await main();
if (only === undefined || only === 'network') await network();
if (only === 'receive') await receive();
