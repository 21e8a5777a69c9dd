// The node's agent (supervisors/agent.ts, cli/agent.ts): while `alknet node` runs for a home, the CLI
// of that home calls through HOME/agent.sock as the node itself, with no passphrase anywhere; with the
// node gone (stopped, or killed and its socket left behind) the CLI takes its usual path. The socket
// is 0600, another user cannot open it, and a node never takes over a live agent's socket.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { nodeIdFromPublicKey } from '../../actors/vault/nodeId.ts';
import { createBus } from '../../bus/index.ts';
import { OperationCatalogue } from '../../operations/catalogue.ts';
import { startAgent, AGENT_SOCKET } from '../../supervisors/agent.ts';
import { homeIdentity, makeHome, poll, silentLogger, spawnChild, type Child, type TestHome } from '../node/helpers.ts';
import { BIN, alknet, alknetLines, cleanEnv } from './run.ts';

let homeA: TestHome;
let homeB: TestHome;
let idA: string;
let idB: string;

before(async () => {
  homeA = await makeHome('alk-agent-a-');
  homeB = await makeHome('alk-agent-b-');
  idA = nodeIdFromPublicKey((await homeIdentity(homeA.home)).publicKey);
  idB = nodeIdFromPublicKey((await homeIdentity(homeB.home)).publicKey);
  // B lets A's key see its actors (admin); nobody else may.
  const granted = await alknet(['--home', homeB.home, 'peer', 'add', idA, '--scopes', 'admin']);
  assert.equal(granted.code, 0, granted.stderr);
});
after(() => {
  homeA.cleanup();
  homeB.cleanup();
});

interface RunningChild {
  child: Child;
  address: string;
}

/** `alknet node` for a home as a child process (the passphrase only in the node's environment). */
async function startNodeOf(home: TestHome): Promise<RunningChild> {
  const ready = path.join(home.home, 'ready.json');
  fs.rmSync(ready, { force: true });
  const child = spawnChild([BIN, '--home', home.home, 'node', '--listen', '127.0.0.1:0', '--ready-file', ready], {
    env: { ...cleanEnv(), ALKNET_PASSPHRASE: home.passphrase },
  });
  const text = await poll(() => (fs.existsSync(ready) ? fs.readFileSync(ready, 'utf8') : undefined), 60_000, `the ready file (${child.stderr()})`);
  const { nodeId, quic } = JSON.parse(text) as { nodeId: string; quic: string };
  await poll(() => (fs.existsSync(path.join(home.home, AGENT_SOCKET)) ? true : undefined), 10_000, 'the agent socket');
  return { child, address: `${nodeId}@${quic}` };
}

async function stop(node: RunningChild): Promise<void> {
  node.child.proc.kill('SIGTERM');
  const { code } = await node.child.exited(30_000);
  assert.equal(code, 0, node.child.stderr());
}

test('with the node running, call and ops from its home use the agent: no passphrase, the node\'s own scopes', async () => {
  const node = await startNodeOf(homeA);
  try {
    const sock = fs.lstatSync(path.join(homeA.home, AGENT_SOCKET));
    assert.ok(sock.isSocket(), 'agent.sock is a socket');
    assert.equal(sock.mode & 0o777, 0o600, `agent.sock mode ${(sock.mode & 0o777).toString(8)}`);
    assert.equal(sock.uid, process.getuid!());

    // No ALKNET_PASSPHRASE, no --passphrase-file, no terminal: only the agent can be the node.
    const actors = await alknet(['--home', homeA.home, 'call', node.address, 'node/actors']);
    assert.equal(actors.code, 0, actors.stderr);
    assert.equal((JSON.parse(actors.stdout) as { root: { id: string } }).root.id, 'node');
    assert.deepEqual(alknetLines(actors.stderr), [], 'no "calling anonymously" line: the agent was used');
    // By its listen address alone (no node id) it is the same node.
    const byAddress = await alknet(['--home', homeA.home, 'call', node.address.split('@')[1]!, 'node/actors']);
    assert.equal(byAddress.code, 0, byAddress.stderr);

    // The same call without the agent (no home) is anonymous and refused.
    const anonymous = await alknet(['--home', path.join(homeA.home, 'absent'), 'call', node.address, 'node/actors']);
    assert.equal(anonymous.code, 1);
    assert.match(anonymous.stderr, /FORBIDDEN/);

    const ops = await alknet(['--home', homeA.home, '--json', 'ops', node.address]);
    assert.equal(ops.code, 0, ops.stderr);
    assert.ok((JSON.parse(ops.stdout) as { name: string }[]).some((o) => o.name === 'node/actors'));

    const sub = await alknet(['--home', homeA.home, 'call', node.address, 'node/info', '--subscribe']);
    assert.equal(sub.code, 0, sub.stderr);
    assert.equal((JSON.parse(sub.stdout.trim()) as { nodeId: string }).nodeId, idA);

    // Errors from the node come back as from the network: CODE: message, exit 1.
    const bad = await alknet(['--home', homeA.home, 'call', node.address, 'blobs/stat', '{"hash":"nope"}']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^alknet: INVALID_INPUT: /);
    // A malformed address is still a usage error.
    const usage = await alknet(['--home', homeA.home, 'call', 'not an address', 'node/info']);
    assert.equal(usage.code, 2, usage.stderr);
  } finally {
    await stop(node);
  }
  assert.equal(fs.existsSync(path.join(homeA.home, AGENT_SOCKET)), false, 'the socket is removed on stop');

  // Stopped: the usual path (a locked vault: anonymous), which now finds nobody listening.
  const after = await alknet(['--home', homeA.home, 'call', node.address, 'node/info', '--timeout', '3000']);
  assert.equal(after.code, 1);
  assert.match(after.stderr, /calling anonymously: the vault in .* is locked/);
  assert.match(after.stderr, /cannot reach/);
});

