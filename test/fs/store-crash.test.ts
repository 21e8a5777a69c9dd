// A real crash: a child process adding a large blob is killed with SIGKILL midway; the reopened
// store still has every acknowledged blob, marks nothing complete that is not, and leaves no temp file.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { blake3 } from '../../actors/fs/hash/blake3.ts';
import { BlobStore } from '../../actors/fs/store.ts';

const projectRoot = path.resolve(fileURLToPath(import.meta.url), '../../..');

it('SIGKILL during a large add loses nothing acknowledged and leaves no half blob', { timeout: 60_000 }, async () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-crash-'));
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'test/fs/store-crash-child.ts'), home], {
    cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    const tmpDir = path.join(home, 'blobs', 'tmp');
    const deadline = Date.now() + 30_000;
    // Kill once the big add has written a few MiB into its temp file.
    for (;;) {
      assert.ok(Date.now() < deadline, `child never got midway; stdout: ${stdout} stderr: ${stderr}`);
      assert.ok(!stdout.includes('big done'), 'the endless add finished before it was killed');
      const big = stdout.includes('big\n') && fs.existsSync(tmpDir)
        ? fs.readdirSync(tmpDir).some((n) => n.endsWith('.data') && (fs.statSync(path.join(tmpDir, n), { throwIfNoEntry: false })?.size ?? 0) > 4 * 1024 * 1024)
        : false;
      if (big) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    const acked = [...stdout.matchAll(/^acked ([0-9a-f]{64})$/gm)].map((m) => m[1]!);
    assert.equal(acked.length, 3);

    const store = await BlobStore.open(home);
    try {
      assert.deepEqual(fs.readdirSync(tmpDir), [], 'temp files of the dead process are removed');
      const listed = store.list();
      assert.deepEqual(listed.map((b) => b.hash).sort(), [...acked].sort(), 'exactly the acknowledged blobs');
      for (const b of listed) {
        assert.equal(b.complete, true);
        const bytes = await store.getBytes(b.hash);
        assert.equal(Buffer.from(blake3(bytes)).toString('hex'), b.hash, 'a complete blob hashes to its name');
      }
      assert.deepEqual(fs.readdirSync(path.join(home, 'blobs', 'partial')), []);
    } finally {
      await store.close();
    }
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    fs.rmSync(home, { recursive: true, force: true });
  }
});
