// What a client command (call, ops, connect) shows and trusts when it dials another node.
//
// The key it shows: this home's node key when the vault can be unlocked without a prompt
// (ALKNET_PASSPHRASE or --passphrase-file); otherwise none, and the command connects anonymously
// (QUIC then shows a throwaway key) after saying so on stderr when a vault was there but locked.
//
// Where it remembers keys: a bare HOST:PORT is trust on first use, recorded in HOME/known_nodes.
// Client commands never create a home, so without one only a pinned NODEID@HOST:PORT is dialled.
import path from 'node:path';
import { CliError, UsageError, type CommandContext } from './command.ts';
import type { NodeKeyPair } from '../actors/listener/tlsIdentity.ts';
import type { ParsedAddress } from '../actors/listener/dial.ts';
import { homeExists } from './home.ts';
import { firstLine } from './passphrase.ts';

export async function optionalIdentity(ctx: CommandContext, doing = 'connecting'): Promise<NodeKeyPair | undefined> {
  const { identity, locked } = await unlockIdentity(ctx);
  if (locked) announceAnonymous(ctx, doing);
  return identity;
}

/** The line a client command prints when it goes anonymously for want of a passphrase. */
export function announceAnonymous(ctx: CommandContext, doing: string): void {
  ctx.stderr.write(`alknet: ${doing} anonymously: the vault in ${ctx.home} is locked (set ALKNET_PASSPHRASE or --passphrase-file F)\n`);
}

/**
 * The node key of this home, unlocked without a prompt; `locked` when a vault is there but no
 * passphrase was given (the caller says so). Prints nothing.
 */
export async function unlockIdentity(ctx: CommandContext): Promise<{ identity?: NodeKeyPair; locked: boolean }> {
  if (!homeExists(ctx)) return { locked: false };
  const { vaultExists, openVaultFile } = await import('../actors/vault/vaultFile.ts');
  if (!vaultExists(ctx.home)) return { locked: false };
  const fromEnv = ctx.env.ALKNET_PASSPHRASE;
  const passphrase = fromEnv !== undefined && fromEnv.length > 0 ? fromEnv
    : ctx.passphraseFile !== undefined ? firstLine(ctx.passphraseFile, '--passphrase-file') : undefined;
  if (passphrase === undefined) return { locked: true };
  const { VaultError } = await import('../actors/vault/errors.ts');
  let secret;
  try {
    secret = await openVaultFile(ctx.home, passphrase);
  } catch (err) {
    if (err instanceof VaultError) throw new CliError(err.message);
    throw err;
  }
  const { nodeKeys } = await import('../actors/vault/keys.ts');
  try {
    const keys = nodeKeys(secret.seed);
    return { identity: { publicKey: keys.identity.publicKey, privateKey: keys.identity.privateKey }, locked: false };
  } finally {
    secret.wipe();
  }
}

/** `[NODEID@]HOST:PORT` from the command line; a malformed one is a usage error (exit 2). */
export async function addressArg(text: string): Promise<ParsedAddress> {
  const { parseAddress } = await import('../actors/listener/dial.ts');
  try {
    return parseAddress(text);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/**
 * HOME/known_nodes for trust on first use. A bare HOST:PORT without a home is refused here, with
 * what to do, rather than creating a home or failing after the handshake.
 */
export function knownNodesPath(ctx: CommandContext, address: ParsedAddress): string {
  if (address.nodeId === undefined && !homeExists(ctx)) {
    const where = `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
    throw new CliError(`${where} has no node id and there is no home at ${ctx.home} to remember its key in: ` +
      `give NODEID@${where}, or run "alknet init" to create the home`);
  }
  return path.join(ctx.home, 'known_nodes');
}
