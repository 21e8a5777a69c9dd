// Session features through the real OpenSSH client (a PTY driven through `script`, so ssh has a
// terminal of a known size) and through ssh2's client where OpenSSH has no switch (signals);
// authorized_keys options (command=, from=, no-pty) and the env allowlist.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { dial } from '../../actors/listener/dial.ts';
import { sshOverConnection } from '../../protocols/ssh/client.ts';
import { authorize, needsSsh, run, ssh, sshClientDir, startSshNode, type SshClientDir, type SshNode } from './fixtures.ts';
import { skipUnlessTool } from '../support/tools.ts';

describe('ssh sessions', { skip: needsSsh || skipUnlessTool('script', 'bsdutils') }, () => {
  let node: SshNode;
  let client: SshClientDir;
  before(async () => {
    node = await startSshNode({ maxAuthFailuresPerMinute: 1000 });
    client = sshClientDir(node);
    authorize(node, client.publicKey);
  });
  after(async () => {
    await node?.stop();
    if (client) fs.rmSync(client.dir, { recursive: true, force: true });
  });

  it('gives a PTY of the client terminal\'s size (OpenSSH through `script`)', async () => {
    const inner = `stty cols 100 rows 40; exec ssh -tt -F ${client.config} alk-quic 'tty; stty size'`;
    const r = await run('script', ['-qec', inner, '/dev/null'], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /\/dev\/pts\/\d+/);
    assert.match(r.stdout, /40 100/);
  });

  it('follows a window change (ssh2 client: the resize is sent once the shell printed its size)', async () => {
    const conn = await dial(node.address, { alpn: 'alknet/ssh', transport: 'tls' });
    try {
      const c = await sshOverConnection(conn, { key: fs.readFileSync(client.key, 'utf8') });
      const out = await new Promise<string>((resolve, reject) => {
        c.exec('stty size; read line; stty size', { pty: { rows: 40, cols: 100, term: 'xterm' } }, (err, channel) => {
          if (err) return reject(err);
          let text = '';
          let resized = false;
          channel.on('data', (d: Buffer) => {
            text += d.toString();
            if (!resized && text.includes('40 100')) {
              resized = true;
              channel.setWindow(30, 90, 0, 0);
              channel.write('go\n');
            }
          });
          channel.on('close', () => resolve(text));
        });
      });
      assert.match(out, /40 100[\s\S]*30 90/);
      c.end();
    } finally {
      await conn.close();
    }
  });

  it('runs an interactive shell on a PTY (ssh -tt, input from stdin)', async () => {
    const r = await ssh(client, 'alk-tls', ['-tt'], { input: 'echo from-the-shell $((6*7))\nexit 5\n' });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stdout, /from-the-shell 42/);
  });

  it('carries a signal and reports the exit by signal (ssh2 client)', async () => {
    const conn = await dial(node.address, { alpn: 'alknet/ssh', transport: 'quic' });
    try {
      const c = await sshOverConnection(conn, { key: fs.readFileSync(client.key, 'utf8') });
      const result = await new Promise<{ code: number | null; signal?: string }>((resolve, reject) => {
        c.exec('echo ready; sleep 30', (err, channel) => {
          if (err) return reject(err);
          channel.on('data', (d: Buffer) => {
            if (d.toString().includes('ready')) channel.signal('TERM');
          });
          channel.on('exit', (code: number | null, signal?: string) => resolve({ code, signal }));
        });
      });
      // The server sends RFC 4254's "TERM"; ssh2's client reports it as "SIGTERM".
      assert.match(String(result.signal), /^(SIG)?TERM$/);
      c.end();
    } finally {
      await conn.close();
    }
  });

  it('accepts LANG but not other variables from the client', async () => {
    const r = await run('ssh', ['-F', client.config, '-o', 'SetEnv=LANG=C.UTF-8 EVIL=1', 'alk-quic', 'echo "$LANG/${EVIL:-unset}"']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'C.UTF-8/unset');
  });

  it('honours command= (with SSH_ORIGINAL_COMMAND), no-pty and from=', async () => {
    const forced = sshClientDir(node);
    const far = sshClientDir(node);
    try {
      authorize(node, `command="echo forced:$SSH_ORIGINAL_COMMAND",no-pty ${forced.publicKey}`);
      authorize(node, `from="10.1.2.0/24,!127.0.0.1" ${far.publicKey}`);
      const r = await ssh(forced, 'alk-quic', ['echo asked']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), 'forced:echo asked');
      // OpenSSH's -tt makes a refused PTY fatal on the client side: the refusal is what we check.
      const t = await ssh(forced, 'alk-quic', ['-tt', 'tty']);
      assert.match(t.stderr, /PTY allocation request failed/);
      assert.doesNotMatch(t.stdout, /\/dev\/pts/);
      assert.ok(node.logs.some((l) => /ssh pty refused: no-pty/.test(String(l.msg))));
      const f = await ssh(far, 'alk-tls', ['true']);
      assert.equal(f.code, 255);
      assert.ok(node.logs.some((l) => /not from 127\.0\.0\.1/.test(String(l.msg))), 'from= refusal logged');
    } finally {
      fs.rmSync(forced.dir, { recursive: true, force: true });
      fs.rmSync(far.dir, { recursive: true, force: true });
    }
  });

  it('refuses a key line with an option it does not enforce, with a log line', async () => {
    const odd = sshClientDir(node);
    try {
      authorize(node, `permitopen="10.0.0.1:80" ${odd.publicKey}`);
      const r = await ssh(odd, 'alk-quic', ['true']);
      assert.equal(r.code, 255);
      assert.ok(node.logs.some((l) => /option "permitopen" is not supported/.test(String(l.msg))));
      assert.ok(fs.existsSync(path.join(node.home, 'authorized_keys')));
    } finally {
      fs.rmSync(odd.dir, { recursive: true, force: true });
    }
  });
});

