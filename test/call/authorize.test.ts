// Authorization for alknet/call: scopes, peers.toml (peers, anonymous grant, hashed tokens), the
// reloading PeerList, and the `alknet peer` commands.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, test } from 'node:test';
import { nodeIdFromPublicKey } from '../../actors/vault/nodeId.ts';
import { commands } from '../../cli/commands/peer.ts';
import { CliError, UsageError, type CommandContext } from '../../cli/command.ts';
import { callerFor, hasScope, indexPeers, missingScopes } from '../../actors/peers/authorize.ts';
import { CallError } from '../../operations/errors.ts';
import { PeerList } from '../../actors/peers/peerList.ts';
import {
  addPeer,
  addToken,
  hashToken,
  listPeers,
  parsePeersToml,
  peersPath,
  PeersFileError,
  removePeer,
  removeToken,
} from '../../actors/peers/peersFile.ts';
import { sampleRegistry, startTcpCallServer } from './helpers.ts';

const homes: string[] = [];
function tempHome(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-call-auth-'));
  homes.push(dir);
  return dir;
}
after(() => {
  for (const dir of homes) fs.rmSync(dir, { recursive: true, force: true });
});

const newNodeId = () => nodeIdFromPublicKey(randomBytes(32));

describe('scopes', () => {
  test('exact, parent and wildcard grants', () => {
    assert.ok(hasScope(new Set(['git:write']), 'git:write'));
    assert.ok(hasScope(new Set(['git']), 'git:write'));
    assert.ok(!hasScope(new Set(['git:read']), 'git:write'));
    assert.ok(!hasScope(new Set(['gi']), 'git:write'));
    assert.ok(hasScope(new Set(['*']), 'anything'));
    assert.deepEqual(missingScopes(new Set(['tensor']), ['tensor', 'ssh', 'git:write']), ['ssh', 'git:write']);
  });
});

describe('peers.toml', () => {
  test('parses peers, the anonymous grant and token hashes; names the bad key', () => {
    const id = newNodeId();
    const config = parsePeersToml(
      `[anonymous]\nscopes = ["blobs:read"]\n[peers.${id}]\nscopes = ["tensor"]\n[tokens.ci]\nhash = "${hashToken('alk_' + 'a'.repeat(43))}"\nscopes = ["git:write"]\nenabled = false\n`,
    );
    assert.deepEqual(config.anonymous, ['blobs:read']);
    assert.deepEqual(config.peers, [{ nodeId: id, scopes: ['tensor'], enabled: true }]);
    assert.equal(config.tokens[0]?.enabled, false);
    assert.throws(() => parsePeersToml('[peers.notanid]\nscopes = []'), /peers.notanid: "notanid" is not a node id/);
    assert.throws(() => parsePeersToml(`[peers.${id}]\nscopes = "tensor"`), /scopes must be an array/);
    assert.throws(() => parsePeersToml(`[peers.${id}]\nenabled = "yes"`), /enabled must be true or false/);
    assert.throws(() => parsePeersToml('[tokens.t]\nhash = "alk_plaintext"'), /hash must be "sha256:"/);
    assert.throws(() => parsePeersToml('peers = ['), PeersFileError);
  });

  test('caller scopes = anonymous + enabled peer + token; unknown token is FORBIDDEN without echoing it', () => {
    const home = tempHome();
    const id = newNodeId();
    const disabled = newNodeId();
    addPeer(home, id, { scopes: ['tensor'] });
    addPeer(home, disabled, { scopes: ['ssh'], enabled: false });
    const { token } = addToken(home, 'ci', ['git:write']);
    assert.match(token, /^alk_[A-Za-z0-9_-]{43}$/);
    const text = fs.readFileSync(peersPath(home), 'utf8');
    assert.ok(!text.includes(token), 'the token itself is never stored');
    assert.ok(text.includes(hashToken(token)));

    const index = indexPeers(parsePeersToml(text));
    assert.deepEqual([...callerFor(index, id).scopes], ['tensor']);
    assert.deepEqual([...callerFor(index, disabled).scopes], [], 'a disabled peer gets only the anonymous grant');
    assert.deepEqual([...callerFor(index, null, token).scopes], ['git:write']);
    assert.deepEqual([...callerFor(index, id, token).scopes].sort(), ['git:write', 'tensor']);
    const bogus = 'alk_' + 'b'.repeat(43);
    assert.throws(
      () => callerFor(index, null, bogus),
      (err: unknown) => err instanceof CallError && err.code === 'FORBIDDEN' && !err.message.includes(bogus),
    );
    assert.ok(removeToken(home, 'ci'));
    assert.throws(() => callerFor(indexPeers(parsePeersToml(fs.readFileSync(peersPath(home), 'utf8'))), null, token), CallError);
  });

  test('writes are atomic: 0600, no temp files left, add replaces, rm reports absence', () => {
    const home = tempHome();
    const id = newNodeId();
    addPeer(home, id, { scopes: ['a'] });
    addPeer(home, id, { scopes: ['b', 'b', 'c'] });
    assert.deepEqual(listPeers(home), [{ nodeId: id, scopes: ['b', 'c'], enabled: true }]);
    assert.equal(fs.statSync(peersPath(home)).mode & 0o777, 0o600);
    assert.deepEqual(fs.readdirSync(home), ['peers.toml']);
    assert.equal(removePeer(home, id), true);
    assert.equal(removePeer(home, id), false);
    assert.throws(() => addPeer(home, 'nope'), /not a node id/);
    assert.throws(() => addPeer(home, id, { scopes: ['Bad Scope'] }), /not a scope/);
  });
});

