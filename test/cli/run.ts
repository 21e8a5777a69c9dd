// Runs the real `alknet` command as a child process, as a user would: `node cli/bin.js ARGS`, with
// no ALKNET_* variable from the test's own environment leaking in.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { projectRoot } from '../node/helpers.ts';

export const BIN = path.join(projectRoot, 'cli', 'bin.js');

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ALKNET_'))), ...extra };
}

/** Runs alknet to its end; a run that hangs is killed after `killAfterMs` (and then fails its test on the code). */
export function alknet(args: string[], options: { env?: Record<string, string>; stdin?: string; killAfterMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: projectRoot, env: cleanEnv(options.env), stdio: ['pipe', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs ?? 60_000);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.stdin ?? '');
  });
}

/** The lines alknet itself wrote on stderr (the node's JSON log lines and native library warnings left out). */
export function alknetLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('alknet: '));
}
