// Every command file. Each is imported when the CLI starts, so a command file imports heavy modules
// (the QUIC stack, LMDB) only inside its run(). Adding a command group = one line here.
import type { Command } from '../command.ts';

type CommandFile = () => Promise<Command[]>;

export const commandFiles: CommandFile[] = [
  async () => (await import('./vault.ts')).commands, // init, id, vault derive, vault passwd
  async () => (await import('./node.ts')).commands, // node, connect
  async () => (await import('./peer.ts')).commands, // peer add|ls|rm
  async () => (await import('./blob.ts')).commands, // blob add|ls|get|tag|untag|rm|gc
  async () => (await import('./call.ts')).commands, // call, ops, token create|ls|rm
];
