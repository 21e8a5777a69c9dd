// The shape every `alknet` subcommand has. A command file exports `commands: Command[]`;
// cli/main.ts lists the files. Errors a user can fix are thrown as UsageError (exit 2) or
// CliError (exit 1) and printed as one line, never as a stack trace.
//
// A command's run() parses its flags with parseCommandArgs (cli/args.ts) before it does anything
// else: that is also where `--help`/`-h` stops it (HelpRequest) so the dispatcher prints its usage.
import type { Readable, Writable } from 'node:stream';
import type { ParseArgsConfig } from 'node:util';

export interface CommandContext {
  /** Arguments after the command's own name, with the global flags removed. */
  argv: string[];
  /** The node's home folder: --home, else $ALKNET_HOME, else ~/.alknet. */
  home: string;
  /** Global --json: print data as JSON. */
  json: boolean;
  /** Global --passphrase-file, if given. */
  passphraseFile?: string;
  env: NodeJS.ProcessEnv;
  stdin: Readable & { isTTY?: boolean };
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
}

export interface Command {
  /** Words that select the command, e.g. "vault derive". */
  name: string;
  /** One line for `alknet help`. */
  summary: string;
  /** Usage line shown on a usage error, e.g. "alknet vault derive PATH [--json]". */
  usage: string;
  /** Returns the exit code (default 0). */
  run(ctx: CommandContext): Promise<number | void>;
}

/** Wrong arguments: exit 2 with this one line plus the usage line. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The command could not do its job: exit 1 with this one line. */
export class CliError extends Error {
  override name = 'CliError';
}

/** `--help`/`-h` was given: not an error; the dispatcher prints the command's usage and these flags (exit 0). */
export class HelpRequest extends Error {
  override name = 'HelpRequest';
  constructor(readonly flags: NonNullable<ParseArgsConfig['options']>) {
    super('help requested');
  }
}
