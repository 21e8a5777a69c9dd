// Scripted tests of the vault actor: every state and transition, requests while locked/unlocking,
// remote callers, auto-lock, and snapshots free of key material.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createActor, SimulatedClock, type Actor } from 'xstate';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { vaultMachine, type BusErrorCode, type VaultRequestEvent } from '../../actors/vault/machine.ts';
import { createVaultFile } from '../../actors/vault/vaultFile.ts';
import { deriveEd25519, KEY_PATHS, mnemonicToSeed, nodeKeys } from '../../actors/vault/keys.ts';
import { decryptAtRest } from '../../actors/vault/atRest.ts';
import { isVaultMessageType, redactVaultPayload, vaultMessages } from '../../actors/vault/messages.ts';
import { Value } from '@sinclair/typebox/value';

const MNEMONIC = 'legal winner thank year wave sausage worth useful legal winner thank yellow';
const PASSPHRASE = 'machine-test passphrase';
const seed = mnemonicToSeed(MNEMONIC);
const keys = nodeKeys(seed);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
let root: string;
let home: string;

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-vaultmachine-'));
  home = path.join(root, 'home');
  await createVaultFile(home, { passphrase: PASSPHRASE, mnemonic: MNEMONIC, kdf: { N: 1024, r: 8, p: 1 } });
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

type Outcome = { ok: true; value: Record<string, unknown> } | { ok: false; code: BusErrorCode; message: string };
type VaultActor = Actor<typeof vaultMachine>;

function send(actor: VaultActor, type: string, payload: unknown = {}, meta: Partial<VaultRequestEvent['meta']> = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    actor.send({
      type,
      payload,
      meta: { correlationId: `c-${Math.random()}`, deadline: Date.now() + 10_000, ...meta },
      replyTo: {
        reply: (value: unknown) => {
          // Every reply matches its catalogue schema.
          if (isVaultMessageType(type)) {
            const schema = vaultMessages[type].reply;
            if (!Value.Check(schema, value)) resolve({ ok: false, code: 'INTERNAL', message: `reply of ${type} does not match its schema: ${Value.Errors(schema, value).First()?.message}` });
          }
          resolve({ ok: true, value: value as Record<string, unknown> });
        },
        fail: (code: BusErrorCode, message: string) => resolve({ ok: false, code, message }),
      },
    } as unknown as VaultRequestEvent);
  });
}

function failsWith(outcome: Outcome, code: BusErrorCode, pattern?: RegExp): void {
  assert.equal(outcome.ok, false, `expected ${code}, got a reply`);
  if (!outcome.ok) {
    assert.equal(outcome.code, code, outcome.message);
    if (pattern) assert.match(outcome.message, pattern);
  }
}

function value(outcome: Outcome): Record<string, unknown> {
  assert.ok(outcome.ok, outcome.ok ? '' : `${outcome.code}: ${outcome.message}`);
  return outcome.value;
}

/** Records every state value the actor passes through, as "a.b" strings, and the transitions between them. */
function track(actor: VaultActor): { states: Set<string>; transitions: Set<string> } {
  const states = new Set<string>();
  const transitions = new Set<string>();
  let last: string | undefined;
  actor.subscribe((snapshot) => {
    const v = snapshot.value;
    const name = typeof v === 'string' ? v : Object.entries(v).map(([k, c]) => `${k}.${String(c)}`).join(',');
    states.add(name);
    if (last !== undefined && last !== name) transitions.add(`${last}→${name}`);
    last = name;
  });
  return { states, transitions };
}

