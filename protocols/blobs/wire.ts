// alknet/blobs wire format (pure: no streams, no actors). One stream carries requests one after the
// other: the fetcher writes a request frame, the provider answers with a response frame and, for a
// blob, exactly `len` bytes of bao slice (16 KiB groups) right after it. A frame is a 4-byte
// big-endian length and one msgpack map (bus/codec.ts). Details: docs/blobs-protocol.md.
import { Type as T, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { decode, encode } from '../../bus/codec.ts';
import { HEADER_LEN, PARENT_LEN, groupsForRanges, treeShape, walkTree } from '../../actors/fs/hash/bao.ts';
import type { ByteRange } from '../../actors/fs/hash/bao.ts';

export const BLOBS_ALPN = 'alknet/blobs';
/** 2^4 chunks of 1 KiB: the store's and the wire's chunk group. */
export const CHUNK_GROUP_LOG = 4;
/** Bytes per group: 16 KiB. */
export const GROUP_LEN = 1024 << CHUNK_GROUP_LOG;
/** Largest request frame body: 1024 ranges of two 9-byte integers fit with room to spare. */
export const MAX_REQUEST_BYTES = 64 * 1024;
/** Largest response frame body (an error message is cut to 1 KiB before it is sent). */
export const MAX_RESPONSE_BYTES = 8 * 1024;
/** Most byte ranges one request may name; a fetcher asks for more in several requests. */
export const MAX_RANGES = 1024;
export const MAX_MESSAGE = 1024;
const FRAME_HEADER = 4;

const Size = T.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

export const BlobRequestSchema = T.Object(
  {
    hash: T.String({ pattern: '^[0-9a-f]{64}$' }),
    /** [start, len] pairs; absent or empty: the whole blob. */
    ranges: T.Optional(T.Array(T.Tuple([Size, Size]), { maxItems: MAX_RANGES })),
  },
  { additionalProperties: false },
);
export type BlobRequest = Static<typeof BlobRequestSchema>;

export const BlobResponseSchema = T.Union([
  T.Object({ type: T.Literal('blob'), size: Size, len: Size }, { additionalProperties: false }),
  T.Object(
    { type: T.Literal('error'), code: T.String({ pattern: '^[A-Z][A-Z_]{0,31}$' }), message: T.String({ maxLength: MAX_MESSAGE }) },
    { additionalProperties: false },
  ),
]);
export type BlobResponse = Static<typeof BlobResponseSchema>;

const requestCheck = TypeCompiler.Compile(BlobRequestSchema);
const responseCheck = TypeCompiler.Compile(BlobResponseSchema);

/** A frame that cannot be read: the stream is closed after it (framing cannot be resynchronised). */
export class BlobsWireError extends Error {
  override name = 'BlobsWireError';
}

function frame(value: unknown, max: number, what: string): Uint8Array {
  const body = encode(value);
  if (body.length > max) throw new BlobsWireError(`${what} is ${body.length} bytes, above the ${max}-byte limit`);
  const out = new Uint8Array(FRAME_HEADER + body.length);
  new DataView(out.buffer).setUint32(0, body.length, false);
  out.set(body, FRAME_HEADER);
  return out;
}

function parse<S extends TSchema>(body: Uint8Array, check: TypeCheck<S>, what: string): Static<S> {
  let value: unknown;
  try {
    value = decode(body);
  } catch {
    throw new BlobsWireError(`${what} is not one msgpack value`);
  }
  if (!check.Check(value)) {
    const first = check.Errors(value).First();
    throw new BlobsWireError(`bad ${what}: ${first ? `${first.path || '/'} ${first.message}` : 'invalid'}`);
  }
  return value as Static<S>;
}

export function encodeRequest(hash: string, ranges?: readonly ByteRange[]): Uint8Array {
  const req: BlobRequest = { hash };
  if (ranges && ranges.length > 0) req.ranges = ranges.map((r) => [r.start, r.len] as [number, number]);
  if (!requestCheck.Check(req)) throw new BlobsWireError(`bad request: ${requestCheck.Errors(req).First()?.message ?? 'invalid'}`);
  return frame(req, MAX_REQUEST_BYTES, 'request');
}

/** A request frame's body → the request; throws BlobsWireError naming what is wrong. */
export function decodeRequest(body: Uint8Array): { hash: string; ranges: ByteRange[] | undefined } {
  const req = parse(body, requestCheck, 'request');
  const ranges = req.ranges && req.ranges.length > 0 ? req.ranges.map(([start, len]) => ({ start, len })) : undefined;
  return { hash: req.hash, ranges };
}

export function encodeResponse(response: BlobResponse): Uint8Array {
  const safe = response.type === 'error' ? { ...response, message: cutMessage(response.message) } : response;
  return frame(safe, MAX_RESPONSE_BYTES, 'response');
}

export function decodeResponse(body: Uint8Array): BlobResponse {
  return parse(body, responseCheck, 'response');
}

/** One line of at most MAX_MESSAGE characters: error text from a peer is shown to users. */
export function cutMessage(text: string): string {
  const line = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return line.length > MAX_MESSAGE ? `${line.slice(0, MAX_MESSAGE - 1)}…` : line;
}

/** The body length a frame header announces; throws on 0 or above `max`. */
export function frameLength(header: Uint8Array, max: number): number {
  const len = new DataView(header.buffer, header.byteOffset, FRAME_HEADER).getUint32(0, false);
  if (len === 0) throw new BlobsWireError('frame length is 0');
  if (len > max) throw new BlobsWireError(`frame length ${len} is above the ${max}-byte limit`);
  return len;
}

export const FRAME_HEADER_LEN = FRAME_HEADER;

/** Bytes of the bao slice (size header, parents, groups) for `ranges` (all when none) of a blob of `size`. */
export function sliceLength(size: number, ranges?: readonly ByteRange[]): number {
  const shape = treeShape(size, { chunkGroupLog: CHUNK_GROUP_LOG });
  const wanted = ranges && ranges.length > 0 ? groupsForRanges(shape, ranges) : undefined;
  let len = HEADER_LEN;
  for (const node of walkTree(shape, wanted)) len += node.kind === 'parent' ? PARENT_LEN : node.dataEnd - node.dataStart;
  return len;
}

/**
 * Where things sit in the slice, for the provider's test-only faults: the slice offset of content
 * byte `contentOffset` (undefined if the slice does not carry it), and the slice offset just after
 * the `groups`-th group it carries.
 */
export function sliceOffsets(size: number, ranges: readonly ByteRange[] | undefined, contentOffset?: number, groups?: number): {
  contentAt: number | undefined;
  afterGroups: number | undefined;
} {
  const shape = treeShape(size, { chunkGroupLog: CHUNK_GROUP_LOG });
  const wanted = ranges && ranges.length > 0 ? groupsForRanges(shape, ranges) : undefined;
  let at = HEADER_LEN;
  let seen = 0;
  let contentAt: number | undefined;
  let afterGroups: number | undefined;
  for (const node of walkTree(shape, wanted)) {
    if (node.kind === 'parent') {
      at += PARENT_LEN;
      continue;
    }
    if (contentOffset !== undefined && contentOffset >= node.dataStart && contentOffset < node.dataEnd) contentAt = at + contentOffset - node.dataStart;
    at += node.dataEnd - node.dataStart;
    seen++;
    if (groups !== undefined && seen === groups) afterGroups = at;
  }
  return { contentAt, afterGroups };
}

/** Byte ranges to send in one request: at most MAX_RANGES of them (the rest go in the next one). */
export function firstRanges(ranges: readonly ByteRange[]): ByteRange[] {
  return ranges.slice(0, MAX_RANGES);
}
