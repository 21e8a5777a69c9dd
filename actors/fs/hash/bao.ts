// bao verified streaming over BLAKE3 (as iroh-blobs uses it): one import for the blob store and the
// alknet/blobs protocol. Wire format and decisions: docs/blake3-bao.md.
export { BaoRangeError, HEADER_LEN, MAX_CHUNK_GROUP_LOG, PARENT_LEN, combinedLen, groupsForRanges, outboardLen, readSizeHeader, treeShape, walkTree } from './bao-tree.ts';
export type { BaoOptions, ByteRange, GroupVisit, ParentVisit, TreeShape, TreeVisit } from './bao-tree.ts';
export { encodeCombined, encodeOutboard, extractRanges, extractSlice } from './bao-encode.ts';
export type { BaoCombined, BaoOutboard } from './bao-encode.ts';
export { BaoDecoder, BaoVerifyError } from './bao-decode.ts';
export type { BaoDecoderOptions, BaoFailure, VerifiedGroup } from './bao-decode.ts';
