// The key a client command shows to the node it dials: this home's node key when the vault can be
// unlocked without a prompt (ALKNET_PASSPHRASE or --passphrase-file); otherwise none, and the
// command connects anonymously (QUIC then shows a throwaway key).
import fs from 'node:fs';
import type { CommandContext } from './command.ts';
import type { NodeKeyPair } from '../actors/listener/tlsIdentity.ts';

export async function optionalIdentity(ctx: CommandContext): Promise<NodeKeyPair | undefined> {
  const { vaultExists, openVaultFile } = await import('../actors/vault/vaultFile.ts');
  if (!vaultExists(ctx.home)) return undefined;
  let passphrase: string | undefined = ctx.env.ALKNET_PASSPHRASE;
  if (passphrase === undefined && ctx.passphraseFile) passphrase = fs.readFileSync(ctx.passphraseFile, 'utf8').split('\n')[0];
  if (passphrase === undefined) return undefined;
  const { nodeKeys } = await import('../actors/vault/keys.ts');
  const secret = await openVaultFile(ctx.home, passphrase);
  try {
    const keys = nodeKeys(secret.seed);
    return { publicKey: keys.identity.publicKey, privateKey: keys.identity.privateKey };
  } finally {
    secret.wipe();
  }
}
