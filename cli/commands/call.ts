// `alknet call ADDR OPERATION [JSON]`, `alknet ops ADDR`, and `alknet token create|ls|rm`.
import { CliError, UsageError, type Command, type CommandContext } from '../command.ts';
import { addressArg, announceAnonymous, knownNodesPath, unlockIdentity } from '../identity.ts';
import { describe } from './index.ts';
import { parseCommandArgs } from '../args.ts';
import { homeExists, requireHome } from '../home.ts';

const CLIENT_FLAGS = {
  tls: { type: 'boolean' },
  token: { type: 'string' },
  timeout: { type: 'string' },
} as const;

/**
 * Connects within `timeoutMs` when given (the handshake honours --timeout: a node that does not
 * answer fails then, not after the dial's default 10 s).
 */
async function openClient(ctx: CommandContext, address: string, values: { tls?: boolean; token?: string }, timeoutMs: number | undefined) {
  const authToken = values.token ?? (ctx.env.ALKNET_TOKEN || undefined);
  // A node of this home runs: it makes the call with its own key (cli/agent.ts); no vault unlock here.
  if (homeExists(ctx)) {
    const { agentClient } = await import('../agent.ts');
    const viaAgent = await agentClient(ctx, {
      address,
      transport: values.tls ? 'tls' : 'quic',
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      ...(authToken ? { authToken } : {}),
    });
    if (viaAgent) return viaAgent;
  }
  // The unlock's scrypt runs on libuv's thread pool: start it first, so loading the QUIC client on
  // this thread overlaps it instead of following it.
  const unlocking = unlockIdentity(ctx);
  unlocking.catch(() => {}); // awaited below; a usage error first must not leave it unhandled
  const target = await addressArg(address);
  const known = knownNodesPath(ctx, target);
  const { connect } = await import('../../protocols/call/connect.ts');
  const { identity, locked } = await unlocking;
  if (locked) announceAnonymous(ctx, 'calling');
  try {
    return await connect(address, {
      transport: values.tls ? 'tls' : 'quic',
      knownNodesPath: known,
      ...(identity ? { identity } : {}),
      ...(authToken ? { authToken } : {}),
      ...(timeoutMs !== undefined ? { dialTimeoutMs: timeoutMs } : {}),
    });
  } catch (err) {
    throw new CliError(`cannot reach ${address}: ${(err as Error).message}`);
  }
}

/** A call error prints as `CODE: message` (exit 1), as DESIGN.md's CLI promises. */
function callFailure(err: unknown): CliError {
  const e = err as { code?: string; message?: string };
  return new CliError(e.code ? `${e.code}: ${e.message}` : (e.message ?? String(err)));
}

function deadline(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = Number(text);
  if (!Number.isFinite(ms) || ms <= 0) throw new UsageError(`--timeout "${text}" must be milliseconds > 0`);
  return ms;
}

async function runCall(ctx: CommandContext): Promise<number> {
  const { values, positionals } = parseCommandArgs(ctx, { ...CLIENT_FLAGS, subscribe: { type: 'boolean' } }, { min: 2, max: 3 });
  const [address, operation, json] = positionals as [string, string, string | undefined];
  let input: unknown = {};
  if (json !== undefined) {
    try {
      input = JSON.parse(json === '-' ? await readStdin(ctx) : json);
    } catch (err) {
      throw new UsageError(`the input is not JSON: ${(err as Error).message}`);
    }
  }
  const timeoutMs = deadline(values.timeout as string | undefined);
  const started = Date.now();
  const client = await openClient(ctx, address, values, timeoutMs);
  // --timeout covers the whole command: the call gets what the handshake left of it.
  const deadlineMs = timeoutMs === undefined ? undefined : Math.max(1, timeoutMs - (Date.now() - started));
  try {
    if (values.subscribe) {
      for await (const output of client.subscribe(operation, input, deadlineMs ? { deadlineMs } : {})) ctx.stdout.write(JSON.stringify(toJson(output)) + '\n');
    } else {
      const output = await client.call(operation, input, deadlineMs ? { deadlineMs } : {});
      ctx.stdout.write(JSON.stringify(toJson(output), null, ctx.stdout.isTTY ? 2 : undefined) + '\n');
    }
  } catch (err) {
    throw callFailure(err);
  } finally {
    await client.close();
  }
  return 0;
}

/** Binary fields (msgpack bin) print as base64 strings in JSON. */
function toJson(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (Array.isArray(value)) return value.map(toJson);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJson(v)]));
  return value;
}

async function readStdin(ctx: CommandContext): Promise<string> {
  let text = '';
  for await (const chunk of ctx.stdin) text += chunk;
  return text;
}

interface OperationSummary {
  name: string;
  type: string;
  description?: string;
  scopes?: string[];
}

