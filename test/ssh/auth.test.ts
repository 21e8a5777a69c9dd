// alknet/ssh logins other than authorized_keys (exec.test.ts and session.test.ts cover those):
// password and keyboard-interactive are off unless config.toml turns them on, and then checked
// against [ssh.passwords] (scrypt lines); a node key logs in when the peer list grants it `ssh`.
// ssh2's client is used where OpenSSH would need a terminal to type a password.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import ssh2 from 'ssh2';
import { dial } from '../../actors/listener/dial.ts';
import { sshOverConnection } from '../../protocols/ssh/client.ts';
import { hashPassword } from '../../protocols/ssh/passwords.ts';
import { addPeer } from '../../actors/peers/peersFile.ts';
import { ephemeralKeyPair } from '../../actors/listener/tlsIdentity.ts';
import { nodeIdFromPublicKey } from '../../actors/vault/nodeId.ts';
import { startSshNode, type SshNode } from './fixtures.ts';

/** Logs in with ssh2's client; resolves 'ready' or the reason it did not. Bounded. */
async function login(node: SshNode, how: Partial<ssh2.ConnectConfig>, transport: 'tls' | 'quic' = 'tls'): Promise<string> {
  const conn = await dial(node.address, { alpn: 'alknet/ssh', transport });
  const stream = await conn.openStream();
  const c = new ssh2.Client();
  try {
    return await Promise.race([
      new Promise<string>((resolve) => {
        c.on('ready', () => resolve('ready'));
        c.on('error', (err) => resolve(err.message));
        c.on('close', () => resolve('closed'));
        c.on('keyboard-interactive', (_n, _i, _l, prompts, finish) => finish(prompts.map(() => String(how.password ?? ''))));
        c.connect({ sock: stream as never, username: 'ann', readyTimeout: 20_000, hostVerifier: () => true, ...how });
      }),
      new Promise<string>((resolve) => setTimeout(() => resolve('NEITHER LOGGED IN NOR REFUSED'), 30_000).unref()),
    ]);
  } finally {
    c.end();
    await conn.close().catch(() => {});
  }
}

describe('alknet/ssh: password and keyboard-interactive off by default', () => {
  let node: SshNode;
  before(async () => {
    node = await startSshNode({ maxAuthFailuresPerMinute: 1000, passwords: { ann: await hashPassword('right') } });
  });
  after(async () => node?.stop());

  it('refuses the right password while passwordAuthentication is off, and logs why', async () => {
    const r = await login(node, { password: 'right', authHandler: ['password'] as never });
    assert.notEqual(r, 'ready');
    assert.notEqual(r, 'NEITHER LOGGED IN NOR REFUSED');
    assert.ok(node.logs.some((l) => /password authentication is off/.test(String(l.msg))));
  });

  it('refuses keyboard-interactive while it is off', async () => {
    const r = await login(node, { password: 'right', tryKeyboard: true, authHandler: ['keyboard-interactive'] as never });
    assert.notEqual(r, 'ready');
    assert.ok(node.logs.some((l) => /keyboard-interactive authentication is off/.test(String(l.msg))));
  });
});

describe('alknet/ssh: passwords when config.toml turns them on', () => {
  let node: SshNode;
  before(async () => {
    node = await startSshNode({ maxAuthFailuresPerMinute: 1000, passwordAuthentication: true, keyboardInteractive: true, passwords: { ann: await hashPassword('right') } });
  });
  after(async () => node?.stop());

  it('logs in with the right password, over QUIC and TLS', async () => {
    assert.equal(await login(node, { password: 'right', authHandler: ['password'] as never }, 'quic'), 'ready');
    assert.equal(await login(node, { password: 'right', authHandler: ['password'] as never }, 'tls'), 'ready');
    assert.ok(node.logs.some((l) => l.msg === 'ssh login' && l.who === 'password for ann'));
  });

  it('refuses a wrong password, an unknown user and an over-long password', async () => {
    assert.notEqual(await login(node, { password: 'wrong', authHandler: ['password'] as never }), 'ready');
    assert.notEqual(await login(node, { username: 'bob', password: 'right', authHandler: ['password'] as never }), 'ready');
    assert.notEqual(await login(node, { password: 'x'.repeat(5000), authHandler: ['password'] as never }), 'ready');
    assert.ok(node.logs.filter((l) => /ssh login refused: wrong password or unknown user/.test(String(l.msg))).length >= 3);
  });

  it('logs in with keyboard-interactive and the right answer', async () => {
    assert.equal(await login(node, { password: 'right', tryKeyboard: true, authHandler: ['keyboard-interactive'] as never }), 'ready');
    assert.notEqual(await login(node, { password: 'nope', tryKeyboard: true, authHandler: ['keyboard-interactive'] as never }), 'ready');
  });
});

describe('alknet/ssh: node keys', () => {
  let node: SshNode;
  before(async () => {
    node = await startSshNode({ maxAuthFailuresPerMinute: 1000 });
  });
  after(async () => node?.stop());

  it('logs in a node key the peer list grants scope ssh, and refuses one without it', async () => {
    const granted = ephemeralKeyPair();
    const other = ephemeralKeyPair();
    addPeer(node.home, nodeIdFromPublicKey(granted.publicKey), { scopes: ['ssh'] });
    addPeer(node.home, nodeIdFromPublicKey(other.publicKey), { scopes: ['blobs:read'] });
    const conn = await dial(node.address, { alpn: 'alknet/ssh', transport: 'quic', identity: granted });
    try {
      const c = await sshOverConnection(conn, { key: granted });
      c.end();
    } finally {
      await conn.close();
    }
    assert.ok(node.logs.some((l) => l.msg === 'ssh login' && l.who === `node ${nodeIdFromPublicKey(granted.publicKey)}`));
    const conn2 = await dial(node.address, { alpn: 'alknet/ssh', transport: 'tls', identity: other });
    try {
      await assert.rejects(sshOverConnection(conn2, { key: other }), /ssh:/);
    } finally {
      await conn2.close();
    }
  });
});
