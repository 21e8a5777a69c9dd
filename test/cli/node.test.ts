// `alknet node` as a Unix tool: it says which node it is and where it listens (stderr, or the ready
// object on stdout with --json); a busy --listen or --inspect port, and a malformed --listen, end in
// one line that says what is wrong and what to do.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { nodeIdFromPublicKey } from '../../actors/vault/nodeId.ts';
import { homeIdentity, makeHome, poll, spawnChild, type TestHome } from '../node/helpers.ts';
import { BIN, alknet, alknetLines, cleanEnv } from './run.ts';

let home: TestHome;
let nodeId: string;

before(async () => {
  home = await makeHome('alknet-cli-node-');
  nodeId = nodeIdFromPublicKey((await homeIdentity(home.home)).publicKey);
});
after(() => home.cleanup());

/** A TCP port on 127.0.0.1 held by someone else for the duration of `fn`. */
async function withBusyTcpPort(fn: (port: number) => Promise<void>): Promise<void> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await fn((server.address() as net.AddressInfo).port);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function startNode(args: string[]) {
  return spawnChild([BIN, '--home', home.home, ...args, 'node', '--listen', '127.0.0.1:0'], {
    env: { ...cleanEnv(), ALKNET_PASSPHRASE: home.passphrase },
  });
}

test('alknet node prints its node id and address on stderr once it listens; stdout stays empty', async () => {
  const child = startNode([]);
  try {
    const line = await poll(() => /^alknet: node (\S+) listening on (127\.0\.0\.1:\d+) \(QUIC\/UDP and TLS\/TCP\)$/m.exec(child.stderr()) ?? undefined, 60_000, 'the start line');
    assert.equal(line[1], nodeId);
    child.proc.kill('SIGTERM');
    const { code } = await child.exited(30_000);
    assert.equal(code, 0, child.stderr());
    assert.equal(child.stdout(), '');
  } finally {
    child.proc.kill('SIGKILL');
  }
});

test('alknet --json node prints the ready object on stdout instead', async () => {
  const child = startNode(['--json']);
  try {
    const text = await poll(() => (child.stdout().includes('\n') ? child.stdout() : undefined), 60_000, 'the ready object');
    const ready = JSON.parse(text) as { nodeId: string; quic: string; tcp: string };
    assert.equal(ready.nodeId, nodeId);
    assert.match(ready.quic, /^127\.0\.0\.1:\d+$/);
    assert.equal(ready.tcp, ready.quic);
    assert.doesNotMatch(child.stderr(), /listening on 127/m);
    child.proc.kill('SIGTERM');
    assert.equal((await child.exited(30_000)).code, 0, child.stderr());
  } finally {
    child.proc.kill('SIGKILL');
  }
});

test('a busy --listen port: one alknet line naming the address and what to do, exit 1', async () => {
  const env = { ALKNET_PASSPHRASE: home.passphrase };
  await withBusyTcpPort(async (port) => {
    const run = await alknet(['--home', home.home, 'node', '--listen', `127.0.0.1:${port}`], { env });
    assert.equal(run.code, 1, run.stderr);
    assert.deepEqual(alknetLines(run.stderr), [`alknet: cannot listen on 127.0.0.1:${port}: address already in use (another node running? pick another --listen)`]);
    assert.doesNotMatch(run.stderr, /gave up|\n +at /);
  });
  // The TCP port free, its UDP twin taken.
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
  try {
    const port = udp.address().port;
    const run = await alknet(['--home', home.home, 'node', '--listen', `127.0.0.1:${port}`], { env });
    assert.equal(run.code, 1, run.stderr);
    assert.deepEqual(alknetLines(run.stderr), [`alknet: cannot listen on 127.0.0.1:${port}: the UDP port is taken (another node running? pick another --listen)`]);
  } finally {
    udp.close();
  }
});

test('a busy --inspect port: one line, exit 1', async () => {
  await withBusyTcpPort(async (port) => {
    const run = await alknet(['--home', home.home, 'node', '--listen', '127.0.0.1:0', `--inspect=${port}`], { env: { ALKNET_PASSPHRASE: home.passphrase } });
    assert.equal(run.code, 1, run.stderr);
    assert.deepEqual(alknetLines(run.stderr), [`alknet: cannot start the inspector on 127.0.0.1:${port}: address already in use (pick another with --inspect=PORT, or 0 for any)`]);
    assert.doesNotMatch(run.stderr, /\n +at /);
  });
});

test('a malformed --listen is a usage error (exit 2), before any passphrase is asked for', async () => {
  for (const listen of ['nope', '127.0.0.1', '127.0.0.1:70000', 'a@b:1']) {
    const run = await alknet(['--home', home.home, 'node', '--listen', listen]);
    assert.equal(run.code, 2, `${listen}: ${run.stderr}`);
    assert.match(run.stderr, /^alknet: --listen ".*" must be HOST:PORT or \[IPv6\]:PORT \(port 0 picks a free one\)\nusage: alknet node /);
  }
});
