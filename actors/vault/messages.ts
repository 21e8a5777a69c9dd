// The vault's bus messages: request/reply pairs as TypeBox schemas, with which of them another node
// may send. Requests arrive at the actor with systemId VAULT_SYSTEM_ID.
//
// Only three are public (REMOTE_VAULT_MESSAGES): status, identity and publicKey. Everything else either
// returns private key material (tlsIdentity, sshHostKey), a derived secret (sharedSecret, decrypt),
// or uses the node's keys as an oracle (sign, encrypt), or changes the vault (unlock, lock): local only.
import { Type, type Static } from '@sinclair/typebox';
import { MAX_AT_REST_BYTES } from './atRest.ts';
import { defineMessages, type MessagesOf } from '../../bus/catalogue.ts';

export const VAULT_SYSTEM_ID = 'vault';
/** Largest payload vault.sign accepts (sign a digest or a handshake transcript, not a file). */
export const MAX_SIGN_BYTES = 1024 * 1024;
/** Largest vault.encrypt/decrypt payload: within the bus's 16 MiB frame. */
export const MAX_ENCRYPT_BYTES = 15 * 1024 * 1024;

const Hex32 = Type.String({ pattern: '^[0-9a-f]{64}$', description: '32 bytes, lower-case hex' });
const PathText = Type.String({ minLength: 1, maxLength: 256, description: "SLIP-0010 path, hardened only: m/74'/0'/0'/0'" });
const NodeIdText = Type.String({ pattern: '^[ybndrfg8ejkmcpqxot1uwisza345h769]{52}$' });
const KeyVersion = Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 });
const LockState = Type.Union([Type.Literal('locked'), Type.Literal('unlocking'), Type.Literal('unlocked')]);

export const AtRestEnvelopeSchema = Type.Object(
  {
    key_version: KeyVersion,
    iv: Type.String({ maxLength: 16 }),
    data: Type.String({ maxLength: Math.ceil((MAX_AT_REST_BYTES + 16) / 3) * 4 }),
  },
  { additionalProperties: false },
);

const Empty = Type.Object({}, { additionalProperties: false });

export const vaultMessages = defineMessages({
  'vault.status': {
    request: Empty,
    reply: Type.Object({ state: LockState, nodeId: Type.Optional(NodeIdText), autoLockMs: Type.Optional(Type.Integer({ minimum: 0 })) }),
  },
  'vault.identity': {
    request: Empty,
    reply: Type.Object({
      nodeId: NodeIdText,
      publicKey: Hex32,
      fingerprint: Type.String(),
      sshHostPublicKey: Hex32,
      messagingPublicKey: Hex32,
    }),
  },
  'vault.publicKey': {
    request: Type.Object({ path: PathText }),
    reply: Type.Object({ path: PathText, publicKey: Hex32 }),
  },
  'vault.sign': {
    request: Type.Object({ path: Type.Optional(PathText), data: Type.Uint8Array({ maxByteLength: MAX_SIGN_BYTES }) }),
    reply: Type.Object({ signature: Type.Uint8Array({ minByteLength: 64, maxByteLength: 64 }), publicKey: Hex32 }),
  },
  'vault.encrypt': {
    request: Type.Object({
      plaintext: Type.Uint8Array({ maxByteLength: MAX_ENCRYPT_BYTES }),
      aad: Type.Optional(Type.Uint8Array({ maxByteLength: 64 * 1024 })),
      keyVersion: Type.Optional(KeyVersion),
    }),
    reply: Type.Object({ envelope: AtRestEnvelopeSchema }),
  },
  'vault.decrypt': {
    request: Type.Object({ envelope: AtRestEnvelopeSchema, aad: Type.Optional(Type.Uint8Array({ maxByteLength: 64 * 1024 })) }),
    reply: Type.Object({ plaintext: Type.Uint8Array() }),
  },
  /** The node identity key for the listener's TLS certificate. Local only: private key bytes. */
  'vault.tlsIdentity': {
    request: Empty,
    reply: Type.Object({
      nodeId: NodeIdText,
      publicKey: Hex32,
      privateKey: Type.Uint8Array({ minByteLength: 32, maxByteLength: 32 }),
      /** PKCS#8 PEM, for node:tls and @peculiar/x509. */
      privateKeyPem: Type.String(),
    }),
  },
  /** The SSH host key for the ssh server. Local only: private key bytes. */
  'vault.sshHostKey': {
    request: Empty,
    reply: Type.Object({
      publicKey: Hex32,
      privateKey: Type.Uint8Array({ minByteLength: 32, maxByteLength: 32 }),
      /** "-----BEGIN OPENSSH PRIVATE KEY-----…", as ssh2's hostKeys accepts. */
      privateKeyOpenSsh: Type.String(),
      /** "ssh-ed25519 AAAA… alknet-<nodeId prefix>" */
      publicKeyOpenSsh: Type.String(),
    }),
  },
  /** X25519 agreement with the messaging key, so the msg protocol never holds the private key. */
  'vault.sharedSecret': {
    request: Type.Object({ publicKey: Hex32 }),
    reply: Type.Object({ sharedSecret: Type.Uint8Array({ minByteLength: 32, maxByteLength: 32 }) }),
  },
  'vault.unlock': {
    request: Type.Object({ passphrase: Type.String({ minLength: 1, maxLength: 1024 }) }),
    reply: Type.Object({ state: Type.Literal('unlocked'), nodeId: NodeIdText }),
  },
  'vault.lock': {
    request: Empty,
    reply: Type.Object({ state: Type.Literal('locked') }),
  },
});

declare module '../../bus/catalogue.ts' {
  interface Catalogue extends MessagesOf<typeof vaultMessages> {}
}

/** The requests another node (meta.from.node) may send: public answers only. */
export const REMOTE_VAULT_MESSAGES: ReadonlySet<string> = new Set(['vault.status', 'vault.identity', 'vault.publicKey']);

export type VaultMessageType = keyof typeof vaultMessages;
export type VaultRequest<T extends VaultMessageType> = Static<(typeof vaultMessages)[T]['request']>;
export type VaultReply<T extends VaultMessageType> = Static<(typeof vaultMessages)[T]['reply']>;

export function isVaultMessageType(type: string): type is VaultMessageType {
  return Object.hasOwn(vaultMessages, type);
}

/**
 * A copy of a vault event or reply fit for logs and the inspector: passphrases and private key bytes
 * replaced by "[redacted]". Use it as the inspector's sanitizeEvent for vault traffic.
 */
export function redactVaultPayload<T>(value: T): T {
  const SECRET_KEYS = new Set(['passphrase', 'privateKey', 'privateKeyPem', 'privateKeyOpenSsh', 'sharedSecret', 'plaintext']);
  const walk = (v: unknown, depth: number): unknown => {
    if (depth > 8 || typeof v !== 'object' || v === null || v instanceof Uint8Array) return v;
    if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      out[k] = SECRET_KEYS.has(k) ? '[redacted]' : typeof x === 'function' ? x : walk(x, depth + 1);
    }
    return out;
  };
  return walk(value, 0) as T;
}
