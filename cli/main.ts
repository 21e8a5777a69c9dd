// `alknet` entry: global flags, command lookup, one-line errors and exit codes (0 ok, 1 failure, 2 usage).
// Help lives here once for every command: `alknet help [COMMAND]`, `COMMAND --help`/`-h` (stdout, exit 0),
// and a command group without its subcommand (`alknet blob`) lists the group (stderr, exit 2).
// Everything up to choosing the command reads the table in commands/index.ts; only the chosen
// command's file is imported (help and usage errors import none).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CliError, HelpRequest, UsageError, type Command, type CommandContext } from './command.ts';
import { asksForHelp, describeFlags } from './args.ts';
import { COMMANDS, loadCommand, type CommandInfo } from './commands/index.ts';

const GLOBAL_USAGE = 'alknet [--home DIR] [--json] [--passphrase-file F] COMMAND ...';
const GLOBAL_FLAGS = [
  '  --home DIR             the node\'s folder (default $ALKNET_HOME, else ~/.alknet)',
  '  --json                 print data as JSON where a command prints data',
  '  --passphrase-file F    unlock the vault with the first line of F (or set ALKNET_PASSPHRASE)',
  '  -h, --help             this help; COMMAND --help for one command\'s flags',
  '  -V, --version          the version of alknet',
];

type Io = Pick<CommandContext, 'stdin' | 'stdout' | 'stderr' | 'env'>;

export function defaultHome(env: NodeJS.ProcessEnv): string {
  return env.ALKNET_HOME && env.ALKNET_HOME.length > 0 ? path.resolve(env.ALKNET_HOME) : path.join(os.homedir(), '.alknet');
}

/** The version in package.json (the one `node/info` reports too). */
export function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
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
      const v = a.startsWith(flag + '=') ? a.slice(flag.length + 1) : argv[++i];
      if (v === undefined || v.startsWith('--')) throw new UsageError(`${flag} needs a value`);
      if (v === '') throw new UsageError(`${flag} must not be empty`);
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

function findCommand(all: readonly CommandInfo[], words: string[]): { command: CommandInfo; argv: string[] } | undefined {
  let best: { command: CommandInfo; argv: string[] } | undefined;
  for (const command of all) {
    const name = command.name.split(' ');
    if (name.every((w, i) => words[i] === w) && (!best || name.length > best.command.name.split(' ').length)) {
      best = { command, argv: words.slice(name.length) };
    }
  }
  return best;
}

/** The commands of a group (`blob` → blob add, blob ls, ...); empty when `word` is no group. */
function groupMembers(all: readonly CommandInfo[], word: string): CommandInfo[] {
  return all.filter((c) => c.name.startsWith(`${word} `));
}

function table(commands: readonly CommandInfo[]): string[] {
  const width = Math.max(...commands.map((c) => c.usage.length));
  return commands.map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}`);
}

function helpText(all: readonly CommandInfo[]): string {
  return [`usage: ${GLOBAL_USAGE}`, '', 'commands:', ...table(all), '', 'global flags:', ...GLOBAL_FLAGS].join('\n') + '\n';
}

function commandHelp(command: Command, flags: HelpRequest['flags']): string {
  const lines = [`usage: ${command.usage}`, '', command.summary];
  const described = describeFlags(flags);
  if (described.length > 0) lines.push('', 'flags:', ...described);
  lines.push('', `global flags: --home DIR, --json, --passphrase-file F (see "alknet help")`);
  return lines.join('\n') + '\n';
}

function groupHelp(group: string, members: readonly CommandInfo[]): string {
  return [`usage: alknet ${group} SUBCOMMAND ...`, '', `${group} subcommands:`, ...table(members)].join('\n') + '\n';
}

/** `alknet help X Y` reads as `alknet X Y --help`. */
function helpAsFlag(rest: string[]): string[] {
  return ['help', '--help', '-h'].includes(rest[0]!) && rest.length > 1 ? [...rest.slice(1), '--help'] : rest;
}

export async function main(argv: string[], io: Io): Promise<number> {
  const all = COMMANDS;
  let command: Command | undefined;
  let usage: string | undefined;
  try {
    const globals = splitGlobals(argv);
    if (globals.rest.length === 0) {
      io.stderr.write(helpText(all));
      return 2;
    }
    if (['--version', '-V'].includes(globals.rest[0]!)) {
      io.stdout.write(`alknet ${packageVersion()}\n`);
      return 0;
    }
    const rest = helpAsFlag(globals.rest);
    if (['help', '--help', '-h'].includes(rest[0]!)) {
      io.stdout.write(helpText(all));
      return 0;
    }
    const found = findCommand(all, rest);
    if (!found) {
      const members = groupMembers(all, rest[0]!);
      if (members.length === 0) throw new UsageError(`unknown command "${rest[0]}"; run "alknet help" for the list`);
      if (asksForHelp(rest.slice(1))) {
        io.stdout.write(groupHelp(rest[0]!, members));
        return 0;
      }
      const sub = rest[1];
      const why = sub === undefined || sub.startsWith('-') ? `"${rest[0]}" needs a subcommand` : `unknown subcommand "${rest[0]} ${sub}"`;
      io.stderr.write(`alknet: ${why}\n${groupHelp(rest[0]!, members)}`);
      return 2;
    }
    usage = found.command.usage;
    command = await loadCommand(found.command);
    const ctx: CommandContext = {
      ...io,
      argv: found.argv,
      home: globals.home ?? defaultHome(io.env),
      json: globals.json,
      passphraseFile: globals.passphraseFile,
    };
    return (await command.run(ctx)) ?? 0;
  } catch (err) {
    if (err instanceof HelpRequest && command) {
      io.stdout.write(commandHelp(command, err.flags));
      return 0;
    }
    if (err instanceof UsageError) {
      io.stderr.write(`alknet: ${err.message}\n${usage ? `usage: ${usage}\n` : ''}`);
      return 2;
    }
    // config.toml's errors (supervisors/config.ts, imported only by the commands that read it).
    if (err instanceof CliError || (err instanceof Error && err.name === 'ConfigError')) {
      io.stderr.write(`alknet: ${err.message}\n`);
      return 1;
    }
    // Anything else is a bug or an environment failure: still one line, the stack only on request.
    const message = err instanceof Error ? err.message : String(err);
    io.stderr.write(`alknet: ${message.split('\n')[0]}\n`);
    if (io.env.ALKNET_DEBUG) io.stderr.write(`${err instanceof Error ? err.stack : ''}\n`);
    return 1;
  }
}
