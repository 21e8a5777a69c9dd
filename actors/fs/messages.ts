// The fs actor's bus messages (TypeBox schemas, registered in the bus catalogue). Requests arrive at
// the actor with systemId FS_SYSTEM_ID. No message carries a live object: only data, so the store
// stays owned by the fs actor alone. Bytes travel in bounded pieces (the bus frame is 16 MiB); in
// one process a Uint8Array payload travels by reference, so a slice window or a run of groups is
// not copied on its way. Who may send what (local only vs. other nodes): machine.ts.
import { Type as T } from '@sinclair/typebox';
import { defineMessages, type MessagesOf } from '../../bus/catalogue.ts';
import { MAX_COLLECTION_ENTRIES } from './collection.ts';
import { TAG_PATTERN } from './errors.ts';
import { MAX_SLICE_WINDOW, MAX_WRITE_BYTES, MAX_WRITE_VIEWS } from './limits.ts';

export const FS_SYSTEM_ID = 'fs';
/** Largest content fs.addBytes accepts and fs.readBytes returns (within the bus's 16 MiB frame). */
export const MAX_FS_BYTES = 8 * 1024 * 1024;
/** Most entries one fs.list reply carries. */
export const MAX_LIST = 1000;
/** Most byte ranges in one request (as the alknet/blobs wire allows). */
export const MAX_FS_RANGES = 1024;
/** Most skipped items an fs.addPath reply lists. */
const MAX_SKIPPED = 1000;
const MAX_PATH = 4096;

export const HashText = T.String({ pattern: '^[0-9a-f]{64}$', description: 'BLAKE3 hash, 64 lower-case hex characters' });
export const TagName = T.String({ pattern: TAG_PATTERN, maxLength: 255, description: '1-255 characters, no control characters, not only spaces' });
const Size = T.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
export const ByteRangeSchema = T.Object({ start: Size, len: Size }, { additionalProperties: false });
const Ranges = T.Array(ByteRangeSchema, { maxItems: 256 });
const SliceRanges = T.Array(ByteRangeSchema, { maxItems: MAX_FS_RANGES });
const Name = T.String({ minLength: 1, maxLength: MAX_PATH });

export const BlobStatSchema = T.Object({
  hash: HashText,
  size: Size,
  complete: T.Boolean(),
  groups: T.Integer({ minimum: 1 }),
  verifiedGroups: T.Integer({ minimum: 0 }),
  tags: T.Array(T.String()),
});

/** Progress of a blob without its tags: what fs.writeGroups answers (cheap: no tag scan). */
export const PartialStatSchema = T.Object({
  size: Size,
  complete: T.Boolean(),
  groups: T.Integer({ minimum: 1 }),
  verifiedGroups: T.Integer({ minimum: 0 }),
});

export const CollectionSchema = T.Object({
  entries: T.Array(T.Object({ name: Name, hash: HashText, executable: T.Optional(T.Boolean()) }), { maxItems: MAX_COLLECTION_ENTRIES }),
  links: T.Array(T.Object({ name: Name, target: T.String({ minLength: 1, maxLength: MAX_PATH }) }), { maxItems: MAX_COLLECTION_ENTRIES }),
  dirs: T.Array(Name, { maxItems: MAX_COLLECTION_ENTRIES }),
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
   * One window of a complete blob's bao slice (16 KiB groups) for `ranges` (all when absent): the
   * wire bytes of the walk's nodes from group `fromGroup` (default 0; the first window starts with
   * the size header), about `maxBytes` of them (default 2 MiB, at most 8 MiB). Ask again from
   * `nextGroup` until it is null. NOT_FOUND for a blob not complete here.
   */
  'fs.readSlice': {
    request: T.Object({
      hash: HashText, ranges: T.Optional(SliceRanges), fromGroup: T.Optional(Size),
      maxBytes: T.Optional(T.Integer({ minimum: 1, maximum: MAX_SLICE_WINDOW })),
    }, { additionalProperties: false }),
    reply: T.Object({
      size: Size,
      bytes: T.Uint8Array({ maxByteLength: MAX_SLICE_WINDOW + 64 * 1024 }),
      nextGroup: T.Union([Size, T.Null()]),
    }),
  },
  /** LOCAL ONLY. Starts (or resumes) a partial blob of `size` bytes; the fetcher proved the size first. */
  'fs.beginPartial': {
    request: T.Object({ hash: HashText, size: Size }, { additionalProperties: false }),
    reply: BlobStatSchema,
  },
  /**
   * LOCAL ONLY. Stores a run of consecutive groups of a partial blob that the sender verified
   * against the hash (bao decoder): their bytes as pieces (written with one writev) and 32 bytes of
   * proven chaining value per group. Bits are set at `sync` (a datasync runs every 32 MiB); `data` empty: only
   * the sync. The blob completes only when the stored values rebuild the root hash.
   */
  'fs.writeGroups': {
    request: T.Object({
      hash: HashText, firstGroup: Size,
      data: T.Array(T.Uint8Array({ maxByteLength: MAX_WRITE_BYTES }), { maxItems: MAX_WRITE_VIEWS }),
      cvs: T.Optional(T.Uint8Array({ maxByteLength: (MAX_WRITE_BYTES / 16384 + 1) * 32 })),
      sync: T.Optional(T.Boolean()),
    }, { additionalProperties: false }),
    reply: PartialStatSchema,
  },
  'fs.isCollection': { request: HashOnly, reply: T.Object({ collection: T.Boolean() }) },
  'fs.readCollection': { request: HashOnly, reply: CollectionSchema },
  /**
   * LOCAL ONLY. Adds a file, or a folder as a collection, from this machine's file system (the
   * CLI's `blob add`). `progressId`: the actor publishes `fs.addProgress` events with that id while
   * it reads (when it was given an event bus).
   */
  'fs.addPath': {
    request: T.Object({
      path: T.String({ minLength: 1, maxLength: MAX_PATH }), tag: T.Optional(TagName), progressId: T.Optional(T.String({ maxLength: 64 })),
    }, { additionalProperties: false }),
    reply: T.Object({
      hash: HashText, size: Size, collection: T.Boolean(), files: T.Integer({ minimum: 0 }),
      links: T.Integer({ minimum: 0 }), dirs: T.Integer({ minimum: 0 }),
      skipped: T.Array(T.Object({ name: T.String(), reason: T.String() }), { maxItems: MAX_SKIPPED }),
      skippedCount: T.Integer({ minimum: 0 }),
    }),
  },
  /** Event: bytes read so far by the fs.addPath with this progressId. */
  'fs.addProgress': { request: T.Object({ progressId: T.String({ maxLength: 64 }), bytes: Size }) },
});

declare module '../../bus/catalogue.ts' {
  interface Catalogue extends MessagesOf<typeof fsMessages> {}
}

export type FsMessageType = Exclude<keyof typeof fsMessages, 'fs.addProgress'>;
export const FS_MESSAGE_TYPES = Object.keys(fsMessages).filter((t) => t !== 'fs.addProgress') as FsMessageType[];

export function isFsMessageType(type: unknown): type is FsMessageType {
  return typeof type === 'string' && type !== 'fs.addProgress' && Object.prototype.hasOwnProperty.call(fsMessages, type);
}
