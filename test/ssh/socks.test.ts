// SOCKS5: the pure codec under fast-check (never throws, never reads past what it got, refuses
// oversized messages), and `alknet socks` end to end: curl through it (domain names and IPv4,
// no-auth and RFC 1929), BIND and UDP ASSOCIATE answered "command not supported", a greeting with
// lying lengths closed (the SOCKS server in-process: a stalled lying greeting, request or credentials
// closed at the handshake deadline, over-long messages refused, other clients served meanwhile), a destination outside the node's policy answered "not allowed".
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { Duplex } from 'node:stream';
import fc from 'fast-check';
import type { Client } from 'ssh2';
import { createSocksServer } from '../../protocols/ssh/socks5Server.ts';
import { MAX_SOCKS_MESSAGE_BYTES, parseCredentials, parseGreeting, parseRequest, REPLY } from '../../protocols/ssh/socks5.ts';
import { addPeer } from '../../actors/peers/peersFile.ts';
import { openVaultFile } from '../../actors/vault/vaultFile.ts';
import { nodeKeys } from '../../actors/vault/keys.ts';
import { BIN, PASSPHRASE, makeHome, projectRoot, run, startSshNode, type SshNode } from './fixtures.ts';
import { skipUnlessTool } from '../support/tools.ts';

describe('SOCKS5 codec', () => {
  it('never throws and never uses more than it got, whatever the bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 700 }), (bytes) => {
      for (const parse of [parseGreeting, parseCredentials, parseRequest] as const) {
        const r = parse(bytes);
        if (r.kind === 'ok') assert.ok(r.used <= bytes.length);
        if (r.kind === 'need') assert.ok(bytes.length <= MAX_SOCKS_MESSAGE_BYTES, 'a parser asked for more past the size limit');
      }
    }), { numRuns: 2000 });
  });

  it('waits for what a greeting announces, and refuses one that lies beyond the limit', () => {
    assert.equal(parseGreeting(Uint8Array.from([5, 200, 0])).kind, 'need');
    const huge = new Uint8Array(MAX_SOCKS_MESSAGE_BYTES + 1);
    huge[0] = 5;
    huge[1] = 255;
    assert.equal(parseGreeting(huge).kind, 'ok'); // 255 methods fit: used 257 bytes
    assert.equal(parseGreeting(Uint8Array.from([4, 1, 0])).kind, 'error');
    assert.equal(parseGreeting(Uint8Array.from([5, 0])).kind, 'error');
  });

  it('parses CONNECT to IPv4, IPv6 and domain names; BIND and UDP are not supported', () => {
    const v4 = parseRequest(Uint8Array.from([5, 1, 0, 1, 10, 0, 0, 1, 0, 80]));
    assert.deepEqual(v4.kind === 'ok' && v4.value, { command: 1, host: '10.0.0.1', port: 80, addressType: 'ipv4' });
    const v6 = parseRequest(Uint8Array.from([5, 1, 0, 4, ...new Array(15).fill(0), 1, 1, 187]));
    assert.equal(v6.kind === 'ok' && v6.value.host, '0:0:0:0:0:0:0:1');
    const name = Buffer.from('example.org');
    const d = parseRequest(Uint8Array.from([5, 1, 0, 3, name.length, ...name, 1, 187]));
    assert.equal(d.kind === 'ok' && `${d.value.host}:${d.value.port}`, 'example.org:443');
    for (const cmd of [2, 3]) {
      const r = parseRequest(Uint8Array.from([5, cmd, 0, 1, 1, 2, 3, 4, 0, 80]));
      assert.equal(r.kind === 'error' && r.reply![1], REPLY.COMMAND_NOT_SUPPORTED);
    }
    const bad = parseRequest(Uint8Array.from([5, 1, 0, 9, 1, 2]));
    assert.equal(bad.kind === 'error' && bad.reply![1], REPLY.ADDRESS_TYPE_NOT_SUPPORTED);
  });
});

/** Sends bytes on a raw socket; resolves with everything received until the server closes. */
function rawExchange(port: number, chunks: Buffer[], endAfter = false): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    s.on('data', (d) => got.push(d));
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(got)));
    s.on('connect', () => {
      for (const c of chunks) s.write(c);
      if (endAfter) s.end();
    });
    setTimeout(() => s.destroy(), 30_000).unref();
  });
}

/** An echo "channel" for an in-process SOCKS server: what the client sends comes back. */
function echoChannel(): Duplex {
  const d: Duplex = new Duplex({
    read() {},
    write(chunk, _enc, cb) {
      d.push(chunk);
      cb();
    },
    final(cb) {
      d.push(null);
      cb();
    },
  });
  return d;
}