describe('PeerList', () => {
  test('a change to peers.toml is picked up by a running server without restart', async () => {
    const home = tempHome();
    const peers = new PeerList(home);
    const id = newNodeId();
    const { registry } = sampleRegistry();
    // The connection's peer is `id` (as its certificate would say); scopes are looked up per call.
    const server = await startTcpCallServer({ registry, caller: (token) => peers.callerFor(id, token) });
    try {
      const client = server.client();
      await assert.rejects(client.call('/kv/set', { key: 'k', value: 'v' }), (e: unknown) => e instanceof CallError && e.code === 'FORBIDDEN');
      addPeer(home, id, { scopes: ['kv:write'] });
      assert.deepEqual(await client.call('/kv/set', { key: 'k', value: 'v' }), { ok: true });
      removePeer(home, id);
      await assert.rejects(client.call('/kv/set', { key: 'k', value: 'v' }), /kv:write/);
      const { token } = addToken(home, 'writer', ['kv']);
      assert.deepEqual(await client.call('/kv/set', { key: 'k', value: 'v' }, { authToken: token }), { ok: true });
    } finally {
      await server.close();
    }
  });

  test('a malformed file keeps the last good grants and is reported once; a malformed file at start throws', () => {
    const home = tempHome();
    const id = newNodeId();
    addPeer(home, id, { scopes: ['tensor'] });
    const errors: Error[] = [];
    const peers = new PeerList(home, { onError: (e) => errors.push(e) });
    assert.deepEqual([...peers.callerFor(id).scopes], ['tensor']);
    fs.writeFileSync(peersPath(home), '[peers.broken\n');
    assert.deepEqual([...peers.callerFor(id).scopes], ['tensor']);
    assert.deepEqual([...peers.callerFor(id).scopes], ['tensor']);
    assert.equal(errors.length, 1);
    assert.throws(() => new PeerList(home), PeersFileError);
    fs.rmSync(peersPath(home));
    assert.deepEqual([...peers.callerFor(id).scopes], [], 'a removed file means no grants');
  });
});

describe('alknet peer commands', () => {
  function ctxFor(home: string, argv: string[], json = false) {
    const stdout = new PassThrough();
    let out = '';
    stdout.on('data', (c: Buffer) => (out += c.toString()));
    const ctx: CommandContext = {
      argv,
      home,
      json,
      env: {},
      stdin: new PassThrough(),
      stdout,
      stderr: new PassThrough(),
    };
    return { ctx, out: () => out };
  }
  const run = async (name: string, home: string, argv: string[], json = false) => {
    const command = commands.find((c) => c.name === name);
    assert.ok(command, name);
    const { ctx, out } = ctxFor(home, argv, json);
    await command.run(ctx);
    return out();
  };

  test('add, ls (text and --json), rm', async () => {
    const home = tempHome();
    const id = newNodeId();
    assert.match(await run('peer add', home, [id, '--scopes', 'tensor,git:write']), /enabled, scopes: tensor, git:write/);
    assert.match(await run('peer ls', home, []), new RegExp(`${id}\\s+enabled\\s+tensor,git:write`));
    assert.deepEqual(JSON.parse(await run('peer ls', home, [], true)), [{ nodeId: id, scopes: ['tensor', 'git:write'], enabled: true }]);
    assert.deepEqual(JSON.parse(await run('peer ls', home, ['--json'])), [{ nodeId: id, scopes: ['tensor', 'git:write'], enabled: true }]);
    assert.match(await run('peer rm', home, [id]), /removed/);
    await assert.rejects(run('peer rm', home, [id]), CliError);
    await assert.rejects(run('peer add', home, ['not-a-node-id']), UsageError);
    await assert.rejects(run('peer add', home, [id, '--scopes', 'Bad!']), UsageError);
    await assert.rejects(run('peer add', home, [id, '--bogus']), UsageError);
    fs.writeFileSync(peersPath(home), 'peers = 5\n');
    await assert.rejects(run('peer ls', home, []), CliError);
  });
});
