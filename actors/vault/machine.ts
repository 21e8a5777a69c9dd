// The vault actor: locked → unlocking → unlocked (→ locked on vault.lock or after autoLockMs idle).
// Requests arrive as bus events {type, payload, meta, replyTo}; each is answered exactly once, by
// reply() or fail(code, message). The secrets live in a KeyRing (redacting itself), never as plain
// bytes in the context, so a snapshot printed by the inspector shows no key material.
import { assign, fromPromise, setup } from 'xstate';
import { Value } from '@sinclair/typebox/value';
import { VaultError, type VaultErrorCode } from './errors.ts';
import { KeyRing } from './keyRing.ts';
import { isVaultMessageType, REMOTE_VAULT_MESSAGES, vaultMessages, type VaultMessageType, type VaultRequest } from './messages.ts';
import { openVaultFile } from './vaultFile.ts';
import { KEY_PATHS } from './keys.ts';

// ------------------------------------------------------------------------------------------- bus shape

/** The bus's error codes (DESIGN.md, alknet/call). */
export type BusErrorCode = 'NOT_FOUND' | 'FORBIDDEN' | 'INVALID_INPUT' | 'TIMEOUT' | 'BUSY' | 'UNAVAILABLE' | 'INTERNAL';

export interface ReplyTo {
  reply(payload: unknown): void;
  fail(code: BusErrorCode, message: string): void;
}

export interface RequestMeta {
  correlationId: string;
  /** Epoch ms after which the requester has given up. */
  deadline: number;
  /** A local sender's systemId, or `{node}` when the request came from another node over the bridge. */
  from?: string | { node: string; actor?: string };
}

export interface VaultRequestEvent<T extends VaultMessageType = VaultMessageType> {
  type: T;
  payload: VaultRequest<T>;
  meta: RequestMeta;
  replyTo: ReplyTo;
}

export interface VaultInput {
  home: string;
  /** Lock again after this many ms without a request; absent or 0 = never. */
  autoLockMs?: number;
  /** Unlock at start (from ALKNET_PASSPHRASE / --passphrase-file). Held redacted until used. */
  passphrase?: string;
  /** The at-rest key version vault.encrypt uses when the request names none (default 0). */
  atRestKeyVersion?: number;
}

// ----------------------------------------------------------------------------------------- redaction

/** A passphrase waiting for the unlock actor: redacted in snapshots, handed over once. */
export class SecretText {
  #text: string | null;
  constructor(text: string) {
    this.#text = text;
  }
  take(): string {
    const text = this.#text;
    this.#text = null;
    if (text === null) throw new VaultError('INVALID_INPUT', 'no passphrase');
    return text;
  }
  toJSON(): string {
    return '[passphrase: redacted]';
  }
}

/** A request parked while the vault unlocks: snapshots show its type and id, never its payload. */
export class QueuedRequest {
  constructor(readonly event: VaultRequestEvent) {}
  toJSON(): { type: string; correlationId: string } {
    return { type: this.event.type, correlationId: this.event.meta?.correlationId };
  }
}

/** Most requests parked during an unlock; more are answered BUSY. */
export const MAX_PENDING = 256;
/** setTimeout's ceiling; an "auto-lock" this far away is "never" (the guard also says so). */
const NEVER_MS = 2 ** 31 - 1;

export interface VaultContext {
  home: string;
  autoLockMs: number;
  atRestKeyVersion: number;
  keyRing: KeyRing | null;
  nodeId: string | null;
  passphrase: SecretText | null;
  /** The vault.unlock request being served, if the unlock came from one. */
  unlocker: QueuedRequest | null;
  pending: readonly QueuedRequest[];
  /** One-line reason of the last failed unlock (never secret). */
  lastError: string | null;
}

// ------------------------------------------------------------------------------------------- helpers

function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // A requester's reply callback failing is its problem; the vault keeps serving.
  }
}

