// `npm start` (cli/dev-start.ts) in a temp home on port 0: the first run creates the home (0700),
// a passphrase file (0600) and the vault, prints the recovery phrase once and how to reach the node;
// the node answers a call; SIGTERM exits 0; a second run reuses the vault and prints no phrase.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dial } from '../../actors/listener/dial.ts';
import { CallClient } from '../../protocols/call/client.ts';
import { newKeys } from '../listener/fixtures.ts';
import { poll, projectRoot, spawnChild } from './helpers.ts';

const DEV_START = path.join(projectRoot, 'cli', 'dev-start.ts');

async function runDevNode(home: string): Promise<{ stdout: string; nodeId: string; address: string }> {
  const child = spawnChild(['--import', 'tsx', DEV_START], {
    env: { ALKNET_DEV_HOME: home, ALKNET_DEV_LISTEN: '127.0.0.1:0', ALKNET_PASSPHRASE: 'must not be used' },
  });
  try {
    const [, nodeId, address] = await poll(() => {
      if (child.proc.exitCode !== null) throw new Error(`dev-start exited with ${child.proc.exitCode}: ${child.stderr()}`);
      return /alknet dev node (\S+)\n\s+listening on (\S+)/.exec(child.stdout()) ?? undefined;
    }, 60_000, 'the dev node\'s id on stdout');
    // It tells the user how to reach it, with the node id pinned.
    assert.ok(child.stdout().includes(`cli/bin.js call ${nodeId}@${address} node/info`), child.stdout());
    assert.ok(child.stdout().includes(`cli/bin.js connect ${nodeId}@${address} --alpn`), child.stdout());
    const conn = await dial(`${nodeId}@${address}`, { alpn: 'alknet/call', transport: 'quic', identity: newKeys() });
    try {
      const info = await new CallClient(() => conn.openStream()).call<{ nodeId: string }>('node/info', {}, { deadlineMs: 5000 });
      assert.equal(info.nodeId, nodeId);
    } finally {
      await conn.close();
    }
    child.proc.kill('SIGTERM');
    const { code, signal } = await child.exited(15_000);
    assert.equal(signal, null, `dev-start had to be killed: ${child.stderr()}`);
    assert.equal(code, 0, child.stderr());
    return { stdout: child.stdout(), nodeId: nodeId!, address: address! };
  } finally {
    child.proc.kill('SIGKILL');
  }
}

test('npm start: first run creates the dev home and vault, later runs reuse them; SIGTERM exits 0', async () => {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-dev-'));
  const home = path.join(parent, '.alknet-dev');
  try {
    const first = await runDevNode(home);
    assert.match(first.stdout, /Recovery phrase \(24 words\)/);
    assert.match(first.stdout, /shown only this once/);
    assert.equal(fs.statSync(home).mode & 0o777, 0o700);
    const passphraseFile = path.join(home, 'passphrase');
    assert.equal(fs.statSync(passphraseFile).mode & 0o777, 0o600);
    const passphrase = fs.readFileSync(passphraseFile, 'utf8').trim();
    assert.ok(passphrase.length >= 32, 'a generated passphrase');
    assert.ok(!first.stdout.includes(passphrase), 'the passphrase is not printed');
    assert.ok(fs.existsSync(path.join(home, 'vault.json')));

    const second = await runDevNode(home);
    assert.equal(second.nodeId, first.nodeId, 'the same vault, the same node id');
    assert.doesNotMatch(second.stdout, /Recovery phrase/, 'the phrase is printed only on the first run');
  } finally {
    fs.rmSync(parent, { recursive: true, force: true });
  }
});
