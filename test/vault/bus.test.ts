// The vault actor behind the real bus: typed requests, locked errors, and a request from another node
// (serveRemote) refused for private material while public answers go through.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createActor } from 'xstate';
import { Bus } from '../../bus/bus.ts';
import { isBusError } from '../../bus/errors.ts';
import { vaultMachine } from '../../actors/vault/machine.ts';
import { VAULT_SYSTEM_ID } from '../../actors/vault/messages.ts';
import { createVaultFile } from '../../actors/vault/vaultFile.ts';
import { mnemonicToSeed, nodeKeys } from '../../actors/vault/keys.ts';
import { verifyEd25519 } from '../../actors/vault/signer.ts';

const MNEMONIC = 'legal winner thank year wave sausage worth useful legal winner thank yellow';
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-vaultbus-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

test('vault over the bus: locked, unlock, typed replies, remote callers get public answers only', async () => {
  const home = path.join(root, 'home');
  await createVaultFile(home, { passphrase: 'pw', mnemonic: MNEMONIC, kdf: { N: 1024, r: 8, p: 1 } });
  const keys = nodeKeys(mnemonicToSeed(MNEMONIC));
  const warnings: string[] = [];
  const bus = new Bus({ logger: { warn: (_o, msg) => warnings.push(msg) }, validateLocal: true });
  const actor = createActor(vaultMachine, { input: { home } }).start();
  bus.register(VAULT_SYSTEM_ID, actor);
  try {
    assert.deepEqual(await bus.request(VAULT_SYSTEM_ID, 'vault.status', {}), { state: 'locked' });
    const locked = await rejection(bus.request(VAULT_SYSTEM_ID, 'vault.tlsIdentity', {}));
    assert.ok(isBusError(locked) && locked.code === 'UNAVAILABLE' && /vault is locked/.test(locked.message), String(locked));
    const wrong = await rejection(bus.request(VAULT_SYSTEM_ID, 'vault.unlock', { passphrase: 'nope' }));
    assert.ok(isBusError(wrong) && wrong.code === 'FORBIDDEN', String(wrong));
    assert.deepEqual(await bus.request(VAULT_SYSTEM_ID, 'vault.unlock', { passphrase: 'pw' }), { state: 'unlocked', nodeId: keys.nodeId });

    const tls = await bus.request(VAULT_SYSTEM_ID, 'vault.tlsIdentity', {});
    assert.equal(tls.nodeId, keys.nodeId);
    assert.deepEqual(tls.privateKey, keys.identity.privateKey);
    const data = new TextEncoder().encode('handshake transcript');
    const { signature } = await bus.request(VAULT_SYSTEM_ID, 'vault.sign', { data });
    assert.ok(verifyEd25519(keys.identity.publicKey, data, signature));

    const other = 'y'.repeat(52);
    const pub = await bus.serveRemote({ from: other, actor: VAULT_SYSTEM_ID, type: 'vault.publicKey', payload: { path: "m/74'/0'/1'/0'" } });
    assert.deepEqual(pub, { path: "m/74'/0'/1'/0'", publicKey: Buffer.from(keys.sshHost.publicKey).toString('hex') });
    for (const type of ['vault.tlsIdentity', 'vault.sshHostKey', 'vault.lock']) {
      const err = await rejection(bus.serveRemote({ from: other, actor: VAULT_SYSTEM_ID, type, payload: {} }));
      assert.ok(isBusError(err) && err.code === 'FORBIDDEN', `${type}: ${String(err)}`);
    }
    const bad = await rejection(bus.request(VAULT_SYSTEM_ID, 'vault.publicKey', { path: "m/74'/0" }));
    assert.ok(isBusError(bad) && bad.code === 'INVALID_INPUT' && /only hardened/.test(bad.message), String(bad));
    assert.deepEqual(await bus.request(VAULT_SYSTEM_ID, 'vault.lock', {}), { state: 'locked' });
  } finally {
    actor.stop();
  }
});