test('scripted walk: locked → unlocking → unlocked → locked, every request kind, every transition', async () => {
  const actor = createActor(vaultMachine, { input: { home } });
  const seen = track(actor);
  actor.start();
  assert.ok(actor.getSnapshot().matches('locked'));

  // Locked: status and lock answer, everything else is a clear UNAVAILABLE; bad input is INVALID_INPUT.
  assert.deepEqual(value(await send(actor, 'vault.status')), { state: 'locked' });
  assert.deepEqual(value(await send(actor, 'vault.lock')), { state: 'locked' });
  failsWith(await send(actor, 'vault.publicKey', { path: KEY_PATHS.identity }), 'UNAVAILABLE', /vault is locked: unlock it with/);
  failsWith(await send(actor, 'vault.tlsIdentity'), 'UNAVAILABLE', /locked/);
  failsWith(await send(actor, 'vault.publicKey', { path: 42 }), 'INVALID_INPUT', /path/);
  failsWith(await send(actor, 'vault.bogus'), 'INVALID_INPUT', /unknown vault message/);
  failsWith(await send(actor, 'vault.unlock', { passphrase: PASSPHRASE }, { from: { node: 'x'.repeat(52) } }), 'FORBIDDEN');

  // Wrong passphrase: unlocking → locked with FORBIDDEN; requests parked meanwhile fail UNAVAILABLE.
  const wrong = send(actor, 'vault.unlock', { passphrase: 'nope' });
  assert.ok(actor.getSnapshot().matches('unlocking'));
  const parkedDuringFail = send(actor, 'vault.identity');
  failsWith(await wrong, 'FORBIDDEN', /wrong passphrase/);
  failsWith(await parkedDuringFail, 'UNAVAILABLE', /unlock failed/);
  assert.ok(actor.getSnapshot().matches('locked'));
  assert.match(actor.getSnapshot().context.lastError ?? '', /wrong passphrase/);

  // Lock while unlocking cancels; then a good unlock with requests parked during it.
  const cancelled = send(actor, 'vault.unlock', { passphrase: PASSPHRASE });
  assert.deepEqual(value(await send(actor, 'vault.lock')), { state: 'locked' });
  failsWith(await cancelled, 'UNAVAILABLE', /cancelled/);

  const unlocking = send(actor, 'vault.unlock', { passphrase: PASSPHRASE });
  assert.deepEqual(value(await send(actor, 'vault.status')), { state: 'unlocking' });
  failsWith(await send(actor, 'vault.unlock', { passphrase: PASSPHRASE }), 'BUSY', /already in progress/);
  const parked = send(actor, 'vault.publicKey', { path: "m/74h/0h/0h/0h" });
  assert.deepEqual(value(await unlocking), { state: 'unlocked', nodeId: keys.nodeId });
  assert.deepEqual(value(await parked), { path: KEY_PATHS.identity, publicKey: hex(keys.identity.publicKey) });
  assert.ok(actor.getSnapshot().matches({ unlocked: 'active' }));

  // Unlocked: every request kind.
  assert.deepEqual(value(await send(actor, 'vault.status')), { state: 'unlocked', nodeId: keys.nodeId });
  assert.deepEqual(value(await send(actor, 'vault.unlock', { passphrase: 'anything' })), { state: 'unlocked', nodeId: keys.nodeId });
  assert.deepEqual(value(await send(actor, 'vault.identity')), {
    nodeId: keys.nodeId,
    publicKey: hex(keys.identity.publicKey),
    fingerprint: keys.fingerprint,
    sshHostPublicKey: hex(keys.sshHost.publicKey),
    messagingPublicKey: hex(keys.messaging.publicKey),
  });
  const other = deriveEd25519(seed, "m/74'/9'/1'");
  assert.equal(value(await send(actor, 'vault.publicKey', { path: "m/74'/9'/1'" })).publicKey, hex(other.publicKey));
  failsWith(await send(actor, 'vault.publicKey', { path: "m/74'/9'/1" }), 'INVALID_INPUT', /only hardened/);

  const data = new TextEncoder().encode('sign me');
  const signed = value(await send(actor, 'vault.sign', { data }));
  assert.ok(ed25519.verify(signed.signature as Uint8Array, data, keys.identity.publicKey));
  const signedOther = value(await send(actor, 'vault.sign', { data, path: "m/74'/9'/1'" }));
  assert.ok(ed25519.verify(signedOther.signature as Uint8Array, data, other.publicKey));

  const aad = new TextEncoder().encode('record-7');
  const { envelope } = value(await send(actor, 'vault.encrypt', { plaintext: data, aad })) as { envelope: { key_version: number; iv: string; data: string } };
  assert.equal(envelope.key_version, 0);
  assert.deepEqual(decryptAtRest(seed, envelope, { aad }), data);
  assert.deepEqual(value(await send(actor, 'vault.decrypt', { envelope, aad })).plaintext, data);
  failsWith(await send(actor, 'vault.decrypt', { envelope }), 'INVALID_INPUT', /does not authenticate/);
  const v3 = value(await send(actor, 'vault.encrypt', { plaintext: data, keyVersion: 3 })).envelope as typeof envelope;
  assert.equal(v3.key_version, 3);
  assert.deepEqual(value(await send(actor, 'vault.decrypt', { envelope: v3 })).plaintext, data);

  const tls = value(await send(actor, 'vault.tlsIdentity'));
  assert.deepEqual(tls.privateKey, keys.identity.privateKey);
  assert.match(tls.privateKeyPem as string, /BEGIN PRIVATE KEY/);
  const ssh = value(await send(actor, 'vault.sshHostKey'));
  assert.equal(ssh.publicKey, hex(keys.sshHost.publicKey));
  assert.match(ssh.privateKeyOpenSsh as string, /BEGIN OPENSSH PRIVATE KEY/);

  const peer = x25519.keygen();
  const shared = value(await send(actor, 'vault.sharedSecret', { publicKey: hex(peer.publicKey) }));
  assert.deepEqual(shared.sharedSecret, x25519.getSharedSecret(peer.secretKey, keys.messaging.publicKey));
  failsWith(await send(actor, 'vault.sharedSecret', { publicKey: '00'.repeat(32) }), 'INVALID_INPUT', /low order/);

  // Another node: public answers only; private material and key oracles are FORBIDDEN.
  const remote = { from: { node: 'y'.repeat(52) } };
  assert.equal(value(await send(actor, 'vault.publicKey', { path: KEY_PATHS.identity }, remote)).publicKey, hex(keys.identity.publicKey));
  assert.equal(value(await send(actor, 'vault.identity', {}, remote)).nodeId, keys.nodeId);
  for (const [type, payload] of [['vault.tlsIdentity', {}], ['vault.sshHostKey', {}], ['vault.sign', { data }], ['vault.decrypt', { envelope }], ['vault.lock', {}]] as const) {
    failsWith(await send(actor, type, payload, remote), 'FORBIDDEN', /local actors only/);
  }
  // A request naming this node itself is local.
  assert.ok((await send(actor, 'vault.tlsIdentity', {}, { from: { node: keys.nodeId } })).ok);

  // An expired deadline is answered TIMEOUT, a throwing reply callback does not break the actor.
  failsWith(await send(actor, 'vault.identity', {}, { deadline: Date.now() - 1 }), 'TIMEOUT');
  actor.send({
    type: 'vault.identity', payload: {}, meta: { correlationId: 'x', deadline: Date.now() + 1000 },
    replyTo: { reply: () => { throw new Error('requester gone'); }, fail: () => { throw new Error('requester gone'); } },
  });
  assert.ok(actor.getSnapshot().matches('unlocked'));

  // No key material in the snapshot, however the inspector prints it.
  const snapshotText = JSON.stringify(actor.getSnapshot());
  for (const secret of [seed, keys.identity.privateKey, keys.sshHost.privateKey, keys.messaging.privateKey]) {
    assert.ok(!snapshotText.includes(hex(secret).slice(0, 16)), 'hex key bytes in snapshot');
    assert.ok(!snapshotText.includes(Buffer.from(secret).toString('base64').slice(0, 16)), 'base64 key bytes in snapshot');
    assert.ok(!snapshotText.includes(String(Array.from(secret.subarray(0, 6)))), 'array key bytes in snapshot');
  }
  assert.ok(!snapshotText.includes(PASSPHRASE));
  assert.match(snapshotText, /redacted/);

  // Lock: keys wiped and gone.
  const ring = actor.getSnapshot().context.keyRing!;
  assert.deepEqual(value(await send(actor, 'vault.lock')), { state: 'locked' });
  assert.equal(ring.wiped, true);
  assert.equal(actor.getSnapshot().context.keyRing, null);
  failsWith(await send(actor, 'vault.sign', { data }), 'UNAVAILABLE', /locked/);
  actor.stop();

  // `starting` is transient (eventless): its two branches show as the first state of this test
  // (locked, no passphrase) and of the next one (unlocking, passphrase given).
  assert.equal([...seen.states][0], 'locked');
  for (const state of ['locked', 'unlocking', 'unlocked.active']) assert.ok(seen.states.has(state), `state ${state} reached`);
  for (const t of ['locked→unlocking', 'unlocking→locked', 'unlocking→unlocked.active', 'unlocked.active→locked']) {
    assert.ok(seen.transitions.has(t), `transition ${t} taken (${[...seen.transitions].join(', ')})`);
  }
});

