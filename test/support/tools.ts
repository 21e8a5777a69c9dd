// What a suite needs from outside the repository: a system tool (ssh, git, dig, b3sum, chromium…) or
// a published vector file (../shared/vectors, see vectors.ts). When one is missing the test is skipped
// with a message saying how to get it, except under CI=true, where a skip would hide a missing
// install step: there the test fails, naming what is missing.
import { spawnSync } from 'node:child_process';

export const onCi = (): boolean => process.env.CI === 'true';

export function hasTool(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v "$1"`, 'sh', tool], { stdio: 'ignore' }).status === 0;
}

/** Something a test needs: use `skip` as node:test's `skip` option and read `value` in the test body. */
export interface Needed<T> {
  /** The reason to skip when it is missing (outside CI); false when present, and always under CI. */
  readonly skip: string | false;
  /** What was found; when it is missing (only reachable under CI=true) reading it fails the test. */
  readonly value: T;
}

/** The one policy for both tools and vectors: present → value; missing → skip, or fail under CI. */
export function needed<T>(found: T | undefined, missing: string): Needed<T> {
  if (found !== undefined) return { skip: false, value: found };
  const ci = onCi();
  return {
    skip: ci ? false : missing,
    get value(): T {
      throw new Error(ci ? `CI=true, and a skip would hide this: ${missing}` : missing);
    },
  };
}

/** A tool on PATH (`value` is its path), or why not, with the Debian package that provides it. */
export function requireTool(tool: string, debianPackage: string): Needed<string> {
  const which = spawnSync('sh', ['-c', `command -v "$1"`, 'sh', tool], { encoding: 'utf8' });
  const found = which.status === 0 ? which.stdout.trim() || undefined : undefined;
  return needed(found, `${tool} not found: install it with "apt-get install -y ${debianPackage}" (npm test does this as root)`);
}

/** For a `skip` option alone: the reason when the tool is missing; under CI=true it throws (the file fails). */
export function skipUnlessTool(tool: string, debianPackage: string): string | false {
  const needs = requireTool(tool, debianPackage);
  if (needs.skip === false) void needs.value; // throws when it is missing under CI
  return needs.skip;
}
