// alknet/ssh under bad input: malformed SSH packets and random bytes after a valid identification
// line, a client that stalls mid-handshake, 100 failed logins from one address, 20 concurrent
// sessions. Each ends with a closed connection or a clear refusal; the node and the sessions
// already open keep working.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fc from 'fast-check';
import ssh2 from 'ssh2';
import { dial } from '../../actors/listener/dial.ts';
import { sshOverConnection } from '../../protocols/ssh/client.ts';
import { hashPassword } from '../../protocols/ssh/passwords.ts';
import { authorize, needsSsh, ssh, sshClientDir, startSshNode, type SshClientDir, type SshNode } from './fixtures.ts';

/** Resolves with `value` after `ms` (unref'd: never keeps the process alive). */
function after_(ms: number, value: string): Promise<string> {
  return new Promise((r) => setTimeout(() => r(value), ms).unref());
}

/**
 * Sends bytes on a fresh alknet/ssh stream; resolves with the reason once the node has closed the
 * connection, or 'STILL OPEN' after 60 s. The node closes the whole connection, so this waits for
 * `conn.closed` (not only the stream's end) before closing our side: a QUIC client close() that
 * crosses the server's CONNECTION_CLOSE left the client's UDP socket open and the test process alive.
 */
async function sendAndWaitClosed(node: SshNode, bytes: Buffer[], transport: 'tls' | 'quic' = 'tls'): Promise<string> {
  const conn = await dial(node.address, { alpn: 'alknet/ssh', transport });
  const stream = await conn.openStream();
  stream.on('error', () => {});
  stream.on('data', () => {});
  for (const b of bytes) stream.write(b);
  const reason = await Promise.race([conn.closed.then((c) => c.reason), after_(60_000, 'STILL OPEN')]);
  if (reason === 'STILL OPEN') await conn.close().catch(() => {});
  return reason;
}

function execOn(c: ssh2.Client, command: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    c.exec(command, (err, ch) => {
      if (err) return reject(err);
      let out = '';
      let code = -1;
      ch.on('data', (d: Buffer) => (out += d.toString()));
      ch.on('exit', (n: number) => (code = n));
      ch.on('close', () => resolve({ code, out }));
    });
  });
}

/** Logs in in-process with the client folder's key and runs one command. */
async function loginAndRun(node: SshNode, client: SshClientDir, transport: 'tls' | 'quic', command: string): Promise<{ code: number; out: string }> {
  const conn = await dial(node.address, { alpn: 'alknet/ssh', transport });
  try {
    const c = await sshOverConnection(conn, { key: fs.readFileSync(client.key, 'utf8') });
    const r = await execOn(c, command);
    c.end();
    return r;
  } finally {
    await conn.close().catch(() => {});
  }
}

describe('alknet/ssh hardening: malformed packets, stalled handshakes', { skip: needsSsh }, () => {
  // A short login grace time, so a client that sends half a packet is let go in seconds; logins
  // here are in-process (tens of milliseconds), far inside it.
  let node: SshNode;
  let client: SshClientDir;
  before(async () => {
    node = await startSshNode({ maxAuthFailuresPerMinute: 1000 }, undefined, { loginGraceMs: 5_000 });
    client = sshClientDir(node);
    authorize(node, client.publicKey);
  });
  after(async () => {
    await node?.stop();
    if (client) fs.rmSync(client.dir, { recursive: true, force: true });
  });

  it('closes a connection that sends malformed packets, and keeps serving', async () => {
    const ident = Buffer.from('SSH-2.0-evil\r\n');
    // A packet length far above ssh2's limit, then a zero one: refused at once, not at the grace time.
    const huge = await sendAndWaitClosed(node, [ident, Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3])]);
    assert.doesNotMatch(huge, /STILL OPEN|login grace/);
    const zero = await sendAndWaitClosed(node, [ident, Buffer.alloc(64)], 'quic');
    assert.doesNotMatch(zero, /STILL OPEN|login grace/);
    // A garbage identification line.
    assert.doesNotMatch(await sendAndWaitClosed(node, [Buffer.alloc(300, 0x41), Buffer.from('\r\n')]), /STILL OPEN/);
    // Random bytes after a valid identification line: closed (a length that asks for more bytes
    // than were sent is let go at the grace time).
    await fc.assert(fc.asyncProperty(fc.uint8Array({ minLength: 16, maxLength: 2048 }), async (bytes) => {
      assert.notEqual(await sendAndWaitClosed(node, [ident, Buffer.from(bytes)]), 'STILL OPEN');
    }), { numRuns: 15 });
    assert.deepEqual(await loginAndRun(node, client, 'tls', 'echo still-here'), { code: 0, out: 'still-here\n' });
    assert.deepEqual(await loginAndRun(node, client, 'quic', 'echo still-here'), { code: 0, out: 'still-here\n' });
  });

  it('disconnects a client that stalls mid-handshake (login grace time) while another logs in', async () => {
    const stalled = sendAndWaitClosed(node, [Buffer.from('SSH-2.0-slow\r\n')], 'quic');
    const stalledTls = sendAndWaitClosed(node, [Buffer.from('SSH-2.0-slow\r\n')], 'tls');
    assert.deepEqual(await loginAndRun(node, client, 'quic', 'echo meanwhile'), { code: 0, out: 'meanwhile\n' });
    assert.match(await stalled, /login grace time/); // QUIC carries the server's reason
    assert.notEqual(await stalledTls, 'STILL OPEN');
    assert.equal(node.logs.filter((l) => /not logged in within/.test(String(l.msg))).length, 2);
  });
});

