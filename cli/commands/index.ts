// Every command, as data: its words, one-line summary and usage line, and the file that implements
// it. `alknet help`, a group's listing and the dispatcher read only this table; the dispatcher then
// imports the one file of the command it runs, so `alknet --help` loads no implementation and
// `alknet call` loads neither LMDB nor WebGPU nor the vault's key derivation. A command file takes
// its name, summary and usage from here (`describe`), so the two cannot disagree.
// Adding a command = one row here + its `run` in the file the row names.
import type { Command } from '../command.ts';

/** The files that implement commands; each exports `commands: Command[]`. */
const FILES = {
  vault: async () => (await import('./vault.ts')).commands,
  node: async () => (await import('./node.ts')).commands,
  peer: async () => (await import('./peer.ts')).commands,
  blob: async () => (await import('./blob.ts')).commands,
  call: async () => (await import('./call.ts')).commands,
  socks: async () => (await import('./socks.ts')).commands,
  git: async () => (await import('./git.ts')).commands,
  pkarr: async () => (await import('./pkarr.ts')).commands,
  dns: async () => (await import('./dns.ts')).commands,
} as const;

export type CommandFile = keyof typeof FILES;

export interface CommandInfo {
  /** Words that select the command, e.g. "vault derive". */
  name: string;
  /** One line for `alknet help`. */
  summary: string;
  /** Usage line shown on a usage error and by --help. */
  usage: string;
  file: CommandFile;
}

export const COMMANDS: readonly CommandInfo[] = [
  { file: 'vault', name: 'init', summary: 'create the vault (prints a new mnemonic once) or restore it from a mnemonic on stdin', usage: 'alknet init [--recover] [--words 12|24] [--bip39-passphrase-file F]' },
  { file: 'vault', name: 'id', summary: "this node's id, public key and listen address", usage: 'alknet id [--json]' },
  { file: 'vault', name: 'vault derive', summary: "the Ed25519 public key at a hardened SLIP-0010 path, e.g. m/74'/0'/0'/0'", usage: 'alknet vault derive PATH [--json]' },
  { file: 'vault', name: 'vault passwd', summary: 'change the vault passphrase (keys stay the same)', usage: 'alknet vault passwd [--new-passphrase-file F]' },
  { file: 'node', name: 'node', summary: 'run the node until SIGINT/SIGTERM', usage: 'alknet node [--listen HOST:PORT] [--dns HOST:PORT] [--ready-file F] [--inspect[=PORT]]' },
  { file: 'node', name: 'connect', summary: 'pipe stdin/stdout to one stream (for ssh ProxyCommand, GIT_PROXY_COMMAND)', usage: 'alknet connect ADDR|NODEID --alpn ALPN [--tls|--quic] [-v]' },
  { file: 'peer', name: 'peer add', summary: 'allow a node to call operations needing these scopes', usage: 'alknet peer add NODEID [--scopes a,b,...] [--disabled] [--json]' },
  { file: 'peer', name: 'peer ls', summary: 'list the peers and their scopes', usage: 'alknet peer ls [--json]' },
  { file: 'peer', name: 'peer rm', summary: 'remove a peer', usage: 'alknet peer rm NODEID' },
  { file: 'blob', name: 'blob add', summary: 'add a file or a folder (as a collection) to the local blob store; prints its hash', usage: 'alknet blob add FILE|DIR [--tag NAME] [--json]' },
  { file: 'blob', name: 'blob ls', summary: 'list the blobs in the local store (hash, size, complete, tags)', usage: 'alknet blob ls [--json]' },
  { file: 'blob', name: 'blob get', summary: 'write a blob to a file (a collection to a folder) or stdout; --from fetches it (verified, resumable) first', usage: 'alknet blob get HASH [--from ADDR]... [--transport auto|tls|quic] [-v] [-o PATH] [-f|--force]' },
  { file: 'blob', name: 'blob tag', summary: 'name a blob so gc keeps it', usage: 'alknet blob tag NAME HASH' },
  { file: 'blob', name: 'blob untag', summary: 'remove a tag', usage: 'alknet blob untag NAME' },
  { file: 'blob', name: 'blob rm', summary: 'delete a blob and the tags naming it', usage: 'alknet blob rm HASH' },
  { file: 'blob', name: 'blob gc', summary: 'remove blobs that no tag pins (children of tagged collections are kept)', usage: 'alknet blob gc [--json]' },
  { file: 'call', name: 'call', summary: 'call one operation; prints its JSON output (through the node of this home when it runs)', usage: 'alknet call ADDR OPERATION [JSON|-] [--subscribe] [--tls] [--token T] [--timeout MS]' },
  { file: 'call', name: 'ops', summary: 'the operations a node serves', usage: 'alknet ops ADDR [--json] [--tls] [--token T] [--timeout MS]' },
  { file: 'call', name: 'token create', summary: 'a new HTTP/call bearer token (shown once, stored hashed)', usage: 'alknet token create --scopes a,b [--name NAME] [--expires DURATION|DATE] [--json]' },
  { file: 'call', name: 'token ls', summary: 'the tokens (names and scopes, never the tokens)', usage: 'alknet token ls [--json]' },
  { file: 'call', name: 'token rm', summary: 'revoke a token', usage: 'alknet token rm NAME' },
  { file: 'socks', name: 'socks', summary: "a local SOCKS5 server whose connections leave through a node's SSH", usage: 'alknet socks [--listen HOST:PORT] [--user NAME] [--tls|--quic] [-v] ADDR' },
  { file: 'git', name: 'git init', summary: 'create a bare repository this node serves (clone and push with the stock git CLI)', usage: 'alknet git init NAME [--allow-force] [--json]' },
  { file: 'git', name: 'git ls', summary: 'the repositories this node serves', usage: 'alknet git ls [--json]' },
  { file: 'pkarr', name: 'pkarr publish', summary: "sign and publish this node's _alknet TXT and A/AAAA records (store, DHT, relays)", usage: 'alknet pkarr publish [--address HOST:PORT]... [--relay URL|NODEID@HOST:PORT]... [--json]' },
  { file: 'pkarr', name: 'pkarr resolve', summary: "a node's signed records: the local store, the DHT, relays (--relay asks that one)", usage: 'alknet pkarr resolve NODEID [--relay URL|NODEID@HOST:PORT]... [--json]' },
  { file: 'dns', name: 'dns resolve', summary: 'ask a DNS server (plain UDP/TCP, or DoQ with NODEID@HOST:PORT) one question; prints the records', usage: 'alknet dns resolve NAME [--server HOST[:PORT]|NODEID@HOST:PORT] [--type TYPE] [--tcp] [--timeout MS] [--json]' },
];

/** A command's name, summary and usage from the table (for the command files). */
export function describe(name: string): Pick<CommandInfo, 'name' | 'summary' | 'usage'> {
  const info = COMMANDS.find((c) => c.name === name);
  if (!info) throw new Error(`cli/commands/index.ts has no row for the command "${name}"`);
  return { name: info.name, summary: info.summary, usage: info.usage };
}

/** Imports the file of one command and returns its implementation. */
export async function loadCommand(info: CommandInfo): Promise<Command> {
  const command = (await FILES[info.file]()).find((c) => c.name === info.name);
  if (!command) throw new Error(`cli/commands/${info.file}.ts does not implement "${info.name}"`);
  return command;
}

/** Every implemented command (tests compare them with the table). */
export async function loadAll(): Promise<Command[]> {
  return (await Promise.all(Object.values(FILES).map((load) => load()))).flat();
}