test('start with a passphrase unlocks; auto-lock after idle, each request restarting the timer', async () => {
  // The auto-lock is an xstate `after` delay: a SimulatedClock moves it, the machine's speed does not.
  const clock = new SimulatedClock();
  const actor = createActor(vaultMachine, { input: { home, passphrase: PASSPHRASE, autoLockMs: 300 }, clock });
  const seen = track(actor);
  const snapshotsDuringUnlock: string[] = [];
  actor.subscribe((s) => snapshotsDuringUnlock.push(JSON.stringify(s)));
  actor.start();
  assert.ok(actor.getSnapshot().matches('unlocking'));
  assert.ok(!JSON.stringify(actor.getSnapshot()).includes(PASSPHRASE), 'start passphrase redacted');
  // Parked before the unlock completes, served after it.
  const early = send(actor, 'vault.identity');
  assert.equal(value(await early).nodeId, keys.nodeId);
  assert.deepEqual(value(await send(actor, 'vault.status')), { state: 'unlocked', nodeId: keys.nodeId, autoLockMs: 300 });
  // Keep it busy for longer than autoLockMs in all (3 × 200 ms): each request restarts the idle timer.
  for (let i = 0; i < 3; i++) {
    clock.increment(200);
    assert.ok(actor.getSnapshot().matches('unlocked'), `still unlocked ${200 * (i + 1)} ms after the last-but-one request`);
    assert.ok((await send(actor, 'vault.publicKey', { path: KEY_PATHS.sshHost })).ok);
  }
  // Idle: unlocked until autoLockMs after the last request, locked (keys wiped) at it.
  const ring = actor.getSnapshot().context.keyRing!;
  clock.increment(299);
  assert.ok(actor.getSnapshot().matches('unlocked'), 'not locked before autoLockMs of idle');
  clock.increment(1);
  assert.ok(actor.getSnapshot().matches('locked'), `locked after autoLockMs of idle (at ${JSON.stringify(actor.getSnapshot().value)})`);
  assert.equal(ring.wiped, true);
  assert.equal(actor.getSnapshot().context.keyRing, null);
  failsWith(await send(actor, 'vault.publicKey', { path: KEY_PATHS.identity }), 'UNAVAILABLE', /locked/);
  assert.deepEqual(value(await send(actor, 'vault.status')), { state: 'locked', nodeId: keys.nodeId });
  actor.stop();
  assert.equal([...seen.states][0], 'unlocking');
  assert.ok(seen.transitions.has('unlocked.active→locked'));
  for (const s of snapshotsDuringUnlock) assert.ok(!s.includes(PASSPHRASE));
});

