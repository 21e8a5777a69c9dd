// `alknet init`, `alknet id`, `alknet vault derive`, `alknet vault passwd`: the vault's user surface.
import { CliError, UsageError, type Command, type CommandContext } from '../command.ts';
import { loadConfig } from '../../supervisors/config.ts';
import { describe } from './index.ts';
import { parseCommandArgs, type FlagSpec } from '../args.ts';
import { requireHome } from '../home.ts';
import { firstLine, readMnemonicInput, readNewPassphrase, readPassphrase } from '../passphrase.ts';
import { VaultError } from '../../actors/vault/errors.ts';
import { checkMnemonic, deriveEd25519, formatPath, hardenedPath, mnemonicToSeed, nodeKeys, wipeKey } from '../../actors/vault/keys.ts';
import { changeVaultPassphrase, createVaultFile, openVaultFile, vaultExists, vaultPath, type VaultSecret } from '../../actors/vault/vaultFile.ts';

/** At most `positionals` positional arguments (a missing one is reported by the command itself). */
function flags<O extends FlagSpec>(ctx: CommandContext, options: O, positionals: number) {
  return parseCommandArgs(ctx, options, { min: 0, max: positionals });
}

/** A VaultError is a one-line failure the user can act on (exit 1). */
async function vaultCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof VaultError) throw new CliError(err.message);
    throw err;
  }
}

async function unlock(ctx: CommandContext): Promise<VaultSecret> {
  requireHome(ctx, { create: false });
  if (!vaultExists(ctx.home)) throw new CliError(`no vault at ${vaultPath(ctx.home)}: create one with "alknet init" (or "alknet init --recover")`);
  const passphrase = await readPassphrase(ctx);
  return vaultCall(() => openVaultFile(ctx.home, passphrase));
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

function printJson(ctx: CommandContext, value: unknown): void {
  ctx.stdout.write(JSON.stringify(value) + '\n');
}

const init: Command = {
  ...describe('init'),
  async run(ctx) {
    const { values } = flags(ctx, { recover: { type: 'boolean' }, words: { type: 'string' }, 'bip39-passphrase-file': { type: 'string' } }, 0);
    if (values.words !== undefined && values.words !== '12' && values.words !== '24') throw new UsageError('--words is 12 or 24');
    if (values.words !== undefined && values.recover) throw new UsageError('--words applies to a new mnemonic, not to --recover');
    if (vaultExists(ctx.home)) {
      throw new CliError(`a vault already exists at ${vaultPath(ctx.home)}: it was not changed (move it away first to create a new one)`);
    }
    requireHome(ctx, { create: true });
    let mnemonic: string | undefined;
    if (values.recover) {
      const input = await readMnemonicInput(ctx);
      try {
        mnemonic = checkMnemonic(input);
      } catch (err) {
        if (err instanceof VaultError) throw new CliError(`cannot restore: ${err.message}`);
        throw err;
      }
    }
    const bip39File = values['bip39-passphrase-file'];
    // The optional BIP39 passphrase ("25th word") of a mnemonic made elsewhere; part of the key derivation.
    const bip39Passphrase = bip39File ? firstLine(bip39File, '--bip39-passphrase-file') : '';
    const passphrase = await readPassphrase(ctx, { confirm: true, prompt: 'New vault passphrase: ' });
    const created = await vaultCall(() =>
      createVaultFile(ctx.home, { passphrase, mnemonic, bip39Passphrase, words: values.words === '12' ? 12 : 24 }),
    );
    const keys = nodeKeys(mnemonicToSeed(created.mnemonic, bip39Passphrase));
    const info = { nodeId: keys.nodeId, publicKey: hex(keys.identity.publicKey), fingerprint: keys.fingerprint, vault: created.file };
    const warning =
      'Write these words down and keep them offline. They are shown only this once, and they are the only way to restore this node\'s keys.';
    if (ctx.json) {
      if (!values.recover) ctx.stderr.write(`alknet: ${warning}\n`);
      printJson(ctx, values.recover ? info : { ...info, mnemonic: created.mnemonic });
      return 0;
    }
    if (!values.recover) {
      const count = created.mnemonic.split(' ').length;
      ctx.stdout.write(`Recovery phrase (${count} words):\n\n    ${created.mnemonic}\n\n${warning}\n\n`);
    }
    ctx.stdout.write(`${values.recover ? 'Restored' : 'Created'} ${info.vault}\nnode id:     ${info.nodeId}\nfingerprint: ${info.fingerprint}\n`);
    return 0;
  },
};

const id: Command = {
  ...describe('id'),
  async run(ctx) {
    flags(ctx, {}, 0);
    requireHome(ctx, { create: false });
    const listen = loadConfig(ctx.home).listen;
    const secret = await unlock(ctx);
    const keys = nodeKeys(secret.seed);
    secret.wipe();
    const info = { nodeId: keys.nodeId, publicKey: hex(keys.identity.publicKey), fingerprint: keys.fingerprint, listen };
    for (const k of [keys.identity, keys.sshHost]) wipeKey(k);
    keys.messaging.privateKey.fill(0);
    if (ctx.json) printJson(ctx, info);
    else ctx.stdout.write(`node id:     ${info.nodeId}\npublic key:  ${info.publicKey}\nfingerprint: ${info.fingerprint}\nlisten:      ${info.listen} (QUIC/UDP and TLS/TCP)\n`);
    return 0;
  },
};

const derive: Command = {
  ...describe('vault derive'),
  async run(ctx) {
    const { positionals } = flags(ctx, {}, 1);
    if (positionals.length !== 1) throw new UsageError('give one derivation path, e.g. "m/74\'/0\'/0\'/0\'"');
    let path: string;
    try {
      path = formatPath(hardenedPath(positionals[0]!));
    } catch (err) {
      if (err instanceof VaultError) throw new UsageError(err.message);
      throw err;
    }
    const secret = await unlock(ctx);
    const key = deriveEd25519(secret.seed, path);
    secret.wipe();
    wipeKey(key);
    if (ctx.json) printJson(ctx, { path, publicKey: hex(key.publicKey) });
    else ctx.stdout.write(`${path} ${hex(key.publicKey)}\n`);
    return 0;
  },
};

const passwd: Command = {
  ...describe('vault passwd'),
  async run(ctx) {
    const { values } = flags(ctx, { 'new-passphrase-file': { type: 'string' } }, 0);
    requireHome(ctx, { create: false, writable: true });
    if (!vaultExists(ctx.home)) throw new CliError(`no vault at ${vaultPath(ctx.home)}: create one with "alknet init"`);
    const current = await readPassphrase(ctx, { prompt: 'Current vault passphrase: ' });
    const next = await readNewPassphrase(ctx, values['new-passphrase-file']);
    await vaultCall(() => changeVaultPassphrase(ctx.home, current, next));
    if (ctx.json) printJson(ctx, { changed: true, vault: vaultPath(ctx.home) });
    else ctx.stdout.write(`vault passphrase changed (${vaultPath(ctx.home)}); every key is unchanged\n`);
    return 0;
  },
};

export const commands: Command[] = [init, id, derive, passwd];
