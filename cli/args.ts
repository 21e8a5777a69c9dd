// Per-command flags with node:util's parseArgs, turning its errors into one-line usage errors and
// checking how many positional arguments a command takes.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError, type CommandContext } from './command.ts';

export type FlagSpec = NonNullable<ParseArgsConfig['options']>;

export function parseCommandArgs<O extends FlagSpec>(ctx: Pick<CommandContext, 'argv'>, options: O, positionals: { min?: number; max?: number } = {}) {
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
