// The peers service's bus messages: its whole door. The peers actor owns peers.toml (grants and
// tokens) and known_nodes; every protocol asks it who a caller is and what it may do, and none reads
// those files itself.
import { Type as T } from '@sinclair/typebox';
import { defineMessages, type MessagesOf } from '../../bus/catalogue.ts';

export const PEERS_SYSTEM_ID = 'peers';

const NodeIdText = T.String({ pattern: '^[ybndrfg8ejkmcpqxot1uwisza345h769]{52}$' });
const Alpn = T.String({ minLength: 1, maxLength: 255 });
const Scope = T.String({ minLength: 1, maxLength: 64 });

export const peersMessages = defineMessages({
  /**
   * A caller (its certificate's node id, a bearer token, or neither) + the ALPN it came in on (+ the
   * scopes an action needs) → allowed with the caller's granted scopes, or refused with a reason.
   * The token is checked against the stored hashes and never echoed back.
   */
  'peers.authorize': {
    request: T.Object(
      {
        nodeId: T.Union([NodeIdText, T.Null()]),
        token: T.Optional(T.String({ maxLength: 512 })),
        alpn: Alpn,
        scopes: T.Optional(T.Array(Scope, { maxItems: 32 })),
      },
      { additionalProperties: false },
    ),
    reply: T.Union([
      T.Object({
        allowed: T.Literal(true),
        nodeId: T.Union([NodeIdText, T.Null()]),
        scopes: T.Array(T.String()),
        /** The node itself or an enabled, listed peer (not merely anonymous or a token holder). */
        known: T.Boolean(),
      }),
      T.Object({ allowed: T.Literal(false), reason: T.String({ maxLength: 512 }) }),
    ]),
  },
  /**
   * An SSH public key (its type and wire blob) offered from `remoteHost` on `alpn` → allowed with the
   * authorized_keys options that bind it (from=, command=, no-pty, no-port-forwarding), or refused
   * with a reason. Only HOME/authorized_keys is consulted; node identities go through peers.authorize.
   */
  'peers.authorizeSshKey': {
    request: T.Object(
      {
        keyType: T.String({ minLength: 1, maxLength: 64 }),
        publicKey: T.Uint8Array({ minByteLength: 1, maxByteLength: 16 * 1024 }),
        alpn: Alpn,
        remoteHost: T.String({ maxLength: 64 }),
      },
      { additionalProperties: false },
    ),
    reply: T.Union([
      T.Object({
        allowed: T.Literal(true),
        /** The authorized_keys line that matched, for log lines. */
        line: T.Integer({ minimum: 1 }),
        comment: T.String(),
        options: T.Object({
          from: T.Optional(T.String()),
          command: T.Optional(T.String()),
          noPty: T.Boolean(),
          noPortForwarding: T.Boolean(),
        }),
      }),
      T.Object({ allowed: T.Literal(false), reason: T.String({ maxLength: 512 }) }),
    ]),
  },
  /** Where a node was last met (known_nodes), as NODEID@host:port, or null. */
  'peers.resolve': {
    request: T.Object({ nodeId: NodeIdText }, { additionalProperties: false }),
    reply: T.Object({ address: T.Union([T.String({ maxLength: 320 }), T.Null()]) }),
  },
  /** The listed peers and their grants (never tokens). */
  'peers.list': {
    request: T.Object({}, { additionalProperties: false }),
    reply: T.Object({
      peers: T.Array(
        T.Object({
          nodeId: NodeIdText,
          scopes: T.Array(T.String()),
          enabled: T.Boolean(),
          alpns: T.Optional(T.Array(T.String())),
          denyAlpns: T.Optional(T.Array(T.String())),
        }),
      ),
    }),
  },
});

declare module '../../bus/catalogue.ts' {
  interface Catalogue extends MessagesOf<typeof peersMessages> {}
}

export type PeersMessageType = keyof typeof peersMessages;

export function isPeersMessageType(type: unknown): type is PeersMessageType {
  return typeof type === 'string' && Object.prototype.hasOwnProperty.call(peersMessages, type);
}
