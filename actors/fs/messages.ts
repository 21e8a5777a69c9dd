// The fs actor's bus messages (TypeBox schemas, registered in the bus catalogue). Requests arrive at
// the actor with systemId FS_SYSTEM_ID. Bytes travel only in bounded pieces (the bus frame is 16 MiB);
// large content moves through the alknet/blobs protocol, which uses the store's streams.
import { Type as T } from '@sinclair/typebox';
import { defineMessages, type MessagesOf } from '../../bus/catalogue.ts';
import type { BlobStore } from './store.ts';

export const FS_SYSTEM_ID = 'fs';
/** Largest content fs.addBytes accepts and fs.readBytes returns (within the bus's 16 MiB frame). */
export const MAX_FS_BYTES = 8 * 1024 * 1024;
/** Most entries one fs.list reply carries. */
export const MAX_LIST = 1000;

export const HashText = T.String({ pattern: '^[0-9a-f]{64}$', description: 'BLAKE3 hash, 64 lower-case hex characters' });
export const TagName = T.String({ pattern: '^[\\x21-\\x7e]{1,255}$', description: '1-255 printable ASCII characters, no spaces' });
const Size = T.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
export const ByteRangeSchema = T.Object({ start: Size, len: Size }, { additionalProperties: false });
const Ranges = T.Array(ByteRangeSchema, { maxItems: 256 });

export const BlobStatSchema = T.Object({
  hash: HashText,
  size: Size,
  complete: T.Boolean(),
  groups: T.Integer({ minimum: 1 }),
  verifiedGroups: T.Integer({ minimum: 0 }),
  tags: T.Array(T.String()),
});

const HashOnly = T.Object({ hash: HashText }, { additionalProperties: false });

export const fsMessages = defineMessages({
  'fs.stat': { request: HashOnly, reply: BlobStatSchema },
  'fs.has': { request: HashOnly, reply: T.Object({ has: T.Boolean() }) },
  'fs.list': {
    request: T.Object({ after: T.Optional(HashText), limit: T.Optional(T.Integer({ minimum: 1, maximum: MAX_LIST })) }, { additionalProperties: false }),
    reply: T.Object({ blobs: T.Array(BlobStatSchema), more: T.Boolean() }),
  },
  'fs.tags': { request: T.Object({}, { additionalProperties: false }), reply: T.Object({ tags: T.Array(T.Object({ name: T.String(), hash: HashText })) }) },
  'fs.tag': { request: T.Object({ name: TagName, hash: HashText }, { additionalProperties: false }), reply: T.Object({ ok: T.Literal(true) }) },
  'fs.untag': { request: T.Object({ name: TagName }, { additionalProperties: false }), reply: T.Object({ removed: T.Boolean() }) },
  'fs.delete': { request: HashOnly, reply: T.Object({ removed: T.Boolean() }) },
  'fs.gc': { request: T.Object({}, { additionalProperties: false }), reply: T.Object({ removed: T.Array(HashText), kept: T.Integer({ minimum: 0 }) }) },
  'fs.missingRanges': { request: HashOnly, reply: T.Object({ ranges: T.Array(ByteRangeSchema) }) },
  'fs.addBytes': {
    request: T.Object({ bytes: T.Uint8Array({ maxByteLength: MAX_FS_BYTES }), tag: T.Optional(TagName) }, { additionalProperties: false }),
    reply: T.Object({ hash: HashText, size: Size }),
  },
  'fs.readBytes': {
    request: T.Object({ hash: HashText, ranges: T.Optional(Ranges) }, { additionalProperties: false }),
    reply: T.Object({ bytes: T.Uint8Array({ maxByteLength: MAX_FS_BYTES }) }),
  },
  /**
   * LOCAL ONLY (never served to another node, see REMOTE_ALLOWED in machine.ts): the open BlobStore,
   * so the alknet/blobs provider streams verified slices from its files without a bus hop per piece.
   * The handle is valid while the fs actor is `ready`; ask again after a restart.
   */
  'fs.store': { request: T.Object({}, { additionalProperties: false }), reply: T.Object({ store: T.Unsafe<BlobStore>(T.Any()) }) },
});

declare module '../../bus/catalogue.ts' {
  interface Catalogue extends MessagesOf<typeof fsMessages> {}
}

export type FsMessageType = keyof typeof fsMessages;
export const FS_MESSAGE_TYPES = Object.keys(fsMessages) as FsMessageType[];

export function isFsMessageType(type: unknown): type is FsMessageType {
  return typeof type === 'string' && Object.prototype.hasOwnProperty.call(fsMessages, type);
}
