// Every command file. Each is imported on demand, so a command file may import heavy modules
// (the QUIC stack) only inside its run().
// Adding a command group = one line here.
import type { Command } from '../command.ts';

type CommandFile = () => Promise<Command[]>;

export const commandFiles: CommandFile[] = [
  async () => (await import('./vault.ts')).commands, // init, id, vault derive, vault passwd
];
