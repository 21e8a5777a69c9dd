// `--inspect`: the node's inspection stream reaches a WebSocket client on 127.0.0.1, and no key
// material (the node's private key, the seed, the mnemonic, the passphrase) is ever in it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { dial } from '../../actors/listener/dial.ts';
import { openVaultFile } from '../../actors/vault/vaultFile.ts';
import { CallClient } from '../../protocols/call/client.ts';
import { startInspector } from '../../supervisors/inspector.ts';
import { echo, newKeys } from '../listener/fixtures.ts';
import { echoProtocol, homeIdentity, makeHome, poll, startTestNode } from './helpers.ts';

test('the inspector streams the actors\' events to a WebSocket client, with no key material in them', async () => {
  const home = await makeHome();
  const inspector = await startInspector(0);
  const received: string[] = [];
  const ws = new WebSocket(`ws://127.0.0.1:${inspector.port}`);
  ws.on('message', (data) => received.push(data.toString()));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const node = await startTestNode(home, { protocols: [echoProtocol('test/echo')], inspect: inspector.inspect });
  try {
    // Traffic that touches the vault, the listener, a protocol and the call service.
    const conn = await dial(`${node.nodeId}@${node.address}`, { alpn: 'test/echo', transport: 'quic', identity: newKeys() });
    assert.equal((await echo(await conn.openStream(), Buffer.from('inspect me'))).toString(), 'inspect me');
    await conn.close();
    const self = await dial(`${node.nodeId}@${node.address}`, { alpn: 'alknet/call', transport: 'quic', identity: await homeIdentity(home.home) });
    await new CallClient(() => self.openStream()).call('node/actors', {}, { deadlineMs: 5000 });
    await self.close();

    const all = () => received.join('\n');
    await poll(() => (all().includes('connection.accepted') ? true : undefined), 10_000, 'a connection.accepted event in the stream');
    await poll(() => (all().includes('vault.tlsIdentity') ? true : undefined), 10_000, 'the vault request in the stream');
    // Messages are the Stately inspector's JSON, naming actors and their events.
    const parsed = received.map((m) => JSON.parse(m) as { type?: string });
    assert.ok(parsed.some((m) => m.type === '@xstate.actor'), 'actor registrations');
    assert.ok(parsed.some((m) => m.type === '@xstate.event'), 'events');
    assert.ok(parsed.some((m) => m.type === '@xstate.snapshot'), 'snapshots');

    const identity = await homeIdentity(home.home);
    const secret = await openVaultFile(home.home, home.passphrase);
    const seedHex = Buffer.from(secret.seed).toString('hex');
    secret.wipe();
    const text = all();
    const lower = text.toLowerCase();
    assert.ok(!lower.includes(Buffer.from(identity.privateKey).toString('hex')), 'no node private key (hex)');
    assert.ok(!text.includes(Buffer.from(identity.privateKey).toString('base64')), 'no node private key (base64)');
    assert.ok(!lower.includes(seedHex.slice(0, 32)), 'no seed');
    assert.ok(!text.includes(home.passphrase), 'no passphrase');
    assert.ok(!/BEGIN PRIVATE KEY/.test(text), 'no PEM private key');
    // The secrets were there to leak (the vault's input holds the passphrase): the sanitizer hid them.
    assert.ok(text.includes('[redacted]'), 'secret-named fields are redacted, not dropped silently');
  } finally {
    await node.stop();
    ws.close();
    inspector.stop();
    home.cleanup();
  }
});
