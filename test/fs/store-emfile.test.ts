// Out of file descriptors (issue 16, point 1): reading a blob the store has, while the process has
// no descriptor left, is UNAVAILABLE (retryable), never NOT_FOUND or "not a collection"; once
// descriptors are free again the same reads work. Runs store-emfile-child.ts under `ulimit -n 128`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const projectRoot = path.resolve(fileURLToPath(import.meta.url), '../../..');

test('reads while out of descriptors answer UNAVAILABLE, then work again', async () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-emfile-'));
  try {
    const child = spawn('bash', ['-c', 'ulimit -n 128 && exec "$0" --import tsx test/fs/store-emfile-child.ts "$1"', process.execPath, home], {
      cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 0, stderr);
    const result = JSON.parse(stdout.trim().split('\n').pop()!) as { held: number; starved: Record<string, string>; after: Record<string, string> };
    assert.ok(result.held > 0, 'the child took the descriptors left');
    assert.deepEqual(result.starved, { readBytes: 'UNAVAILABLE', readSlice: 'UNAVAILABLE', isCollection: 'UNAVAILABLE', readCollection: 'UNAVAILABLE' });
    assert.deepEqual(result.after, { readBytes: 'ok', readSlice: 'ok', isCollection: 'ok', readCollection: 'ok' });
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});
