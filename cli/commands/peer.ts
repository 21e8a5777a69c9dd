// `alknet peer add|ls|rm`: the node ids allowed to call scoped operations, kept in peers.toml.
// A running node re-reads the file on its next call, so no restart is needed.
import { isNodeId } from '../../actors/vault/nodeId.ts';
import { addPeer, listPeers, PeersFileError, peersPath, removePeer } from '../../actors/peers/peersFile.ts';
import { isScope } from '../../actors/peers/scopes.ts';
import { CliError, UsageError, type Command, type CommandContext } from '../command.ts';
import { describe } from './index.ts';
import { parseCommandArgs, type FlagSpec } from '../args.ts';
import { requireHome } from '../home.ts';

function args(ctx: CommandContext, options: FlagSpec, positionals: number) {
  const parsed = parseCommandArgs(ctx, { ...options, json: { type: 'boolean' } }, { min: positionals });
  return { values: parsed.values as Record<string, string | boolean | undefined>, positionals: parsed.positionals, json: ctx.json || parsed.values.json === true };
}

function nodeIdArg(text: string): string {
  if (!isNodeId(text)) throw new UsageError(`"${text}" is not a node id (52 z-base-32 characters)`);
  return text;
}

/** Runs a peers.toml change, turning a malformed file into a one-line failure. */
function withPeersFile<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof PeersFileError) throw new CliError(err.message);
    throw err;
  }
}

const add: Command = {
  ...describe('peer add'),
  async run(ctx) {
    const { values, positionals, json } = args(ctx, { scopes: { type: 'string' }, disabled: { type: 'boolean' } }, 1);
    const nodeId = nodeIdArg(positionals[0]!);
    const scopes = typeof values.scopes === 'string' ? values.scopes.split(',').map((s) => s.trim()).filter((s) => s !== '') : [];
    for (const s of scopes) if (!isScope(s)) throw new UsageError(`"${s}" is not a scope (like "tensor" or "git:write")`);
    requireHome(ctx, { create: true });
    const entry = withPeersFile(() => addPeer(ctx.home, nodeId, { scopes, enabled: values.disabled !== true }));
    if (json) ctx.stdout.write(`${JSON.stringify(entry)}\n`);
    else ctx.stdout.write(`peer ${entry.nodeId} ${entry.enabled ? 'enabled' : 'disabled'}, scopes: ${entry.scopes.join(', ') || '(none)'}\n`);
  },
};

const ls: Command = {
  ...describe('peer ls'),
  async run(ctx) {
    const { json } = args(ctx, {}, 0);
    requireHome(ctx, { create: false });
    const peers = withPeersFile(() => listPeers(ctx.home));
    if (json) {
      ctx.stdout.write(`${JSON.stringify(peers)}\n`);
      return;
    }
    if (peers.length === 0) {
      ctx.stdout.write(`no peers in ${peersPath(ctx.home)}\n`);
      return;
    }
    for (const p of peers) ctx.stdout.write(`${p.nodeId}  ${p.enabled ? 'enabled ' : 'disabled'}  ${p.scopes.join(',') || '-'}\n`);
  },
};

const rm: Command = {
  ...describe('peer rm'),
  async run(ctx) {
    const { positionals, json } = args(ctx, {}, 1);
    const nodeId = nodeIdArg(positionals[0]!);
    requireHome(ctx, { create: false, writable: true });
    if (!withPeersFile(() => removePeer(ctx.home, nodeId))) throw new CliError(`${nodeId} is not in ${peersPath(ctx.home)}`);
    ctx.stdout.write(json ? `${JSON.stringify({ removed: nodeId })}\n` : `removed ${nodeId}\n`);
  },
};

export const commands: Command[] = [add, ls, rm];
