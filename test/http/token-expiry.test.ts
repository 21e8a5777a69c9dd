// Bearer tokens with an expiry: peers.toml's `expires`, `alknet token create --expires`, and the
// peers service refusing an expired token with "token expired" (never echoing the token).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createActor } from 'xstate';
import { createBus } from '../../bus/index.ts';
import { peersMachine } from '../../actors/peers/machine.ts';
import { addToken, hashToken, parsePeersToml, readPeersConfig, writePeersConfig } from '../../actors/peers/peersFile.ts';
import { alknet } from '../cli/run.ts';

async function startPeers(home: string) {
  const bus = createBus();
  bus.registerHandler('vault', { 'vault.identity': async () => ({ nodeId: 'y'.repeat(52), publicKey: '0'.repeat(64), fingerprint: '', sshHostPublicKey: '0'.repeat(64), messagingPublicKey: '0'.repeat(64) }) });
  const actor = createActor(peersMachine, { input: { home, bus } });
  actor.start();
  bus.register('peers', actor);
  return { bus, stop: () => { actor.stop(); bus.close(); } };
}

test('an expired token is refused with "token expired"; one not yet expired works', async () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-expiry-'));
  const past = addToken(home, 'old', ['admin'], { expires: new Date(Date.now() - 1000) });
  const future = addToken(home, 'new', ['admin'], { expires: new Date(Date.now() + 3_600_000) });
  const forever = addToken(home, 'plain', ['admin']);
  const { bus, stop } = await startPeers(home);
  try {
    const ask = (token: string) => bus.request('peers', 'peers.authorize', { nodeId: null, alpn: 'h2', token });
    const expired = await ask(past.token);
    assert.equal(expired.allowed, false);
    assert.ok(!expired.allowed && /token expired/.test(expired.reason), JSON.stringify(expired));
    assert.ok(!expired.allowed && !expired.reason.includes(past.token.slice(4, 20)), 'the token is not echoed');
    assert.deepEqual(await ask(future.token), { allowed: true, nodeId: null, scopes: ['admin'], known: false });
    assert.deepEqual(await ask(forever.token), { allowed: true, nodeId: null, scopes: ['admin'], known: false });
    // Expiry applies without a restart: move the future one into the past.
    const config = readPeersConfig(home);
    config.tokens.find((t) => t.name === 'new')!.expires = new Date(Date.now() - 1);
    writePeersConfig(home, config);
    assert.equal((await ask(future.token)).allowed, false);
  } finally {
    stop();
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test('peers.toml: expires round-trips as a TOML date-time; a bad value names the key', () => {
  const hash = hashToken('alk_' + 'a'.repeat(43));
  const config = parsePeersToml(`[tokens.t]\nhash = "${hash}"\nexpires = 2030-01-02T03:04:05Z\n`);
  assert.equal(config.tokens[0]!.expires!.toISOString(), '2030-01-02T03:04:05.000Z');
  assert.throws(() => parsePeersToml(`[tokens.t]\nhash = "${hash}"\nexpires = "tomorrow"\n`), /tokens\.t\.expires/);
  assert.throws(() => parsePeersToml(`[tokens.t]\nhash = "${hash}"\nexpires = 12\n`), /tokens\.t\.expires/);
});

test('alknet token create --expires DURATION|DATE; ls shows it; a past or malformed value is a usage error', async () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-expiry-cli-'));
  try {
    const before = Date.now();
    const made = await alknet(['--home', home, '--json', 'token', 'create', '--scopes', 'admin', '--name', 'soon', '--expires', '2h']);
    assert.equal(made.code, 0, made.stderr);
    const out = JSON.parse(made.stdout) as { token: string; expires: string };
    const at = Date.parse(out.expires);
    assert.ok(at >= before + 2 * 3_600_000 && at <= Date.now() + 2 * 3_600_000, out.expires);
    const dated = await alknet(['--home', home, 'token', 'create', '--scopes', 'admin', '--name', 'dated', '--expires', '2099-12-31']);
    assert.equal(dated.code, 0, dated.stderr);
    const ls = await alknet(['--home', home, '--json', 'token', 'ls']);
    const listed = JSON.parse(ls.stdout) as { name: string; expires?: string }[];
    assert.equal(listed.find((t) => t.name === 'dated')!.expires, '2099-12-31T00:00:00.000Z');
    assert.ok(!ls.stdout.includes(out.token), 'ls never shows a token');
    for (const bad of ['yesterday', '2001-01-01', '-5m', '10y']) {
      const run = await alknet(['--home', home, 'token', 'create', '--scopes', 'admin', '--expires', bad]);
      assert.equal(run.code, 2, `${bad}: ${run.stderr}`);
      assert.match(run.stderr, /--expires/);
    }
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});
