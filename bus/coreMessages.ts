// The bus's own messages: connection events from the listener. Also the pattern every other group
// copies (defineMessages + declaration merging into Catalogue).
import { Type as T } from '@sinclair/typebox';
import { defineMessages, type MessagesOf } from './catalogue.ts';

/** Limits: every field that can come from the network is bounded. */
const ConnId = T.String({ minLength: 1, maxLength: 128 });

export const Peer = T.Object({
  /** z-base-32 of the Ed25519 public key (52 characters). */
  nodeId: T.String({ pattern: '^[ybndrfg8ejkmcpqxot1uwisza345h769]{52}$' }),
  /** The same key as 64 lowercase hex characters. */
  publicKey: T.String({ pattern: '^[0-9a-f]{64}$' }),
});

export const Remote = T.Object({
  host: T.String({ minLength: 1, maxLength: 255 }),
  port: T.Integer({ minimum: 0, maximum: 65535 }),
});

export const coreMessages = defineMessages({
  /** A connection passed the handshake; its ALPN selects the protocol actor. Event. */
  'connection.accepted': {
    request: T.Object({
      connId: ConnId,
      // An ALPN protocol id is 1..255 bytes (RFC 7301).
      alpn: T.String({ minLength: 1, maxLength: 255 }),
      transport: T.Union([T.Literal('quic'), T.Literal('tls')]),
      /** null: the peer showed no usable certificate (anonymous). */
      peer: T.Union([Peer, T.Null()]),
      remote: Remote,
    }),
  },
  /** The last open connection of a peer closed (services drop what that peer held). Event. */
  'peer.disconnected': {
    request: T.Object({ nodeId: Peer.properties.nodeId }),
  },
  /** A connection ended (by either side, or refused). Event. */
  'connection.closed': {
    request: T.Object({
      connId: ConnId,
      reason: T.String({ maxLength: 1024 }),
    }),
  },
});

declare module './catalogue.ts' {
  interface Catalogue extends MessagesOf<typeof coreMessages> {}
}
