// `alknet node` and `alknet connect` as child processes, the way a user runs them: the ready file,
// a call to the running node, SIGTERM exits 0 (also with a busy session, after its drain), and
// `alknet connect` piping stdin/stdout to one stream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { dial } from '../../actors/listener/dial.ts';
import type { Connection } from '../../actors/listener/connection.ts';
import { CallClient } from '../../protocols/call/client.ts';
import { isNodeId, nodeIdFromPublicKey } from '../../actors/vault/nodeId.ts';
import { newKeys, within } from '../listener/fixtures.ts';
import { BIN, echoProtocol, makeHome, poll, spawnChild, startTestNode, type Child, type TestHome } from './helpers.ts';

interface ReadyFile {
  nodeId: string;
  quic: string;
  tcp: string;
  dns: string | null;
}

/** Starts `alknet node` on 127.0.0.1:0 and waits for its ready file. */
async function startNodeProcess(home: TestHome): Promise<{ child: Child; ready: ReadyFile }> {
  const readyFile = path.join(home.home, 'ready.json');
  const child = spawnChild([BIN, '--home', home.home, 'node', '--listen', '127.0.0.1:0', '--ready-file', readyFile], {
    env: { ALKNET_PASSPHRASE: home.passphrase, ALKNET_HOME: '' },
  });
  const ready = await poll(() => {
    if (child.proc.exitCode !== null) throw new Error(`alknet node exited with ${child.proc.exitCode}: ${child.stderr()}`);
    try {
      return JSON.parse(fs.readFileSync(readyFile, 'utf8')) as ReadyFile;
    } catch {
      return undefined; // not written yet (it is written atomically, so never half)
    }
  }, 30_000, 'the ready file');
  return { child, ready };
}

test('alknet node writes its ready file, serves node/info over alknet/call, and exits 0 on SIGTERM', async () => {
  const home = await makeHome();
  const { child, ready } = await startNodeProcess(home);
  let conn: Connection | undefined;
  try {
    assert.ok(isNodeId(ready.nodeId), `a node id: ${ready.nodeId}`);
    assert.match(ready.quic, /^127\.0\.0\.1:\d+$/);
    assert.match(ready.tcp, /^127\.0\.0\.1:\d+$/);
    assert.ok('dns' in ready);
    for (const transport of ['quic', 'tls'] as const) {
      const address = transport === 'quic' ? ready.quic : ready.tcp;
      const c = await dial(`${ready.nodeId}@${address}`, { alpn: 'alknet/call', transport, identity: newKeys() });
      conn = c;
      const info = await new CallClient(() => c.openStream()).call<{ nodeId: string; alpns: string[] }>('node/info', {}, { deadlineMs: 5000 });
      assert.equal(info.nodeId, ready.nodeId);
      assert.ok(info.alpns.includes('alknet/call'));
      await c.close('done');
      conn = undefined;
    }
    child.proc.kill('SIGTERM');
    const { code, signal } = await child.exited(15_000);
    assert.equal(signal, null, `alknet node had to be killed. stderr: ${child.stderr()}`);
    assert.equal(code, 0, child.stderr());
    // One JSON log line per connection, naming its ALPN.
    const accepted = child.stderr().split('\n').filter((l) => l.includes('"connection accepted"'));
    assert.equal(accepted.length, 2, child.stderr());
    for (const line of accepted) assert.equal(JSON.parse(line).alpn, 'alknet/call');
    assert.ok(!child.stderr().includes(home.passphrase), 'the passphrase is not logged');
  } finally {
    await conn?.close().catch(() => {});
    child.proc.kill('SIGKILL');
    home.cleanup();
  }
});

test('SIGTERM with a busy session: the session keeps working during the drain, then the process exits 0', async () => {
  const home = await makeHome();
  // A longer drain than the default, so the test can use it without racing it.
  fs.writeFileSync(path.join(home.home, 'config.toml'), '[limits]\ndrainMs = 4000\n');
  const { child, ready } = await startNodeProcess(home);
  let conn: Connection | undefined;
  try {
    const c = await dial(`${ready.nodeId}@${ready.quic}`, { alpn: 'alknet/call', transport: 'quic', identity: newKeys() });
    conn = c;
    const client = new CallClient(() => c.openStream());
    assert.equal((await client.call<{ nodeId: string }>('node/info', {}, { deadlineMs: 5000 })).nodeId, ready.nodeId);

    const exited = child.exited(20_000);
    child.proc.kill('SIGTERM');
    // The node stops accepting new connections at once…
    await poll(() => (child.stderr().includes('shutting down') ? true : undefined), 5000, 'the node logs its shutdown');
    const refused = await dial(`${ready.nodeId}@${ready.quic}`, { alpn: 'alknet/call', transport: 'quic', identity: newKeys(), timeoutMs: 2000 }).then(
      async (late) => (await within(late.closed, 5000, 'a late connection closes')).reason,
      (err: Error) => err.message,
    );
    assert.match(refused, /not accepting|shutting down|no QUIC answer|closed|timed out/i);
    // …while the open session still serves calls during the drain.
    assert.equal((await client.call<{ nodeId: string }>('node/info', {}, { deadlineMs: 2000 })).nodeId, ready.nodeId);
    assert.equal(child.proc.exitCode, null, 'the process waits for the drain');

    // The drain ends: the connection is closed and the process exits 0.
    const { reason } = await within(c.closed, 15_000, 'the busy connection is closed by the drain');
    assert.match(reason, /shutting down|node stopped|closed/);
    const { code, signal } = await exited;
    assert.equal(signal, null, `alknet node had to be killed. stderr: ${child.stderr()}`);
    assert.equal(code, 0, child.stderr());
  } finally {
    await conn?.close().catch(() => {});
    child.proc.kill('SIGKILL');
    home.cleanup();
  }
});

test('alknet connect pipes stdin to one stream and the echo to stdout', async () => {
  const server = await makeHome();
  const client = await makeHome('alknet-connect-');
  const node = await startTestNode(server, { protocols: [echoProtocol('example/echo')] });
  try {
    for (const flags of [[], ['--tls']]) {
      const child = spawnChild([BIN, '--home', client.home, 'connect', `${node.nodeId}@${node.address}`, '--alpn', 'example/echo', ...flags], {
        env: { ALKNET_PASSPHRASE: client.passphrase },
        stdin: 'pipe',
      });
      const text = `hello through alknet connect ${flags.join(' ')}\n`.repeat(200);
      child.proc.stdin!.end(text);
      const { code, signal } = await child.exited(20_000);
      assert.equal(signal, null, `alknet connect had to be killed. stderr: ${child.stderr()}`);
      assert.equal(code, 0, child.stderr());
      assert.equal(child.stdout(), text);
    }
    // A pinned key that differs: exit 1 with a one-line reason.
    const wrong = nodeIdFromPublicKey(newKeys().publicKey);
    const child = spawnChild([BIN, '--home', client.home, 'connect', `${wrong}@${node.address}`, '--alpn', 'example/echo'], {
      env: { ALKNET_PASSPHRASE: client.passphrase },
      stdin: 'pipe',
    });
    child.proc.stdin!.end('x');
    const { code } = await child.exited(20_000);
    assert.equal(code, 1, child.stderr());
    assert.match(child.stderr(), new RegExp(`expected ${wrong}`));
    assert.equal(child.stderr().trim().split('\n').length, 1, 'one line');
    assert.equal(child.stdout(), '');
  } finally {
    await node.stop();
    server.cleanup();
    client.cleanup();
  }
});
