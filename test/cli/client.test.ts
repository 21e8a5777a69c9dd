// Client commands (call, ops, connect) as a Unix tool: a malformed address is a usage error (exit 2),
// --timeout bounds the handshake too, and a locked vault is said out loud rather than silently
// calling anonymously. The node that never answers is a bound UDP socket that reads and drops.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeHome, type TestHome } from '../node/helpers.ts';
import { alknet, alknetLines } from './run.ts';

let silent: dgram.Socket;
let silentAddress: string;
let emptyHome: string;
let vaultHome: TestHome;

before(async () => {
  silent = dgram.createSocket('udp4');
  silent.on('message', () => {}); // read and drop: no QUIC answer, ever
  await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
  silentAddress = `127.0.0.1:${silent.address().port}`;
  emptyHome = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-cli-client-'));
  vaultHome = await makeHome('alknet-cli-vault-');
});

after(() => {
  silent.close();
  fs.rmSync(emptyHome, { recursive: true, force: true });
  vaultHome.cleanup();
});

test('a malformed address is a usage error: exit 2, one reason line and the usage', async () => {
  const runs = await Promise.all([
    alknet(['--home', emptyHome, 'call', 'not-an-address', 'node/info']),
    alknet(['--home', emptyHome, 'ops', 'host:99999']),
    alknet(['--home', emptyHome, 'connect', 'nope@127.0.0.1:1', '--alpn', 'x']),
  ]);
  for (const run of runs) {
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /^alknet: address "[^"]*": .*\nusage: alknet (call|ops|connect) /);
    assert.doesNotMatch(run.stderr, /\n +at /, 'no stack trace');
  }
});

test('call --timeout bounds the handshake to a node that does not answer', async () => {
  const run = await alknet(['--home', emptyHome, 'call', silentAddress, 'node/info', '--timeout', '300']);
  assert.equal(run.code, 1, run.stderr);
  assert.deepEqual(alknetLines(run.stderr), [`alknet: cannot reach ${silentAddress}: no QUIC answer from ${silentAddress} within 300 ms`]);
  const ops = await alknet(['--home', emptyHome, 'ops', silentAddress, '--timeout', '250']);
  assert.equal(ops.code, 1, ops.stderr);
  assert.match(ops.stderr, /within 250 ms/);
});

test('a vault that cannot be unlocked without a prompt: the call says it goes anonymously', async () => {
  const locked = await alknet(['--home', vaultHome.home, 'call', silentAddress, 'node/info', '--timeout', '200']);
  assert.equal(locked.code, 1, locked.stderr);
  const lines = alknetLines(locked.stderr);
  assert.equal(lines[0], `alknet: calling anonymously: the vault in ${vaultHome.home} is locked (set ALKNET_PASSPHRASE or --passphrase-file F)`);
  assert.match(lines[1]!, /within 200 ms/);
  // Unlocked: no such line (and the passphrase is nowhere in the output).
  const unlocked = await alknet(['--home', vaultHome.home, 'call', silentAddress, 'node/info', '--timeout', '200'], { env: { ALKNET_PASSPHRASE: vaultHome.passphrase } });
  assert.equal(unlocked.code, 1, unlocked.stderr);
  assert.doesNotMatch(unlocked.stderr, /anonymously/);
  assert.ok(!unlocked.stderr.includes(vaultHome.passphrase));
  // A wrong passphrase is a one-line failure, not an anonymous call.
  const wrong = await alknet(['--home', vaultHome.home, 'call', silentAddress, 'node/info', '--timeout', '200'], { env: { ALKNET_PASSPHRASE: 'not it' } });
  assert.equal(wrong.code, 1);
  assert.deepEqual(alknetLines(wrong.stderr).length, 1, wrong.stderr);
  assert.match(wrong.stderr, /wrong passphrase/);
});