async function runOps(ctx: CommandContext): Promise<number> {
  const { values, positionals } = parseCommandArgs(ctx, CLIENT_FLAGS, { min: 1 });
  const client = await openClient(ctx, positionals[0]!, values, deadline(values.timeout as string | undefined));
  try {
    const { operations } = await client.call<{ operations: OperationSummary[] }>('services/list', {});
    if (ctx.json) {
      const withSchemas = await Promise.all(operations.map(async (op) => ({ ...op, ...(await client.call<object>('services/schema', { name: op.name })) })));
      ctx.stdout.write(JSON.stringify(withSchemas, null, 2) + '\n');
      return 0;
    }
    const rows = operations.map((op) => [op.name, op.type, (op.scopes ?? []).join(',') || 'public', op.description ?? '']);
    const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length), ['OPERATION', 'TYPE', 'SCOPES'][i]!.length));
    const line = (r: string[]) => r.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c)).join('  ').trimEnd() + '\n';
    ctx.stdout.write(line(['OPERATION', 'TYPE', 'SCOPES', 'DESCRIPTION']));
    for (const r of rows) ctx.stdout.write(line(r));
  } catch (err) {
    throw callFailure(err);
  } finally {
    await client.close();
  }
  return 0;
}

function scopesFlag(text: string | undefined): string[] {
  if (!text) throw new UsageError('--scopes a,b,... is required');
  return text.split(',').map((s) => s.trim()).filter(Boolean);
}

const DURATION_UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** `--expires`: a duration from now (90s, 15m, 12h, 30d, 2w) or an ISO 8601 date or date-time in the future. */
function expiresFlag(text: string | undefined, now = Date.now()): Date | undefined {
  if (text === undefined) return undefined;
  const duration = /^(\d{1,6})([smhdw])$/.exec(text.trim());
  const at = duration ? new Date(now + Number(duration[1]) * DURATION_UNITS[duration[2]!]!) : /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text.trim()) ? new Date(text.trim()) : undefined;
  if (!at || Number.isNaN(at.getTime())) throw new UsageError(`--expires "${text.slice(0, 40)}" must be a duration (90s, 15m, 12h, 30d, 2w) or a date (2026-12-31 or 2026-12-31T12:00:00Z)`);
  if (at.getTime() <= now) throw new UsageError(`--expires ${at.toISOString()} is not in the future`);
  return at;
}

async function runTokenCreate(ctx: CommandContext): Promise<number> {
  const { values } = parseCommandArgs(ctx, { scopes: { type: 'string' }, name: { type: 'string' }, expires: { type: 'string' } });
  const { addToken } = await import('../../actors/peers/peersFile.ts');
  const name = (values.name as string | undefined) ?? `token-${Date.now().toString(36)}`;
  const scopes = scopesFlag(values.scopes as string | undefined);
  const expires = expiresFlag(values.expires as string | undefined);
  requireHome(ctx, { create: true });
  let created;
  try {
    created = addToken(ctx.home, name, scopes, expires ? { expires } : {});
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  const expiry = created.entry.expires ? { expires: created.entry.expires.toISOString() } : {};
  if (ctx.json) ctx.stdout.write(JSON.stringify({ name, token: created.token, scopes: created.entry.scopes, ...expiry }) + '\n');
  else ctx.stdout.write(`${created.token}\n`);
  ctx.stderr.write('alknet: this token is shown once; the node keeps only its sha256 hash\n');
  return 0;
}

async function runTokenLs(ctx: CommandContext): Promise<number> {
  parseCommandArgs(ctx, {});
  requireHome(ctx, { create: false });
  const { listTokens } = await import('../../actors/peers/peersFile.ts');
  const tokens = listTokens(ctx.home);
  const expiry = (t: (typeof tokens)[number]) => (t.expires ? { expires: t.expires.toISOString() } : {});
  if (ctx.json) ctx.stdout.write(JSON.stringify(tokens.map((t) => ({ name: t.name, scopes: t.scopes, enabled: t.enabled, ...expiry(t) }))) + '\n');
  else {
    for (const t of tokens) {
      const expired = t.expires && t.expires.getTime() <= Date.now() ? '  (expired)' : t.expires ? `  expires ${t.expires.toISOString()}` : '';
      ctx.stdout.write(`${t.name}  ${t.scopes.join(',')}${t.enabled ? '' : '  (disabled)'}${expired}\n`);
    }
  }
  return 0;
}

async function runTokenRm(ctx: CommandContext): Promise<number> {
  const { positionals } = parseCommandArgs(ctx, {}, { min: 1 });
  requireHome(ctx, { create: false, writable: true });
  const { removeToken } = await import('../../actors/peers/peersFile.ts');
  if (!removeToken(ctx.home, positionals[0]!)) throw new CliError(`no token named "${positionals[0]}"`);
  return 0;
}

export const commands: Command[] = [
  { ...describe('call'), run: runCall },
  { ...describe('ops'), run: runOps },
  { ...describe('token create'), run: runTokenCreate },
  { ...describe('token ls'), run: runTokenLs },
  { ...describe('token rm'), run: runTokenRm },
];
