// The blob store's operations, declared for the node's catalogue (operations/catalogue.ts) and served
// by the fs actor's own bus messages: a remote `blobs/stat` is an `fs.stat` request to the actor, with
// its mailbox bound, deadline and restart behaviour. Scopes: stat/has/missingRanges are public, like
// the blob itself (the hash is the capability); listing reveals every hash, so it needs `blobs:read`;
// tag/untag/delete/gc change the store and need `blobs:write`. Granting `blobs` covers both.
import { servedBy, type OperationSpec } from '../../operations/catalogue.ts';
import { FS_SYSTEM_ID, MAX_LIST } from './messages.ts';

export const BLOBS_READ_SCOPE = 'blobs:read';
export const BLOBS_WRITE_SCOPE = 'blobs:write';

/** Declarations only: no store, no closure; the fs actor answers them whenever it runs. */
export function fsOperations(): OperationSpec[] {
  const fs = FS_SYSTEM_ID;
  return [
    servedBy(fs, 'fs.stat', {
      name: 'blobs/stat', type: 'query', scopes: [], visibility: 'external',
      errors: ['NOT_FOUND', 'INVALID_INPUT'], description: 'Size, completeness and tags of a blob',
    }),
    servedBy(fs, 'fs.has', {
      name: 'blobs/has', type: 'query', scopes: [], visibility: 'external',
      errors: ['INVALID_INPUT'], description: 'Whether the node holds the complete blob',
    }),
    servedBy(fs, 'fs.missingRanges', {
      name: 'blobs/missingRanges', type: 'query', scopes: [], visibility: 'external',
      errors: ['NOT_FOUND', 'INVALID_INPUT'], description: 'Byte ranges of a partial blob not stored yet',
    }),
    servedBy(fs, 'fs.list', {
      name: 'blobs/list', type: 'query', scopes: [BLOBS_READ_SCOPE], visibility: 'external',
      errors: ['FORBIDDEN', 'INVALID_INPUT'], description: `Blobs in hash order, at most ${MAX_LIST} per page`,
    }),
    servedBy(fs, 'fs.tags', {
      name: 'blobs/tags', type: 'query', scopes: [BLOBS_READ_SCOPE], visibility: 'external',
      errors: ['FORBIDDEN'], description: 'Every tag and the blob it pins',
    }),
    servedBy(fs, 'fs.tag', {
      name: 'blobs/tag', type: 'mutation', scopes: [BLOBS_WRITE_SCOPE], visibility: 'external',
      errors: ['FORBIDDEN', 'NOT_FOUND', 'INVALID_INPUT'], description: 'Name a blob so gc keeps it',
    }),
    servedBy(fs, 'fs.untag', {
      name: 'blobs/untag', type: 'mutation', scopes: [BLOBS_WRITE_SCOPE], visibility: 'external',
      errors: ['FORBIDDEN', 'INVALID_INPUT'], description: 'Remove a tag',
    }),
    servedBy(fs, 'fs.delete', {
      name: 'blobs/delete', type: 'mutation', scopes: [BLOBS_WRITE_SCOPE], visibility: 'external',
      errors: ['FORBIDDEN', 'INVALID_INPUT'], description: 'Delete a blob and the tags naming it',
    }),
    servedBy(fs, 'fs.gc', {
      name: 'blobs/gc', type: 'mutation', scopes: [BLOBS_WRITE_SCOPE], visibility: 'external',
      errors: ['FORBIDDEN'], description: 'Remove blobs no tag pins (children of tagged collections are kept)',
    }),
  ];
}