test('a missing vault and a full queue give clear errors', async () => {
  const actor = createActor(vaultMachine, { input: { home: path.join(root, 'nowhere') } });
  actor.start();
  failsWith(await send(actor, 'vault.unlock', { passphrase: 'x' }), 'NOT_FOUND', /alknet init/);
  assert.ok(actor.getSnapshot().matches('locked'));
  actor.stop();

  const busy = createActor(vaultMachine, { input: { home, passphrase: PASSPHRASE } });
  busy.start();
  const waiting = Array.from({ length: 256 }, () => send(busy, 'vault.status').then(() => send(busy, 'vault.identity')));
  const parked = Array.from({ length: 256 }, () => send(busy, 'vault.identity'));
  failsWith(await send(busy, 'vault.identity'), 'BUSY', /requests already wait/);
  assert.equal((await Promise.all(parked)).filter((o) => o.ok).length, 256);
  await Promise.all(waiting);
  busy.stop();
});

test('redactVaultPayload hides passphrases and private keys for logs and the inspector', () => {
  const redacted = redactVaultPayload({ type: 'vault.unlock', payload: { passphrase: 'hunter2' }, reply: { privateKey: new Uint8Array(32), publicKey: 'ab' } });
  assert.deepEqual(redacted, { type: 'vault.unlock', payload: { passphrase: '[redacted]' }, reply: { privateKey: '[redacted]', publicKey: 'ab' } });
});
