import type { Command } from '../command.ts';
// Placeholder until the vault commands land (init, id, vault derive, vault passwd).
export const commands: Command[] = [];
