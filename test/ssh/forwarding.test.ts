// Port forwarding with the real OpenSSH client through alknet/ssh: -L and -R to a local HTTP server,
// -D used by curl --socks5-hostname, and a destination outside [ssh] allowDestinations refused with
// its reason in the log.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { authorize, needsSsh, run, sshClientDir, startSshNode, type SshClientDir, type SshNode } from './fixtures.ts';
import { skipUnlessTool } from '../support/tools.ts';

/** A port that was free a moment ago (for ssh -L/-D/-R, which need a number up front). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** curl until it answers or the attempts run out (ssh needs a moment to set a forward up). */
async function curlUntil(args: string[], tries = 100): Promise<string> {
  let last = '';
  for (let i = 0; i < tries; i++) {
    const r = await run('curl', ['-sS', '--max-time', '10', ...args]);
    if (r.code === 0) return r.stdout;
    last = r.stderr;
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new Error(`curl ${args.join(' ')} never answered: ${last}`);
}

describe('ssh port forwarding', { skip: needsSsh || skipUnlessTool('curl', 'curl') }, () => {
  let node: SshNode;
  let client: SshClientDir;
  let web: http.Server;
  let webPort: number;
  const children: ChildProcess[] = [];
  const background = (args: string[]): ChildProcess => {
    const child = spawn('ssh', ['-F', client.config, '-N', '-o', 'ExitOnForwardFailure=yes', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(child);
    return child;
  };
  before(async () => {
    node = await startSshNode({ maxAuthFailuresPerMinute: 1000 });
    client = sshClientDir(node);
    authorize(node, client.publicKey);
    web = http.createServer((req, res) => res.end(`hello from ${req.url}`));
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    webPort = (web.address() as net.AddressInfo).port;
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await new Promise<void>((r) => web?.close(() => r()));
    await node?.stop();
    if (client) fs.rmSync(client.dir, { recursive: true, force: true });
  });

  it('ssh -L reaches an allowed destination', async () => {
    const port = await freePort();
    background(['-L', `127.0.0.1:${port}:127.0.0.1:${webPort}`, 'alk-quic']);
    assert.equal(await curlUntil([`http://127.0.0.1:${port}/l`]), 'hello from /l');
  });

  it('ssh -R listens on the node and carries connections back', async () => {
    const port = await freePort();
    background(['-R', `127.0.0.1:${port}:127.0.0.1:${webPort}`, 'alk-tls']);
    assert.equal(await curlUntil([`http://127.0.0.1:${port}/r`]), 'hello from /r');
  });

  it('ssh -D is a SOCKS proxy curl can use with names resolved on the node', async () => {
    const port = await freePort();
    background(['-D', `127.0.0.1:${port}`, 'alk-quic']);
    assert.equal(await curlUntil(['--socks5-hostname', `127.0.0.1:${port}`, `http://127.0.0.1:${webPort}/d`]), 'hello from /d');
  });

  it('refuses a destination outside allowDestinations and logs why', async () => {
    const port = await freePort();
    background(['-L', `127.0.0.1:${port}:127.0.0.2:${webPort}`, 'alk-quic']);
    // The local listener is ssh's own; each connection through it is refused by the node.
    for (let i = 0; i < 100 && !node.logs.some((l) => /ssh forwarding refused/.test(String(l.msg))); i++) {
      const r = await run('curl', ['-sS', '--max-time', '10', `http://127.0.0.1:${port}/x`]);
      assert.notEqual(r.stdout, 'hello from /x');
      await new Promise((res) => setTimeout(res, 200));
    }
    const line = node.logs.find((l) => /ssh forwarding refused/.test(String(l.msg)));
    assert.ok(line, 'refusal logged');
    assert.match(String(line.msg), /127\.0\.0\.2:\d+ is not in \[ssh\] allowDestinations/);
    assert.equal(line.remote !== undefined, true);
  });

  it('refuses ssh -R on an address outside allowBind', async () => {
    const port = await freePort();
    const r = await run('ssh', ['-F', client.config, '-N', '-o', 'ExitOnForwardFailure=yes', '-R', `0.0.0.0:${port}:127.0.0.1:${webPort}`, 'alk-tls']);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /remote port forwarding failed/i);
    assert.ok(node.logs.some((l) => /ssh remote forwarding refused: 0\.0\.0\.0/.test(String(l.msg))));
  });
});
