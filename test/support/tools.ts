// Interop suites need real tools (ssh, git, dig, chromium, a Vulkan driver). When one is missing the
// suite is skipped with the install command, except under CI=true, where a skip would hide a missing
// install step: there it fails.
import { spawnSync } from 'node:child_process';

export function hasTool(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}

/** Returns a skip reason for node:test's `skip` option, or false when the tool is present. Throws under CI. */
export function skipUnlessTool(tool: string, debianPackage: string): string | false {
  if (hasTool(tool)) return false;
  const reason = `${tool} not found: install it with "apt-get install -y ${debianPackage}" (npm test does this as root)`;
  if (process.env.CI === 'true') throw new Error(`CI: ${reason}`);
  return reason;
}
