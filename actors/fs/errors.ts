// The blob store's errors and argument checks. Errors are BusErrors, so the fs actor passes them on
// unchanged, and their messages never hold a path: they may be sent to another node.
import { BusError } from '../../bus/errors.ts';

export const HASH_HEX = /^[0-9a-f]{64}$/;
/**
 * A tag: 1-255 characters, none of them a control character (C0, DEL, C1: no terminal escapes),
 * not only spaces. UTF-8 and inner spaces are fine, so a tag can be a file's own name.
 */
export const TAG_PATTERN = '^(?=.*\\S)[^\\x00-\\x1f\\x7f-\\x9f]{1,255}$';
const TAG_NAME = new RegExp(TAG_PATTERN);

/** Errors carry the bus's codes, so the actor and the operations pass them on unchanged. */
export class BlobStoreError extends BusError {
  override name = 'BlobStoreError';
}

export function notFound(hash: string): BlobStoreError {
  return new BlobStoreError('NOT_FOUND', `blob ${hash} not found`);
}

export function checkHash(hash: string): string {
  if (typeof hash !== 'string' || !HASH_HEX.test(hash)) throw new BlobStoreError('INVALID_INPUT', 'a blob hash is 64 lower-case hex characters');
  return hash;
}

export function checkTag(name: string): string {
  if (typeof name !== 'string' || !TAG_NAME.test(name)) {
    throw new BlobStoreError('INVALID_INPUT', 'a tag is 1-255 characters without control characters, not only spaces');
  }
  return name;
}

function errnoOf(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Out of file descriptors (this process: EMFILE, or the system: ENFILE): the blob is fine and a
 * retry later will work, so the caller hears UNAVAILABLE (retryable), never NOT_FOUND.
 */
export function isOutOfDescriptors(err: unknown): boolean {
  const code = errnoOf(err);
  return code === 'EMFILE' || code === 'ENFILE';
}

export function outOfDescriptors(): BlobStoreError {
  return new BlobStoreError('UNAVAILABLE', 'the blob store has too many open files right now; retry later');
}

/**
 * What a failed open of a blob's own file means to the caller: gone (NOT_FOUND), no descriptor
 * left (UNAVAILABLE), or anything else (INTERNAL, with the errno code only: no path).
 */
export function openFailure(err: unknown, hash: string): BlobStoreError {
  if (err instanceof BlobStoreError) return err;
  if (isOutOfDescriptors(err)) return outOfDescriptors();
  if (errnoOf(err) === 'ENOENT') return notFound(hash);
  return new BlobStoreError('INTERNAL', `blob ${hash}: cannot open its file (${errnoOf(err) ?? 'error'})`);
}

/** Any error of a store call as the bus should see it (descriptor exhaustion → UNAVAILABLE). */
export function asStoreError(err: unknown): unknown {
  return !(err instanceof BusError) && isOutOfDescriptors(err) ? outOfDescriptors() : err;
}
