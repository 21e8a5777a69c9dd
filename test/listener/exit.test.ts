import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

test('a process that closes the listener and its connections exits by itself', async () => {
  const fixture = fileURLToPath(new URL('./exitFixture.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.once('exit', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  assert.equal(signal, null, `the process had to be killed: it did not exit by itself. stdout: ${out} stderr: ${err}`);
  assert.equal(code, 0, err);
  assert.equal(out, 'via quic\nvia tls\nclosed\n');
});
