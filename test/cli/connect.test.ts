// `alknet connect` as OpenSSH's ProxyCommand: ssh ends it with SIGHUP when the session is over. It
// must close its connection then, so the node frees it at once; over QUIC nothing else would tell
// the node, which would hold the connection (one of the address's slots) until its idle timeout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { BIN, cleanEnv } from './run.ts';
import { echoProtocol, makeHome, poll, projectRoot, startTestNode } from '../node/helpers.ts';

const ECHO = 'test/echo';

for (const [signal, transport] of [['SIGHUP', '--quic'], ['SIGTERM', '--quic'], ['SIGHUP', '--tls']] as const) {
  test(`${transport.slice(2)}: ${signal} ends alknet connect, which closes its connection; the node hears of it at once`, async () => {
    const home = await makeHome();
    const node = await startTestNode(home, { agent: false, protocols: [echoProtocol(ECHO)] });
    const accepted: string[] = [];
    const closed = new Map<string, string>();
    node.bus.subscribe('connection.accepted', ({ connId, alpn }) => void (alpn === ECHO && accepted.push(connId)));
    node.bus.subscribe('connection.closed', ({ connId, reason }) => void closed.set(connId, reason));
    const child = spawn(process.execPath, [BIN, '--home', home.home, 'connect', `${node.nodeId}@${node.address}`, '--alpn', ECHO, transport], {
      cwd: projectRoot, env: cleanEnv(), stdio: ['pipe', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    try {
      // The stream echoes what goes in: the connection is up end to end.
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d));
      child.stdin.write('ping\n');
      await poll(() => (out.includes('ping') ? true : undefined), 30_000, 'the echo came back');
      assert.equal(accepted.length, 1);
      child.kill(signal);
      assert.equal(await exited, 0, 'alknet connect ends normally on the signal');
      const reason = await poll(() => closed.get(accepted[0]!), 20_000, 'the node saw the connection close');
      assert.doesNotMatch(reason, /idle/i, `closed by the client, not by the idle timeout: ${reason}`);
    } finally {
      clearTimeout(killer);
      child.kill('SIGKILL');
      await node.stop();
      home.cleanup();
    }
  });
}
