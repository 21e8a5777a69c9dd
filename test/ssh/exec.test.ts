// `ssh` (the real OpenSSH client) running commands on a node through `alknet connect` as its
// ProxyCommand, over QUIC and over TLS: output, stderr and exit status carried; a wrong key refused.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { authorize, needsSsh, ssh, sshClientDir, startSshNode, type SshClientDir, type SshNode } from './fixtures.ts';

describe('ssh exec through alknet/ssh', { skip: needsSsh }, () => {
  let node: SshNode;
  let client: SshClientDir;
  let stranger: SshClientDir;
  before(async () => {
    node = await startSshNode({ maxAuthFailuresPerMinute: 1000 });
    client = sshClientDir(node);
    stranger = sshClientDir(node);
    authorize(node, client.publicKey);
  });
  after(async () => {
    await node?.stop();
    for (const c of [client, stranger]) if (c) fs.rmSync(c.dir, { recursive: true, force: true });
  });

  for (const host of ['alk-quic', 'alk-tls']) {
    it(`runs a command over ${host === 'alk-quic' ? 'QUIC' : 'TLS'}: stdout, stderr and exit status`, async () => {
      const r = await ssh(client, host, ['echo out; echo err >&2; exit 7']);
      assert.equal(r.code, 7, r.stderr);
      assert.equal(r.stdout, 'out\n');
      assert.match(r.stderr, /^err$/m);
    });
  }

  it('feeds stdin to the command', async () => {
    const r = await ssh(client, 'alk-quic', ['tr a-z A-Z'], { input: 'hello\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'HELLO\n');
  });

  it('refuses a key that is not authorized, and says so in the log', async () => {
    const r = await ssh(stranger, 'alk-tls', ['true']);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /Permission denied/);
    assert.ok(node.logs.some((l) => /ssh key offered and refused|ssh login refused/.test(String(l.msg))), 'refusal logged');
  });

  it('does not pass the node\'s own environment (secrets) to commands', async () => {
    process.env.ALKNET_TEST_SECRET = 'do-not-leak';
    try {
      const r = await ssh(client, 'alk-tls', ['env']);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stdout, /do-not-leak/);
      assert.match(r.stdout, /^HOME=/m);
    } finally {
      delete process.env.ALKNET_TEST_SECRET;
    }
  });
});