test('for another node\'s ADDR the running node dials it with its own key', async () => {
  const a = await startNodeOf(homeA);
  const b = await startNodeOf(homeB);
  try {
    for (const transport of [[], ['--tls']]) {
      const relayed = await alknet(['--home', homeA.home, 'call', b.address, 'node/actors', ...transport]);
      assert.equal(relayed.code, 0, `${transport.join(' ')}: ${relayed.stderr}`);
      assert.equal((JSON.parse(relayed.stdout) as { root: { id: string } }).root.id, 'node');
    }
    // B grants admin to A's key only: an anonymous caller is refused.
    const anonymous = await alknet(['--home', path.join(homeB.home, 'absent'), 'call', b.address, 'node/actors']);
    assert.equal(anonymous.code, 1);
    assert.match(anonymous.stderr, /FORBIDDEN/);
    // A node id that does not match the address's key is refused by the node's dial, as by the CLI's.
    const wrong = await alknet(['--home', homeA.home, 'call', `${idA}@${b.address.split('@')[1]}`, 'node/info']);
    assert.equal(wrong.code, 0, 'idA names node A itself: served locally whatever the address');
    const unreachable = await alknet(['--home', homeA.home, 'call', `${idB}@127.0.0.1:1`, 'node/info', '--timeout', '2000']);
    assert.equal(unreachable.code, 1);
    assert.equal(alknetLines(unreachable.stderr).length, 1, unreachable.stderr);
  } finally {
    await stop(b);
    await stop(a);
  }
});

test('a node killed without cleaning up leaves a stale socket: the CLI ignores it, the next node replaces it', async () => {
  const first = await startNodeOf(homeA);
  first.child.proc.kill('SIGKILL');
  await first.child.exited(30_000);
  const sockPath = path.join(homeA.home, AGENT_SOCKET);
  assert.ok(fs.lstatSync(sockPath).isSocket(), 'the killed node left its socket');

  const stale = await alknet(['--home', homeA.home, 'call', first.address, 'node/info', '--timeout', '3000'], { killAfterMs: 30_000 });
  assert.equal(stale.code, 1);
  assert.match(stale.stderr, /calling anonymously/);

  const second = await startNodeOf(homeA);
  try {
    const actors = await alknet(['--home', homeA.home, 'call', second.address, 'node/actors']);
    assert.equal(actors.code, 0, actors.stderr);
  } finally {
    await stop(second);
  }
});

test('a live agent\'s socket is never taken over, nor a file that is not a socket', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alk-agent-'));
  const bus = createBus({ logger: silentLogger() });
  const options = { home: dir, bus, operations: new OperationCatalogue({ bus }), log: silentLogger(), nodeId: () => idA, address: () => '127.0.0.1:1' };
  const sockPath = path.join(dir, AGENT_SOCKET);
  try {
    const live = net.createServer((s) => s.destroy());
    await new Promise<void>((resolve) => live.listen(sockPath, resolve));
    const ino = fs.statSync(sockPath).ino;
    assert.equal(await startAgent(options), null);
    assert.equal(fs.statSync(sockPath).ino, ino, 'the live socket is untouched');
    await new Promise<void>((resolve) => live.close(() => resolve()));

    fs.writeFileSync(sockPath, 'not a socket');
    assert.equal(await startAgent(options), null);
    assert.equal(fs.readFileSync(sockPath, 'utf8'), 'not a socket');
    fs.rmSync(sockPath);

    const agent = await startAgent(options);
    assert.ok(agent);
    assert.equal(fs.statSync(sockPath).mode & 0o777, 0o600);
    assert.deepEqual(fs.readdirSync(dir), [AGENT_SOCKET], 'no temporary socket left');
    await agent.close();
    assert.equal(fs.existsSync(sockPath), false);
  } finally {
    bus.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// The file mode is the agent's authentication. Needs root to act as another user (setpriv).
const canSwitchUser = process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).status === 0;
test('another user cannot open the agent socket (0600), even in a home it can enter', { skip: canSwitchUser ? false : 'needs root and setpriv to run as another uid' }, async () => {
  const node = await startNodeOf(homeA);
  const mode = fs.statSync(homeA.home).mode & 0o777;
  try {
    fs.chmodSync(homeA.home, 0o711); // the folder no longer stops them: only the socket's own mode does
    const sockPath = path.join(homeA.home, AGENT_SOCKET);
    const probe = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e',
      `require('net').connect(${JSON.stringify(sockPath)}).on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(3); })`], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(probe.stdout.trim(), 'EACCES', probe.stderr);
    // The owner still can.
    const actors = await alknet(['--home', homeA.home, 'call', node.address, 'node/actors']);
    assert.equal(actors.code, 0, actors.stderr);
  } finally {
    fs.chmodSync(homeA.home, mode);
    await stop(node);
  }
});