function toBusError(err: unknown): { code: BusErrorCode; message: string } {
  if (err instanceof VaultError) {
    const map: Record<VaultErrorCode, BusErrorCode> = {
      WRONG_PASSPHRASE: 'FORBIDDEN',
      NOT_FOUND: 'NOT_FOUND',
      PERMISSIONS: 'UNAVAILABLE',
      TAMPERED: 'UNAVAILABLE',
      TRUNCATED: 'UNAVAILABLE',
      UNKNOWN_VERSION: 'UNAVAILABLE',
      EXISTS: 'INTERNAL',
      INVALID_INPUT: 'INVALID_INPUT',
      DECRYPT_FAILED: 'INVALID_INPUT',
    };
    return { code: map[err.code], message: err.message };
  }
  // Unknown failures keep their one line; none of our code puts secrets in messages.
  return { code: 'INTERNAL', message: `vault: ${err instanceof Error ? err.message.split('\n')[0] : 'internal error'}` };
}

function fail(event: VaultRequestEvent, code: BusErrorCode, message: string): void {
  safely(() => event.replyTo.fail(code, message));
}

function isRemote(event: VaultRequestEvent, ownNodeId: string | null): boolean {
  const from = event.meta?.from;
  const node = typeof from === 'object' && from !== null ? from.node : undefined;
  return node !== undefined && node !== ownNodeId;
}

function validationError(event: VaultRequestEvent): string | null {
  if (!isVaultMessageType(event.type)) return `unknown vault message "${String(event.type).slice(0, 64)}"`;
  const schema = vaultMessages[event.type].request;
  if (Value.Check(schema, event.payload)) return null;
  const first = Value.Errors(schema, event.payload).First();
  return `${event.type}: invalid payload${first ? ` at "${first.path || '/'}": ${first.message}` : ''}`;
}

const LOCKED_MESSAGE = 'vault is locked: unlock it with vault.unlock (or start the node with ALKNET_PASSPHRASE / --passphrase-file)';

/** Serves one request against an unlocked key ring. Synchronous: every operation here is fast. */
function serve(ring: KeyRing, context: VaultContext, event: VaultRequestEvent): void {
  if (event.meta?.deadline !== undefined && Date.now() > event.meta.deadline) {
    fail(event, 'TIMEOUT', `${event.type}: the request's deadline passed before the vault served it`);
    return;
  }
  let result: unknown;
  try {
    const p = event.payload as Record<string, unknown>;
    switch (event.type) {
      case 'vault.status':
        result = { state: 'unlocked', nodeId: ring.nodeId, ...(context.autoLockMs > 0 ? { autoLockMs: context.autoLockMs } : {}) };
        break;
      case 'vault.identity':
        result = ring.identity();
        break;
      case 'vault.publicKey': {
        const path = KeyRing.canonicalPath(p.path as string);
        result = { path, publicKey: Buffer.from(ring.publicKey(path)).toString('hex') };
        break;
      }
      case 'vault.sign': {
        const { signature, publicKey } = ring.sign((p.path as string | undefined) ?? KEY_PATHS.identity, p.data as Uint8Array);
        result = { signature, publicKey: Buffer.from(publicKey).toString('hex') };
        break;
      }
      case 'vault.encrypt':
        result = { envelope: ring.encrypt(p.plaintext as Uint8Array, (p.keyVersion as number | undefined) ?? context.atRestKeyVersion, p.aad as Uint8Array | undefined) };
        break;
      case 'vault.decrypt':
        result = { plaintext: ring.decrypt(p.envelope as VaultRequest<'vault.decrypt'>['envelope'], p.aad as Uint8Array | undefined) };
        break;
      case 'vault.tlsIdentity':
        result = ring.tlsIdentity();
        break;
      case 'vault.sshHostKey':
        result = ring.sshHostKey();
        break;
      case 'vault.sharedSecret':
        result = { sharedSecret: ring.sharedSecret(new Uint8Array(Buffer.from(p.publicKey as string, 'hex'))) };
        break;
      case 'vault.unlock':
        result = { state: 'unlocked', nodeId: ring.nodeId };
        break;
      case 'vault.lock':
        result = { state: 'locked' }; // handled by a transition; kept for completeness
        break;
    }
  } catch (err) {
    const { code, message } = toBusError(err);
    fail(event, code, message);
    return;
  }
  safely(() => event.replyTo.reply(result));
}

