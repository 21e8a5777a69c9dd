// Every benchmark runs in its short mode in CI, so a benchmark that no longer runs is noticed.
// This checks that each finishes and prints a table of numbers; it never looks at the timings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import { needed } from '../support/tools.ts';

const root = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
const BENCHES = ['bus', 'supervisor', 'vault', 'transport', 'call', 'restart', 'blobs', 'tensor', 'cli', 'http', 'git', 'ssh', 'dns'];
// bench/ssh runs a private OpenSSH sshd beside the node: skipped without it (failed under CI=true).
const SKIP: Record<string, string | false> = {
  ssh: needed(fs.existsSync('/usr/sbin/sshd') || undefined, '/usr/sbin/sshd not found: install it with "apt-get install -y openssh-server" (npm test does this as root)').skip,
  // bench/dns compares with dnsperf against knotd: benchmark-only tools (scripts/bench-deps.sh), not
  // installed by npm test, so a plain skip without them, in CI too.
  dns: ['dnsperf', 'knotd'].every((tool) => ['/usr/bin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin'].some((dir) => fs.existsSync(path.join(dir, tool))))
    ? false
    : 'dnsperf or knotd not installed: scripts/bench-deps.sh installs them (apt-get install -y dnsperf knot)',
};

for (const name of BENCHES) {
  test(`bench/${name}.ts --short runs and prints its table`, { skip: SKIP[name] ?? false }, async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(root, 'bench', `${name}.ts`), '--short'], {
      cwd: root,
      timeout: 240_000,
      maxBuffer: 16 << 20,
    });
    const rows = stdout.split('\n').filter((line) => /\d/.test(line) && (line.includes('|') || /\s{2,}\S/.test(line)));
    assert.ok(rows.length >= 2, `bench/${name}.ts printed no table:\n${stdout.slice(0, 2000)}`);
    assert.doesNotMatch(stdout, /\bNaN\b/, `bench/${name}.ts printed NaN:\n${stdout.slice(0, 2000)}`);
  });
}
