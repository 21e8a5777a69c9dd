// Per-command flags with node:util's parseArgs, turning its errors into one-line usage errors and
// checking how many positional arguments a command takes. `--help`/`-h` is answered here, once for
// every command: it throws HelpRequest before any other check, so `alknet blob get --help` works
// without a HASH.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { HelpRequest, UsageError, type CommandContext } from './command.ts';

export type FlagSpec = NonNullable<ParseArgsConfig['options']>;

/** True when argv asks for help: `--help`, or `-h` unless the command uses -h itself. Stops at `--`. */
export function asksForHelp(argv: readonly string[], options: FlagSpec = {}): boolean {
  const hTaken = Object.values(options).some((o) => o.short === 'h');
  for (const a of argv) {
    if (a === '--') return false;
    if (a === '--help' || (a === '-h' && !hTaken)) return true;
  }
  return false;
}

/** The flags of a spec, one per line, for `--help`: `  -o, --output VALUE  (repeatable)`. */
export function describeFlags(options: FlagSpec): string[] {
  const rows = Object.entries(options).map(([name, o]) => {
    const left = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ' VALUE' : ''}`;
    return o.multiple ? `${left}  (repeatable)` : left;
  });
  return rows.map((r) => `  ${r}`);
}

export function parseCommandArgs<O extends FlagSpec>(ctx: Pick<CommandContext, 'argv'>, options: O, positionals: { min?: number; max?: number } = {}) {
  if (asksForHelp(ctx.argv, options)) throw new HelpRequest(options);
  let parsed;
  try {
    parsed = parseArgs({ args: ctx.argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0]!);
  }
  const { min = 0, max = min } = positionals;
  const n = parsed.positionals.length;
  if (n > max) throw new UsageError(`unexpected argument "${parsed.positionals[max]}"`);
  if (n < min) throw new UsageError(min === max ? `expects ${min} argument(s), got ${n}` : `expects ${min} to ${max} arguments, got ${n}`);
  return parsed;
}
