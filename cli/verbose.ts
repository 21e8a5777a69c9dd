// `-v` on client commands: the transport's info lines (which path was used, fallbacks) on stderr,
// one line each.
import type { CommandContext } from './command.ts';
import type { TransportLogger } from '../actors/listener/logger.ts';

export function verboseLogger(ctx: Pick<CommandContext, 'stderr'>): TransportLogger {
  const line = (level: string) => (obj: object, msg?: string) => void ctx.stderr.write(`alknet: ${msg ?? level} ${JSON.stringify(obj)}\n`);
  return { debug: () => {}, info: line('info'), warn: line('warn'), error: line('error') };
}