// [ssh] runAs: a node running as root runs shells and commands as that user, with that user's own
// groups only. The test process takes a supplementary group first (it runs as root), so a drop that
// kept the node's groups (node-pty's uid/gid options do) would show it in `id -G`.
const runAsSkip = process.getuid?.() !== 0 ? 'runs only as root (runAs applies when the node is root)'
  : spawnSync('getent', ['passwd', 'nobody']).status !== 0 ? 'no user "nobody" to run as'
  : needsSsh || skipUnlessTool('script', 'bsdutils') || skipUnlessTool('setpriv', 'util-linux');

describe('ssh sessions as [ssh] runAs', { skip: runAsSkip }, () => {
  let node: SshNode;
  let client: SshClientDir;
  let groupsBefore: number[];
  const expectedGroups = () => execFileSync('id', ['-G', 'nobody'], { encoding: 'utf8' }).trim();
  before(async () => {
    groupsBefore = process.getgroups!();
    process.setgroups!([...new Set([...groupsBefore, 4, 24])]);
    node = await startSshNode({ maxAuthFailuresPerMinute: 1000, runAs: 'nobody', shell: '/bin/sh' });
    client = sshClientDir(node);
    authorize(node, client.publicKey);
  });
  after(async () => {
    await node?.stop();
    if (client) fs.rmSync(client.dir, { recursive: true, force: true });
    process.setgroups!(groupsBefore);
  });

  it('runs a command as that user, with its own groups, in / when its home does not exist', async () => {
    const r = await ssh(client, 'alk-tls', ['id -un; id -G; pwd']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `nobody\n${expectedGroups()}\n/\n`);
  });

  it('runs a PTY shell as that user, with its own groups', async () => {
    const inner = `exec ssh -tt -F ${client.config} alk-quic 'id -un; id -G; tty'`;
    const r = await run('script', ['-qec', inner, '/dev/null'], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    // `script` may echo a NUL the terminal got as "^@" before the first line.
    const lines = r.stdout.replace(/\r/g, '').split('\n').map((l) => l.replace(/^(\^@|\0)+/, ''));
    assert.ok(lines.includes('nobody'), r.stdout);
    assert.ok(lines.includes(expectedGroups()), `groups: ${JSON.stringify(r.stdout)}`);
    assert.match(r.stdout, /\/dev\/pts\/\d+/);
  });
});
