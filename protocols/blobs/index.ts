// alknet/blobs: verified blob transfer (BLAKE3 + bao slices at 16 KiB groups). One import for the
// node (the ProtocolSpec), the CLI and programs (fetchBlob). Wire and decisions: docs/blobs-protocol.md.
export { BLOBS_ALPN, MAX_RANGES, MAX_REQUEST_BYTES, BlobsWireError, decodeRequest, encodeRequest, sliceLength } from './wire.ts';
export { blobsProtocol, serveBlobStream } from './provider.ts';
export type { BlobsProviderOptions, ProviderFaults } from './provider.ts';
export { BlobsClient, ProviderRefusal } from './client.ts';
export type { BlobsClientOptions, SliceResponse } from './client.ts';
export { BlobFetchError, fetchBlob } from './fetch.ts';
export type { FetchOptions, FetchProgress, FetchResult } from './fetch.ts';