/** Requests by message, and the supervisor's graceful stop. */
type VaultEvent = VaultRequestEvent | { type: 'shutdown' };
const ev = (e: unknown): VaultRequestEvent => e as VaultRequestEvent;

// ------------------------------------------------------------------------------------------- machine

export const vaultMachine = setup({
  types: {
    context: {} as VaultContext,
    input: {} as VaultInput,
    events: {} as VaultEvent,
  },
  actors: {
    openVault: fromPromise<KeyRing, { home: string; passphrase: SecretText | null }>(async ({ input, signal }) => {
      const secret = await openVaultFile(input.home, input.passphrase?.take() ?? '');
      const ring = new KeyRing(secret);
      // Cancelled (vault.lock or stop) while scrypt ran: nobody will hold these keys.
      if (signal.aborted) ring.wipe();
      return ring;
    }),
  },
  delays: {
    autoLock: ({ context }) => (context.autoLockMs > 0 ? Math.min(context.autoLockMs, NEVER_MS) : NEVER_MS),
  },
  guards: {
    hasStartPassphrase: ({ context }) => context.passphrase !== null,
    autoLockEnabled: ({ context }) => context.autoLockMs > 0,
    isInvalid: ({ event }) => validationError(ev(event)) !== null,
    isForbiddenRemote: ({ context, event }) => isRemote(ev(event), context.nodeId) && !REMOTE_VAULT_MESSAGES.has(ev(event).type),
    isUnlock: ({ event }) => event.type === 'vault.unlock',
    isLock: ({ event }) => event.type === 'vault.lock',
    isStatus: ({ event }) => event.type === 'vault.status',
    pendingFull: ({ context }) => context.pending.length >= MAX_PENDING,
  },
  actions: {
    failInvalid: ({ event }) => fail(ev(event), 'INVALID_INPUT', validationError(ev(event)) ?? 'invalid request'),
    failForbidden: ({ event }) =>
      fail(ev(event), 'FORBIDDEN', `${ev(event).type} is served to local actors only, never to another node`),
    failLocked: ({ event }) => fail(ev(event), 'UNAVAILABLE', LOCKED_MESSAGE),
    failBusyUnlocking: ({ event }) => fail(ev(event), 'BUSY', 'an unlock is already in progress: wait for it, then retry'),
    failPendingFull: ({ event }) => fail(ev(event), 'BUSY', `the vault is unlocking and ${MAX_PENDING} requests already wait: retry shortly`),
    replyStatusLocked: ({ context, event }) =>
      safely(() => ev(event).replyTo.reply({ state: 'locked', ...(context.nodeId ? { nodeId: context.nodeId } : {}) })),
    replyStatusUnlocking: ({ context, event }) =>
      safely(() => ev(event).replyTo.reply({ state: 'unlocking', ...(context.nodeId ? { nodeId: context.nodeId } : {}) })),
    replyLocked: ({ event }) => safely(() => ev(event).replyTo.reply({ state: 'locked' })),
    beginUnlock: assign(({ event }) => ({
      passphrase: new SecretText((ev(event).payload as VaultRequest<'vault.unlock'>).passphrase),
      unlocker: new QueuedRequest(ev(event)),
    })),
    enqueue: assign(({ context, event }) => ({ pending: [...context.pending, new QueuedRequest(ev(event))] })),
    serve: ({ context, event }) => {
      if (context.keyRing) serve(context.keyRing, context, ev(event));
      else fail(ev(event), 'UNAVAILABLE', LOCKED_MESSAGE);
    },
    storeKeyRing: assign(({ event }) => {
      const ring = (event as unknown as { output: KeyRing }).output;
      return { keyRing: ring, nodeId: ring.nodeId, passphrase: null, lastError: null };
    }),
    answerUnlocked: ({ context }) => {
      const ring = context.keyRing!;
      if (context.unlocker) safely(() => context.unlocker!.event.replyTo.reply({ state: 'unlocked', nodeId: ring.nodeId }));
      for (const queued of context.pending) serve(ring, context, queued.event);
    },
    answerUnlockFailed: ({ context, event }) => {
      const { code, message } = toBusError((event as unknown as { error: unknown }).error);
      if (context.unlocker) fail(context.unlocker.event, code, message);
      for (const queued of context.pending) fail(queued.event, 'UNAVAILABLE', `vault unlock failed: ${message}`);
    },
    recordUnlockError: assign(({ event }) => ({ lastError: toBusError((event as unknown as { error: unknown }).error).message })),
    answerUnlockCancelled: ({ context }) => {
      if (context.unlocker) fail(context.unlocker.event, 'UNAVAILABLE', 'the unlock was cancelled by vault.lock');
      for (const queued of context.pending) fail(queued.event, 'UNAVAILABLE', 'the vault was locked while it was unlocking: unlock it again');
    },
    clearUnlockState: assign({ unlocker: null, pending: [], passphrase: null }),
    wipeKeys: ({ context }) => context.keyRing?.wipe(),
    dropKeyRing: assign({ keyRing: null }),
  },
}).createMachine({
  id: 'vault',
  context: ({ input }) => ({
    home: input.home,
    autoLockMs: input.autoLockMs && input.autoLockMs > 0 ? input.autoLockMs : 0,
    atRestKeyVersion: input.atRestKeyVersion ?? 0,
    keyRing: null,
    nodeId: null,
    passphrase: input.passphrase ? new SecretText(input.passphrase) : null,
    unlocker: null,
    pending: [],
    lastError: null,
  }),
  initial: 'starting',
  // The supervisor's graceful stop: leave every state (unlocked's exit wipes the keys) and end.
  on: { shutdown: '.stopped' },
  states: {
    stopped: { type: 'final' },
    starting: {
      always: [{ guard: 'hasStartPassphrase', target: 'unlocking' }, { target: 'locked' }],
    },
    locked: {
      on: {
        'vault.*': [
          { guard: 'isInvalid', actions: 'failInvalid' },
          { guard: 'isForbiddenRemote', actions: 'failForbidden' },
          { guard: 'isUnlock', target: 'unlocking', actions: 'beginUnlock' },
          { guard: 'isStatus', actions: 'replyStatusLocked' },
          { guard: 'isLock', actions: 'replyLocked' },
          { actions: 'failLocked' },
        ],
      },
    },
    unlocking: {
      invoke: {
        src: 'openVault',
        input: ({ context }) => ({ home: context.home, passphrase: context.passphrase }),
        onDone: { target: 'unlocked', actions: ['storeKeyRing', 'answerUnlocked', 'clearUnlockState'] },
        onError: { target: 'locked', actions: ['answerUnlockFailed', 'recordUnlockError', 'clearUnlockState'] },
      },
      on: {
        'vault.*': [
          { guard: 'isInvalid', actions: 'failInvalid' },
          { guard: 'isForbiddenRemote', actions: 'failForbidden' },
          { guard: 'isUnlock', actions: 'failBusyUnlocking' },
          { guard: 'isStatus', actions: 'replyStatusUnlocking' },
          { guard: 'isLock', target: 'locked', actions: ['answerUnlockCancelled', 'clearUnlockState', 'replyLocked'] },
          { guard: 'pendingFull', actions: 'failPendingFull' },
          { actions: 'enqueue' },
        ],
      },
    },
    unlocked: {
      exit: ['wipeKeys', 'dropKeyRing'],
      initial: 'active',
      states: {
        active: {
          after: {
            autoLock: { guard: 'autoLockEnabled', target: '#vault.locked' },
          },
          on: {
            'vault.*': [
              { guard: 'isInvalid', actions: 'failInvalid' },
              { guard: 'isForbiddenRemote', actions: 'failForbidden' },
              { guard: 'isLock', target: '#vault.locked', actions: 'replyLocked' },
              // Any request re-enters `active` (not `unlocked`, whose exit wipes the keys),
              // restarting the idle timer.
              { target: 'active', reenter: true, actions: 'serve' },
            ],
          },
        },
      },
    },
  },
});

export type VaultMachine = typeof vaultMachine;
