// `npm start`: a development node on 127.0.0.1:4433 with its home in ./.alknet-dev. The first run
// creates that home (0700) and its vault with a generated passphrase kept in
// ./.alknet-dev/passphrase (0600), printing the recovery phrase once, as `alknet init` does. Every
// run then runs exactly what `alknet node` runs and prints the node id and how to reach it.
//
// Overrides (for tests and for a second dev node): ALKNET_DEV_HOME (the home folder) and
// ALKNET_DEV_LISTEN (HOST:PORT; port 0 picks a free one).
//
// The passphrase sits next to the vault in a plain file: this is a development convenience, never a
// way to run a node whose keys matter.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { CliError, UsageError, type CommandContext } from './command.ts';
import { main } from './main.ts';
import { runNode } from './commands/node.ts';
import { requireHome } from './home.ts';
import { writeFileAtomic } from '../lib/atomicFile.ts';
import { vaultExists } from '../actors/vault/vaultFile.ts';
import type { RunningNode } from '../supervisors/startNode.ts';
import { fileURLToPath } from 'node:url';

export const DEV_HOME = '.alknet-dev';
export const DEV_LISTEN = '127.0.0.1:4433';
export const PASSPHRASE_FILE = 'passphrase';

type Io = Pick<CommandContext, 'stdin' | 'stdout' | 'stderr' | 'env'>;

/** Creates the dev home and its vault on first run; returns the passphrase file's path. */
async function ensureDevVault(home: string, io: Io): Promise<string> {
  const passphraseFile = path.join(home, PASSPHRASE_FILE);
  if (vaultExists(home)) {
    if (!fs.existsSync(passphraseFile)) {
      throw new CliError(`${home} has a vault but no ${PASSPHRASE_FILE} file: restore it, or move the folder away to start afresh`);
    }
    return passphraseFile;
  }
  requireHome({ home }, { create: true });
  fs.chmodSync(home, 0o700);
  // Kept if a first run stopped between the two writes, so the vault and the file always match.
  if (!fs.existsSync(passphraseFile)) {
    writeFileAtomic(passphraseFile, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
  }
  io.stdout.write(`First run: a new development vault in ${home} (passphrase in ${passphraseFile}, mode 0600).\n`);
  // Exactly `alknet init`: it prints the recovery phrase once, with its warning.
  const code = await main(['--home', home, '--passphrase-file', passphraseFile, 'init'], { ...io, env: withoutPassphrase(io.env) });
  if (code !== 0) throw new CliError(`could not create the development vault in ${home}`);
  return passphraseFile;
}

/** The dev node reads its passphrase from its own file, never from a passphrase left in the environment. */
function withoutPassphrase(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = { ...env };
  delete copy.ALKNET_PASSPHRASE;
  return copy;
}

function howToReach(node: RunningNode, home: string): string {
  const addr = `${node.nodeId}@${node.address}`;
  // The command as typed from this checkout (`npm link` makes it plain `alknet`).
  // This file runs from cli/ (tsx) or from dist/cli/ (cli/start.js): bin.js is in cli/ either way.
  const here = path.dirname(fileURLToPath(import.meta.url));
  const bin = [path.join(here, 'bin.js'), path.join(here, '..', '..', 'cli', 'bin.js')].find((f) => fs.existsSync(f)) ?? 'cli/bin.js';
  const alknet = `node ${path.relative(process.cwd(), bin) || 'cli/bin.js'}`;
  return [
    '',
    `alknet dev node ${node.nodeId}`,
    `  listening on ${node.address} (QUIC/UDP and TLS/TCP), ALPNs: ${node.alpns.join(', ')}`,
    `  home ${home}`,
    '',
    'Reach it from another terminal:',
    `  ${alknet} call ${addr} node/info`,
    `  ${alknet} ops ${addr}`,
    `  ${alknet} connect ${addr} --alpn ALPN     (stdin/stdout <-> one stream)`,
    `  ${alknet} --home ${home} call ${addr} node/actors`,
    '      (from its home, through the node\'s agent socket: as the node itself, which holds every scope)',
    '',
    'Stop it with Ctrl-C.',
    '',
  ].join('\n');
}

export async function devStart(io: Io): Promise<number> {
  const home = path.resolve(io.env.ALKNET_DEV_HOME || DEV_HOME);
  const listen = io.env.ALKNET_DEV_LISTEN || DEV_LISTEN;
  try {
    const passphraseFile = await ensureDevVault(home, io);
    const ctx: CommandContext = { ...io, env: withoutPassphrase(io.env), argv: ['--listen', listen], home, json: false, passphraseFile };
    return await runNode(ctx, (node) => io.stdout.write(howToReach(node, home)));
  } catch (err) {
    // The same one-line errors as `alknet`.
    io.stderr.write(`alknet: ${err instanceof Error ? err.message : String(err)}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === new URL(import.meta.url).pathname) {
  process.exitCode = await devStart({ stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env });
}