describe('alknet/ssh hardening: 20 concurrent sessions', { skip: needsSsh }, () => {
  let node: SshNode;
  let client: SshClientDir;
  before(async () => {
    node = await startSshNode();
    client = sshClientDir(node);
    authorize(node, client.publicKey);
  });
  after(async () => {
    await node?.stop();
    if (client) fs.rmSync(client.dir, { recursive: true, force: true });
  });

  it('serves 20 concurrent OpenSSH sessions (alknet connect as ProxyCommand, QUIC and TLS)', { timeout: 240_000 }, async () => {
    const runs = await Promise.all(Array.from({ length: 20 }, (_, i) => ssh(client, i % 2 ? 'alk-quic' : 'alk-tls', [`echo session-${i}; exit ${i}`], { timeoutMs: 180_000 })));
    runs.forEach((r, i) => {
      assert.equal(r.stdout, `session-${i}\n`, r.stderr);
      assert.equal(r.code, i, r.stderr);
    });
  });
});

describe('alknet/ssh: 100 failed logins from one address', { skip: needsSsh }, () => {
  let node: SshNode;
  let client: SshClientDir;
  before(async () => {
    node = await startSshNode({ passwordAuthentication: true, passwords: { ann: await hashPassword('right') } });
    client = sshClientDir(node);
    authorize(node, client.publicKey);
  });
  after(async () => {
    await node?.stop();
    if (client) fs.rmSync(client.dir, { recursive: true, force: true });
  });

  it('shuts the address out after 5 a minute, logs with the peer, and open sessions go on', { timeout: 200_000 }, async () => {
    // A session open before the flood.
    const conn = await dial(node.address, { alpn: 'alknet/ssh', transport: 'quic' });
    const open = await sshOverConnection(conn, { key: fs.readFileSync(client.key, 'utf8') });
    let refused = 0;
    for (let i = 0; i < 100; i++) {
      const c = await dial(node.address, { alpn: 'alknet/ssh', transport: 'tls' });
      const ssh = new ssh2.Client();
      // Bounded: a refused client ends with 'error' or 'close' (ssh2's readyTimeout is a second bound).
      const outcome = await Promise.race([
        new Promise<string>((resolve) => {
          ssh.on('ready', () => resolve('ready'));
          ssh.on('error', (err) => resolve(err.message));
          ssh.on('close', () => resolve('closed'));
          c.openStream().then(
            (stream) => ssh.connect({ sock: stream as never, username: 'ann', password: `wrong-${i}`, readyTimeout: 20_000, hostVerifier: () => true }),
            (err: Error) => resolve(`no stream: ${err.message}`),
          );
        }),
        after_(30_000, 'NEITHER CLOSED NOR REFUSED'),
      ]);
      assert.notEqual(outcome, 'ready');
      assert.notEqual(outcome, 'NEITHER CLOSED NOR REFUSED', `login ${i}`);
      refused++;
      ssh.end();
      await c.close().catch(() => {});
    }
    assert.equal(refused, 100);
    const refusals = node.logs.filter((l) => /ssh login refused/.test(String(l.msg)));
    assert.equal(refusals.length, 5, 'refused attempts checked (the rest were shut out before any check)');
    assert.ok(refusals.every((l) => typeof l.remote === 'string' && String(l.remote).startsWith('127.0.0.1:')));
    assert.ok(node.logs.some((l) => /too many refused logins from 127\.0\.0\.1/.test(String(l.msg))));
    // The right password from the same address is shut out for now too (that is the point).
    const c = await dial(node.address, { alpn: 'alknet/ssh', transport: 'tls' });
    const late = new ssh2.Client();
    const rightOutcome = await Promise.race([
      new Promise<string>((resolve) => {
        late.on('ready', () => resolve('ready'));
        late.on('error', (err) => resolve(err.message));
        late.on('close', () => resolve('closed'));
        void c.openStream().then((stream) => late.connect({ sock: stream as never, username: 'ann', password: 'right', readyTimeout: 20_000, hostVerifier: () => true }));
      }),
      after_(30_000, 'NEITHER CLOSED NOR REFUSED'),
    ]);
    assert.ok(rightOutcome !== 'ready' && rightOutcome !== 'NEITHER CLOSED NOR REFUSED', rightOutcome);
    late.end();
    await c.close().catch(() => {});
    // The session opened before still works.
    const r = await execOn(open, 'echo after-the-flood');
    assert.equal(r.out, 'after-the-flood\n');
    open.end();
    await conn.close();
  });
});
