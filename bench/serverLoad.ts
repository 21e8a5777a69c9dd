// What bench/call.ts and bench/http.ts share: the server in its own process (bench/call-server.ts),
// its CPU time from /proc, an h2 client session, and the load loop (sequential or N in flight).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http2 from 'node:http2';
import { fileURLToPath } from 'node:url';

export interface ServerProcess {
  address: string;
  /** CPU time the server process has used so far, ms (Linux /proc; NaN elsewhere). */
  cpuMs(): number;
  stop(): Promise<void>;
}

/** What the load loop drives: one call, and the server whose CPU it reads. */
export interface LoadSide {
  server: ServerProcess;
  call(): Promise<unknown>;
}

/** user + system CPU of a process from /proc/PID/stat, in ms (clock ticks of 10 ms). */
export function processCpuMs(pid: number | undefined): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

/** Starts bench/call-server.ts MODE in a child process and waits for its address line. */
export async function startServer(mode: 'h2' | 'alknet'): Promise<ServerProcess> {
  const script = fileURLToPath(new URL('./call-server.ts', import.meta.url));
  const cwd = fileURLToPath(new URL('..', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, mode], { cwd, stdio: ['pipe', 'pipe', 'inherit'] });
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
      const timer = setTimeout(() => reject(new Error(`the ${mode} server did not start in 60 s`)), 60_000);
      child.stdout.on('data', (c: Buffer) => {
        text += c.toString();
        const end = text.indexOf('\n');
        if (end >= 0) {
          clearTimeout(timer);
          resolve(text.slice(0, end));
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the ${mode} server exited (${code})`));
      });
    });
    return { address: (JSON.parse(line) as { address: string }).address, cpuMs: () => processCpuMs(child.pid), stop };
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
}

export function h2Connect(address: string): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://${address}`, { rejectUnauthorized: false });
    session.once('connect', () => resolve(session));
    session.once('error', reject);
  });
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

export interface Rate {
  perSec: number;
  p50: number;
  p99: number;
  failed: number;
  /** CPU per call, ms, of this process (the client) and of the server's process. */
  clientCpu: number;
  serverCpu: number;
}

/**
 * `total` calls with `window` of them outstanding at all times (window 1: sequential), after
 * `warmUp` calls (at most a quarter of total) for the JIT.
 */
export async function rate(side: LoadSide, window: number, total: number, warmUp = 500): Promise<Rate> {
  for (let i = 0; i < Math.min(warmUp, total / 4); i++) await side.call().catch(() => {});
  const times: number[] = [];
  let started = 0;
  let failed = 0;
  const cpu0 = process.cpuUsage();
  const server0 = side.server.cpuMs();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: window }, async () => {
      while (started < total) {
        started++;
        const t = performance.now();
        try {
          await side.call();
          times.push(performance.now() - t);
        } catch {
          failed++;
        }
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const serverCpu = (side.server.cpuMs() - server0) / total;
  times.sort((a, b) => a - b);
  return { perSec: times.length / seconds, p50: percentile(times, 50), p99: percentile(times, 99), failed, clientCpu: (cpu.user + cpu.system) / 1000 / total, serverCpu };
}

/** `n` calls started at once: how many were served, refused BUSY, or failed otherwise (first reason). */
