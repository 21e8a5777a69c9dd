// What the README shows a user: `alknet git init NAME` on the node's home, then the stock git CLI
// through a two-line GIT_PROXY_COMMAND script running `alknet connect "$1:$2" --alpn alknet/git`
// (trust on first use of the node's key), over TLS and over QUIC; and the git/* operations through
// `alknet call` with their scopes (git/list and git/refs need git:read, git/init git:admin).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, fsck, gitClient, gitEnv, ok, PASSPHRASE, run, startGitNode, type GitClient, type GitNode } from './fixtures.ts';
import { requireTool } from '../support/tools.ts';

const gitTool = requireTool('git', 'git');
let server: GitNode;
let client: GitClient;

before(async () => {
  server = await startGitNode();
  client = await gitClient(server);
});
after(async () => {
  client?.stop();
  await server?.stop();
});

const alknet = (home: string, args: string[]) => run(process.execPath, [BIN, '--home', home, ...args], { env: { ...process.env, ALKNET_PASSPHRASE: PASSPHRASE } });

test('alknet git init NAME makes a bare repository the running node serves; names are checked', { skip: gitTool.skip }, async () => {
  const made = ok(await alknet(server.home.home, ['git', 'init', 'demo']), 'git init');
  assert.match(made.stdout, /created .*git\/demo\.git/);
  const again = await alknet(server.home.home, ['git', 'init', 'demo']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already exists/);
  const bad = await alknet(server.home.home, ['git', 'init', '../escape']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /not a repository name/);
  assert.equal(fs.existsSync(path.join(server.home.home, 'escape.git')), false);
  const listed = JSON.parse(ok(await alknet(server.home.home, ['git', 'ls', '--json']), 'git ls').stdout);
  assert.deepEqual(listed, [{ name: 'demo', head: 'refs/heads/main', refs: 0 }]);
  assert.equal((await fsck(server.repoDir('demo'))).code, 0);
});

for (const transport of ['tls', 'quic'] as const) {
  test(`the README flow: GIT_PROXY_COMMAND with "alknet connect $1:$2" over ${transport}`, { skip: gitTool.skip }, async () => {
    const script = path.join(client.dir, `proxy-${transport}`);
    fs.writeFileSync(script, `#!/bin/sh\nexec "${process.execPath}" "${BIN}" --home "${client.home.home}" connect "$1:$2" --alpn alknet/git${transport === 'quic' ? ' --quic' : ''}\n`, { mode: 0o755 });
    const env = gitEnv({ GIT_PROXY_COMMAND: script, ALKNET_PASSPHRASE: PASSPHRASE });
    const url = `git://127.0.0.1:${server.node.tcpPort}/demo.git`;
    const work = path.join(client.dir, `readme-${transport}`);
    ok(await run('git', ['clone', url, work], { cwd: client.dir, env }), 'clone');
    fs.writeFileSync(path.join(work, `${transport}.txt`), `over ${transport}\n`);
    ok(await run('git', ['add', '.'], { cwd: work, env }), 'add');
    ok(await run('git', ['commit', '-q', '-m', `over ${transport}`], { cwd: work, env }), 'commit');
    ok(await run('git', ['pull', '-q', '--rebase', 'origin', 'main'], { cwd: work, env }).then((r) => (r.code === 0 || /couldn't find remote ref/.test(r.stderr) ? { ...r, code: 0 } : r)), 'pull');
    ok(await run('git', ['push', 'origin', 'HEAD:main'], { cwd: work, env }), 'push');
    const tip = ok(await run('git', ['rev-parse', 'HEAD'], { cwd: work, env }), 'rev-parse').stdout.trim();
    const served = ok(await run('git', ['rev-parse', 'refs/heads/main'], { cwd: server.repoDir('demo') }), 'server ref').stdout.trim();
    assert.equal(served, tip);
    assert.match(fs.readFileSync(path.join(client.home.home, 'known_nodes'), 'utf8'), new RegExp(server.node.nodeId));
    assert.equal((await fsck(server.repoDir('demo'))).code, 0);
  });
}

test('git/list, git/refs and git/init through alknet call, with their scopes', async () => {
  const address = `${server.node.nodeId}@127.0.0.1:${server.node.tcpPort}`;
  const list = JSON.parse(ok(await alknet(client.home.home, ['call', address, 'git/list']), 'git/list').stdout);
  assert.ok(list.repos.some((r: { name: string }) => r.name === 'demo'));
  const refs = JSON.parse(ok(await alknet(client.home.home, ['call', address, 'git/refs', '{"name":"demo"}']), 'git/refs').stdout);
  assert.equal(refs.head.target, 'refs/heads/main');
  assert.deepEqual(refs.refs.map((r: { name: string }) => r.name), ['refs/heads/main']);
  const refused = await alknet(client.home.home, ['call', address, 'git/init', '{"name":"fromclient"}']);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /git:admin/);
  const missing = await alknet(client.home.home, ['call', address, 'git/refs', '{"name":"nope"}']);
  assert.match(missing.stderr, /not found/);
  // The node's own key holds every scope.
  const made = JSON.parse(ok(await alknet(server.home.home, ['call', address, 'git/init', '{"name":"fromop"}']), 'git/init').stdout);
  assert.deepEqual(made, { name: 'fromop', created: true });
  assert.ok(fs.existsSync(path.join(server.repoDir('fromop'), 'HEAD')));
});