describe('SOCKS5 server: lying lengths', () => {
  let server: net.Server;
  let port: number;
  const lines: string[] = [];
  const opened: string[] = [];
  const listen = async (credentials?: { username: string; password: string }) => {
    // The SSH side is a stand-in whose direct-tcpip channels echo; only the SOCKS side is under test.
    const fakeSsh = {
      forwardOut(_h: string, _p: number, host: string, dport: number, cb: (err: Error | undefined, ch: Duplex) => void) {
        opened.push(`${host}:${dport}`);
        cb(undefined, echoChannel());
      },
    } as unknown as Client;
    const s = createSocksServer({ ssh: async () => fakeSsh, handshakeMs: 500, log: (l) => lines.push(l), ...(credentials ? { credentials } : {}) });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return s;
  };
  before(async () => {
    server = await listen();
    port = (server.address() as net.AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  /** A well-behaved client: CONNECT to a domain name, then an echo round trip. */
  const goodClient = (tag: string) => new Promise<string>((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const name = Buffer.from('example.org');
    let got = Buffer.alloc(0);
    s.on('error', reject);
    s.on('connect', () => s.write(Buffer.concat([Buffer.from([5, 1, 0, 5, 1, 0, 3, name.length]), name, Buffer.from([0, 80]), Buffer.from(tag)])));
    s.on('data', (d) => {
      got = Buffer.concat([got, d]);
      // [5,0] method reply, 10-byte request reply, then the echo.
      if (got.length >= 12 + tag.length) {
        s.destroy();
        resolve(got.subarray(12).toString());
      }
    });
  });

  it('closes a greeting, request or credentials whose length asks for bytes that never come, unanswered', async () => {
    const stalledGreeting = rawExchange(port, [Buffer.from([5, 200, 0, 1])]);
    const name = Buffer.from('short');
    const stalledRequest = rawExchange(port, [Buffer.from([5, 1, 0]), Buffer.concat([Buffer.from([5, 1, 0, 3, 200]), name])]);
    const stalledIpv6 = rawExchange(port, [Buffer.from([5, 1, 0]), Buffer.from([5, 1, 0, 4, 0, 0, 0])]);
    // Others are served while those wait.
    assert.equal(await goodClient('meanwhile'), 'meanwhile');
    assert.deepEqual([...await stalledGreeting], []);
    assert.deepEqual([...await stalledRequest], [5, 0]); // the method reply, then nothing
    assert.deepEqual([...await stalledIpv6], [5, 0]);
    assert.equal(lines.filter((l) => /did not finish its handshake/.test(l)).length, 3);
    assert.ok(!opened.includes('short:0'), 'no tunnel for a request that never completed');
  });

  it('answers a greeting without a usable method [5, 0xff] and closes; another version is closed unanswered', async () => {
    const noMethod = await rawExchange(port, [Buffer.from([5, 0])]);
    assert.deepEqual([...noMethod], [5, 0xff]);
    const notMine = await rawExchange(port, [Buffer.from([5, 3, 0x80, 0x81, 0x82])]);
    assert.deepEqual([...notMine], [5, 0xff]);
    const wrongVersion = await rawExchange(port, [Buffer.from([4, 1, 0, 80, 127, 0, 0, 1, 0])]);
    assert.deepEqual([...wrongVersion], []);
    assert.equal(await goodClient('after'), 'after');
  });

  it('closes credentials whose lengths lie, and answers them as a failed login', async () => {
    const withAuth = await listen({ username: 'ann', password: 'pw' });
    const authPort = (withAuth.address() as net.AddressInfo).port;
    try {
      // ulen 255 with 3 bytes sent, then the client's end: closed, nothing but the method reply.
      const short = await rawExchange(authPort, [Buffer.from([5, 1, 2]), Buffer.from([1, 255, 0x61, 0x6e, 0x6e])], true);
      assert.deepEqual([...short], [5, 2]);
      // ulen 0: refused with the RFC 1929 failure status.
      const empty = await rawExchange(authPort, [Buffer.from([5, 1, 2]), Buffer.from([1, 0, 0])]);
      assert.deepEqual([...empty], [5, 2, 1, 1]);
      // Stalled mid-credentials: closed at the handshake deadline.
      const stalled = await rawExchange(authPort, [Buffer.from([5, 1, 2]), Buffer.from([1, 3, 0x61, 0x6e, 0x6e, 200, 0x70])]);
      assert.deepEqual([...stalled], [5, 2]);
    } finally {
      await new Promise<void>((r) => withAuth.close(() => r()));
    }
  });
});

describe('alknet socks', { skip: skipUnlessTool('curl', 'curl') }, () => {
  let node: SshNode;
  let clientHome: string;
  let web: http.Server;
  let webPort: number;
  const children: ChildProcess[] = [];
  const start = async (extra: string[], env: NodeJS.ProcessEnv = {}): Promise<number> => {
    const child = spawn(process.execPath, [BIN, '--home', clientHome, 'socks', '--listen', '127.0.0.1:0', ...extra, node.address], {
      cwd: projectRoot, env: { ...process.env, ALKNET_PASSPHRASE: PASSPHRASE, ...env }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(child);
    let err = '';
    return new Promise((resolve, reject) => {
      child.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        const m = /SOCKS5 on 127\.0\.0\.1:(\d+)/.exec(err);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new Error(`alknet socks exited ${code}: ${err}`)));
    });
  };
  before(async () => {
    node = await startSshNode({ maxAuthFailuresPerMinute: 1000 });
    clientHome = await makeHome('alknet-socks-client-');
    const secret = await openVaultFile(clientHome, PASSPHRASE);
    addPeer(node.home, nodeKeys(secret.seed).nodeId, { scopes: ['ssh'] });
    secret.wipe();
    web = http.createServer((req, res) => res.end(`socks ${req.url}`));
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    webPort = (web.address() as net.AddressInfo).port;
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await new Promise<void>((r) => web?.close(() => r()));
    await node?.stop();
    if (clientHome) fs.rmSync(clientHome, { recursive: true, force: true });
  });

  it('carries curl through the node (domain names and IPv4), logged in with the node key', async () => {
    const port = await start([]);
    const byName = await run('curl', ['-sS', '--max-time', '20', '--socks5-hostname', `127.0.0.1:${port}`, `http://127.0.0.1:${webPort}/name`]);
    assert.equal(byName.stdout, 'socks /name', byName.stderr);
    const byIp = await run('curl', ['-sS', '--max-time', '20', '--socks5', `127.0.0.1:${port}`, `http://127.0.0.1:${webPort}/ip`]);
    assert.equal(byIp.stdout, 'socks /ip', byIp.stderr);
    assert.ok(node.logs.some((l) => l.msg === 'ssh login' && /^node /.test(String(l.who))));

    // BIND and UDP ASSOCIATE: "command not supported" (7).
    for (const cmd of [2, 3]) {
      const reply = await rawExchange(port, [Buffer.from([5, 1, 0]), Buffer.from([5, cmd, 0, 1, 127, 0, 0, 1, 0, 80])]);
      assert.deepEqual([...reply.subarray(0, 2)], [5, 0]);
      // [5, 0] chose no-auth; then the request's reply [5, REP, …].
      assert.equal(reply[2], 5);
      assert.equal(reply[3], REPLY.COMMAND_NOT_SUPPORTED);
    }
    // A greeting announcing 200 methods, sent 3, then the client's end: closed, nothing answered.
    const lying = await rawExchange(port, [Buffer.from([5, 200, 0])], true);
    assert.equal(lying.length, 0);
    // A destination outside the node's [ssh] allowDestinations: refused (ssh2's server gives every
    // refusal as "connect failed", so the SOCKS reply is "connection refused"), the reason in the node's log.
    const refused = await rawExchange(port, [Buffer.from([5, 1, 0]), Buffer.from([5, 1, 0, 1, 127, 0, 0, 2, 0, 80])]);
    assert.equal(refused[3], REPLY.CONNECTION_REFUSED);
    assert.ok(node.logs.some((l) => /ssh forwarding refused: 127\.0\.0\.2:80 is not in/.test(String(l.msg))));
    // Still serving.
    const again = await run('curl', ['-sS', '--max-time', '20', '--socks5-hostname', `127.0.0.1:${port}`, `http://127.0.0.1:${webPort}/again`]);
    assert.equal(again.stdout, 'socks /again', again.stderr);
  });

  it('asks for RFC 1929 credentials when --user is given', async () => {
    const port = await start(['--user', 'ann'], { ALKNET_SOCKS_PASSWORD: 'pw-1' });
    const ok = await run('curl', ['-sS', '--max-time', '20', '--socks5-hostname', `ann:pw-1@127.0.0.1:${port}`, `http://127.0.0.1:${webPort}/auth`]);
    assert.equal(ok.stdout, 'socks /auth', ok.stderr);
    const wrong = await run('curl', ['-sS', '--max-time', '20', '--socks5-hostname', `ann:nope@127.0.0.1:${port}`, `http://127.0.0.1:${webPort}/auth`]);
    assert.notEqual(wrong.code, 0);
    const none = await rawExchange(port, [Buffer.from([5, 1, 0])]);
    assert.deepEqual([...none], [5, 0xff]);
  });

  it('is a one-line usage error without an address', async () => {
    const r = await run(process.execPath, [BIN, '--home', path.join(clientHome, 'x'), 'socks']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim().split('\n')[0]!.startsWith('alknet'), true);
  });
});
