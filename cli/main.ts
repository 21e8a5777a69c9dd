// `alknet` entry: global flags, command lookup, one-line errors and exit codes (0 ok, 1 failure, 2 usage).
import os from 'node:os';
import path from 'node:path';
import { CliError, UsageError, type Command, type CommandContext } from './command.ts';
import { commandFiles } from './commands/index.ts';
import { ConfigError } from '../supervisors/config.ts';

const GLOBAL_USAGE = 'alknet [--home DIR] [--json] [--passphrase-file F] COMMAND ...';

export function defaultHome(env: NodeJS.ProcessEnv): string {
  return env.ALKNET_HOME && env.ALKNET_HOME.length > 0 ? path.resolve(env.ALKNET_HOME) : path.join(os.homedir(), '.alknet');
}

interface Globals {
  rest: string[];
  home?: string;
  json: boolean;
  passphraseFile?: string;
}

/** Removes the global flags wherever they stand, so `alknet id --json` and `alknet --json id` agree. */
export function splitGlobals(argv: string[]): Globals {
  const out: Globals = { rest: [], json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const takeValue = (flag: string): string => {
      if (a.startsWith(flag + '=')) return a.slice(flag.length + 1);
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    if (a === '--') {
      out.rest.push(...argv.slice(i));
      break;
    } else if (a === '--json') out.json = true;
    else if (a === '--home' || a.startsWith('--home=')) out.home = path.resolve(takeValue('--home'));
    else if (a === '--passphrase-file' || a.startsWith('--passphrase-file=')) out.passphraseFile = takeValue('--passphrase-file');
    else out.rest.push(a);
  }
  return out;
}

function findCommand(all: Command[], words: string[]): { command: Command; argv: string[] } | undefined {
  let best: { command: Command; argv: string[] } | undefined;
  for (const command of all) {
    const name = command.name.split(' ');
    if (name.every((w, i) => words[i] === w) && (!best || name.length > best.command.name.split(' ').length)) {
      best = { command, argv: words.slice(name.length) };
    }
  }
  return best;
}

function helpText(all: Command[]): string {
  const width = Math.max(...all.map((c) => c.usage.length));
  return [`usage: ${GLOBAL_USAGE}`, '', ...all.map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}`)].join('\n') + '\n';
}

export async function main(argv: string[], io: Pick<CommandContext, 'stdin' | 'stdout' | 'stderr' | 'env'>): Promise<number> {
  const all = (await Promise.all(commandFiles.map((load) => load()))).flat();
  let command: Command | undefined;
  try {
    const globals = splitGlobals(argv);
    if (globals.rest.length === 0 || ['help', '--help', '-h'].includes(globals.rest[0]!)) {
      io.stdout.write(helpText(all));
      return globals.rest.length === 0 ? 2 : 0;
    }
    const found = findCommand(all, globals.rest);
    if (!found) throw new UsageError(`unknown command "${globals.rest.join(' ')}"; run "alknet help" for the list`);
    command = found.command;
    const ctx: CommandContext = {
      ...io,
      argv: found.argv,
      home: globals.home ?? defaultHome(io.env),
      json: globals.json,
      passphraseFile: globals.passphraseFile,
    };
    return (await command.run(ctx)) ?? 0;
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`alknet: ${err.message}\n${command ? `usage: ${command.usage}\n` : ''}`);
      return 2;
    }
    if (err instanceof CliError || err instanceof ConfigError) {
      io.stderr.write(`alknet: ${err.message}\n`);
      return 1;
    }
    // Anything else is a bug or an environment failure: still one line, the stack only on request.
    const message = err instanceof Error ? err.message : String(err);
    io.stderr.write(`alknet: ${message}\n`);
    if (io.env.ALKNET_DEBUG) io.stderr.write(`${err instanceof Error ? err.stack : ''}\n`);
    return 1;
  }
}
