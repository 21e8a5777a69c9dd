// The pkarr service's bus messages: its whole door. The pkarr actor owns the node's store of signed
// packets (HOME/db/, LMDB), the node's Mainline DHT client and its list of relays; the relay HTTP
// mount, the DNS front end and the CLI reach them only through these messages.
//
// A packet here is always the whole SignedPacket as pkarr's relays carry it:
//   64-byte Ed25519 signature ‖ 8-byte big-endian timestamp (µs) ‖ DNS packet (≤ 1000 bytes)
// (lib/pkarr/signedPacket.ts decodes it; the public key travels beside it, as the relay's URL does).
import { Type as T } from '@sinclair/typebox';
import { defineMessages, type MessagesOf } from '../../bus/catalogue.ts';

export const PKARR_SYSTEM_ID = 'pkarr';

/** 64 + 8 + 1000: the largest signed packet (signature, timestamp, DNS packet). */
export const MAX_SIGNED_PACKET_BYTES = 1072;

const PublicKeyText = T.String({ pattern: '^[ybndrfg8ejkmcpqxot1uwisza345h769]{52}$', description: 'z-base-32 Ed25519 public key (a NodeId)' });
const SignedPacketBytes = T.Uint8Array({ minByteLength: 72, maxByteLength: MAX_SIGNED_PACKET_BYTES });
const Timestamp = T.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'microseconds since the Unix epoch' });
const RelayUrl = T.String({ minLength: 1, maxLength: 512 });

/** Why a put was refused: the relay API turns these into 400, 409 and 428 (docs/pkarr.md). */
export const PutRefusal = T.Union([
  /** Malformed bytes, a bad signature, or a DNS packet that does not parse. */
  T.Literal('invalid'),
  /** The stored packet is newer than this one (or has the same timestamp with other bytes). */
  T.Literal('older'),
  /** `ifUnmodifiedSince` was given and the stored packet is newer than it. */
  T.Literal('precondition'),
]);

export const pkarrMessages = defineMessages({
  /**
   * Stores a signed packet for `publicKey` (the key it must be signed by) after verifying it. Newer
   * timestamp wins; an older one is refused; the same timestamp with the same bytes is accepted as
   * already stored (`stored: false`, no reason), with other bytes refused. The signed packet does
   * not carry its key (the relay's URL does), so `publicKey` is required.
   */
  'pkarr.put': {
    request: T.Object(
      {
        packet: SignedPacketBytes,
        publicKey: PublicKeyText,
        /** µs: refuse ('precondition') if the stored packet's timestamp is newer (HTTP If-Unmodified-Since). */
        ifUnmodifiedSince: T.Optional(Timestamp),
        /** Once stored, also put it into the Mainline DHT (when the node runs a DHT node), as a relay does. */
        publish: T.Optional(T.Boolean()),
      },
      { additionalProperties: false },
    ),
    reply: T.Object({
      stored: T.Boolean(),
      reason: T.Optional(T.String({ maxLength: 512 })),
      refused: T.Optional(PutRefusal),
      /** With `publish`: DHT nodes that stored it (absent when the DHT is off). */
      dhtNodes: T.Optional(T.Integer({ minimum: 0 })),
    }),
  },
  /** The stored signed packet for a key (this node's store only; no network), or null. */
  'pkarr.get': {
    request: T.Object({ publicKey: PublicKeyText }, { additionalProperties: false }),
    reply: T.Object({ packet: T.Union([SignedPacketBytes, T.Null()]) }),
  },
  /**
   * Looks a key up: the local store, then (unless `localOnly`) the Mainline DHT and the relays
   * (the given ones, else config's [pkarr] relays). The newest valid packet wins and is stored.
   */
  'pkarr.resolve': {
    request: T.Object(
      {
        publicKey: PublicKeyText,
        relays: T.Optional(T.Array(RelayUrl, { maxItems: 16 })),
        localOnly: T.Optional(T.Boolean()),
        /** Skip the local store's answer and ask the network (the newest still wins). */
        fresh: T.Optional(T.Boolean()),
      },
      { additionalProperties: false },
    ),
    reply: T.Object({
      packet: T.Union([SignedPacketBytes, T.Null()]),
      /** Where the returned packet came from. */
      source: T.Union([T.Literal('local'), T.Literal('dht'), T.Literal('relay'), T.Null()]),
    }),
  },
  /**
   * Builds, signs (vault.sign over the BEP44 signable bytes) and stores the node's own packet (`_alknet` TXT with its id and
   * listen addresses, A/AAAA for their hosts), then publishes it to the DHT and the relays.
   */
  'pkarr.publishSelf': {
    request: T.Object(
      {
        /** host:port addresses to publish; default: the node's listen address. */
        addresses: T.Optional(T.Array(T.String({ minLength: 1, maxLength: 300 }), { maxItems: 16 })),
        relays: T.Optional(T.Array(RelayUrl, { maxItems: 16 })),
      },
      { additionalProperties: false },
    ),
    reply: T.Object({
      publicKey: PublicKeyText,
      timestamp: Timestamp,
      packet: SignedPacketBytes,
      /** One entry per relay tried, with its outcome. */
      relays: T.Array(T.Object({ url: RelayUrl, ok: T.Boolean(), detail: T.Optional(T.String({ maxLength: 512 })) })),
      /** Stored on at least one DHT node (false where the DHT is off or nobody answered). */
      dht: T.Boolean(),
      dhtDetail: T.Optional(T.String({ maxLength: 512 })),
    }),
  },
  /** Store statistics. */
  'pkarr.stats': {
    request: T.Object({}, { additionalProperties: false }),
    reply: T.Object({
      records: T.Integer({ minimum: 0 }),
      maxRecords: T.Integer({ minimum: 1 }),
      /** host:port of the node's DHT socket, or null when the DHT is off. */
      dht: T.Union([T.String(), T.Null()]),
    }),
  },
});

declare module '../../bus/catalogue.ts' {
  interface Catalogue extends MessagesOf<typeof pkarrMessages> {}
}

export type PkarrMessageType = keyof typeof pkarrMessages;

export function isPkarrMessageType(type: unknown): type is PkarrMessageType {
  return typeof type === 'string' && Object.prototype.hasOwnProperty.call(pkarrMessages, type);
}

/**
 * Which pkarr messages another node may send over the remote bus: reading and storing signed
 * (public, self-verifying) packets. resolve and publishSelf make this node talk to the network: local only.
 */
export const REMOTE_PKARR_MESSAGES: ReadonlySet<string> = new Set(['pkarr.get', 'pkarr.put']);
