// Commands that run a service in their own process (blob, git): `fn` talks to it by message, the
// service is stopped afterwards whatever happens, and its coded errors (one line, no path) become
// the command's one-line failure.
import { CliError } from './command.ts';
import { BusError } from '../bus/errors.ts';

export async function withLocalServices<B, T>(local: { bus: B; stop(): Promise<void> }, fn: (bus: B) => Promise<T>): Promise<T> {
  try {
    return await fn(local.bus);
  } catch (err) {
    if (err instanceof BusError) throw new CliError(err.message);
    throw err;
  } finally {
    await local.stop();
  }
}
