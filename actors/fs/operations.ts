// The blob store's operations for the call registry (served by alknet/call, HTTP and MCP alike).
// Scopes: stat/has/missingRanges are public, like the blob itself (the hash is the capability);
// listing reveals every hash, so it needs `blobs:read`; tag/untag/delete/gc change the store and
// need `blobs:write`. Granting `blobs` covers both.
import { defineOperation, type OperationSpec } from '../../operations/catalogue.ts';
import { fsMessages, MAX_LIST } from './messages.ts';
import { handleFsRequest } from './machine.ts';
import type { BlobStore } from './store.ts';

export const BLOBS_READ_SCOPE = 'blobs:read';
export const BLOBS_WRITE_SCOPE = 'blobs:write';

/** The operations, bound to one store (the fs service registers them with itself as owner). */
export function fsOperations(store: BlobStore): OperationSpec[] {
  const m = fsMessages;
  return [
    defineOperation({
      name: 'blobs/stat', type: 'query', input: m['fs.stat'].request, output: m['fs.stat'].reply, scopes: [], visibility: 'external',
      errors: ['NOT_FOUND', 'INVALID_INPUT'], description: 'Size, completeness and tags of a blob',
      handler: async (input) => store.stat(input.hash),
    }),
    defineOperation({
      name: 'blobs/has', type: 'query', input: m['fs.has'].request, output: m['fs.has'].reply, scopes: [], visibility: 'external',
      errors: ['INVALID_INPUT'], description: 'Whether the node holds the complete blob',
      handler: async (input) => ({ has: store.has(input.hash) }),
    }),
    defineOperation({
      name: 'blobs/missingRanges', type: 'query', input: m['fs.missingRanges'].request, output: m['fs.missingRanges'].reply, scopes: [],
      visibility: 'external', errors: ['NOT_FOUND', 'INVALID_INPUT'], description: 'Byte ranges of a partial blob not stored yet',
      handler: async (input) => ({ ranges: store.missingRanges(input.hash) }),
    }),
    defineOperation({
      name: 'blobs/list', type: 'query', input: m['fs.list'].request, output: m['fs.list'].reply, scopes: [BLOBS_READ_SCOPE],
      visibility: 'external', errors: ['FORBIDDEN', 'INVALID_INPUT'], description: `Blobs in hash order, at most ${MAX_LIST} per page`,
      handler: async (input) => (await handleFsRequest(store, 'fs.list', input)) as { blobs: ReturnType<BlobStore['list']>; more: boolean },
    }),
    defineOperation({
      name: 'blobs/tags', type: 'query', input: m['fs.tags'].request, output: m['fs.tags'].reply, scopes: [BLOBS_READ_SCOPE],
      visibility: 'external', errors: ['FORBIDDEN'], description: 'Every tag and the blob it pins',
      handler: async () => ({ tags: store.tags() }),
    }),
    defineOperation({
      name: 'blobs/tag', type: 'mutation', input: m['fs.tag'].request, output: m['fs.tag'].reply, scopes: [BLOBS_WRITE_SCOPE],
      visibility: 'external', errors: ['FORBIDDEN', 'NOT_FOUND', 'INVALID_INPUT'], description: 'Name a blob so gc keeps it',
      handler: async (input) => {
        await store.tag(input.name, input.hash);
        return { ok: true as const };
      },
    }),
    defineOperation({
      name: 'blobs/untag', type: 'mutation', input: m['fs.untag'].request, output: m['fs.untag'].reply, scopes: [BLOBS_WRITE_SCOPE],
      visibility: 'external', errors: ['FORBIDDEN', 'INVALID_INPUT'], description: 'Remove a tag',
      handler: async (input) => ({ removed: await store.untag(input.name) }),
    }),
    defineOperation({
      name: 'blobs/delete', type: 'mutation', input: m['fs.delete'].request, output: m['fs.delete'].reply, scopes: [BLOBS_WRITE_SCOPE],
      visibility: 'external', errors: ['FORBIDDEN', 'INVALID_INPUT'], description: 'Delete a blob and the tags naming it',
      handler: async (input) => ({ removed: await store.delete(input.hash) }),
    }),
    defineOperation({
      name: 'blobs/gc', type: 'mutation', input: m['fs.gc'].request, output: m['fs.gc'].reply, scopes: [BLOBS_WRITE_SCOPE],
      visibility: 'external', errors: ['FORBIDDEN'], description: 'Remove blobs no tag pins (children of tagged collections are kept)',
      handler: async () => store.gc(),
    }),
  ];
}
