// `alknet node` (run a node until SIGINT/SIGTERM) and `alknet connect` (stdin/stdout <-> one stream).
import path from 'node:path';
import { CliError, UsageError, type Command, type CommandContext } from '../command.ts';
import { writeFileAtomic } from '../../lib/atomicFile.ts';
import type { RunningNode } from '../../supervisors/startNode.ts';
import { addressArg, knownNodesPath, optionalIdentity } from '../identity.ts';
import { describe } from './index.ts';
import { parseCommandArgs } from '../args.ts';
import { verboseLogger } from '../verbose.ts';
import { homeExists, requireHome } from '../home.ts';
import { explainStartFailure, rootMessage } from '../nodeStartFailure.ts';

/**
 * `--inspect` takes an optional value, which parseArgs cannot express: take it out first.
 * 'default' is the inspector module's INSPECT_DEFAULT_PORT, read when the inspector is loaded
 * (the module pulls in ws and @statelyai/inspect, so only `--inspect` imports it).
 */
function takeInspect(argv: string[]): { argv: string[]; inspect: number | 'default' | null } {
  let inspect: number | 'default' | null = null;
  const rest: string[] = [];
  for (const a of argv) {
    if (a === '--inspect') inspect = 'default';
    else if (a.startsWith('--inspect=')) {
      const port = Number(a.slice('--inspect='.length));
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--inspect port "${a.slice(10)}" is not a port number`);
      inspect = port;
    } else rest.push(a);
  }
  return { argv: rest, inspect };
}

/** Called once the node listens (after the ready file is written): `npm start` prints how to reach it. */
export type OnNodeReady = (node: RunningNode) => void;

/**
 * --listen as startNode reads it: HOST:PORT or [V6]:PORT, port 0 picking a free one. Checked here so
 * a typo is a usage error (exit 2) before the vault is unlocked.
 */
function checkListen(text: string, flag = '--listen'): string {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:@\s[\]]+)):(\d{1,5})$/.exec(text);
  if (!m || Number(m[3]) > 65535) throw new UsageError(`${flag} "${text.slice(0, 80)}" must be HOST:PORT or [IPv6]:PORT (port 0 picks a free one)`);
  return text;
}

/** What `alknet node` reports once it listens: the ready object (also the --ready-file's content). */
function readyObject(node: RunningNode) {
  return { nodeId: node.nodeId, quic: `${node.address}`, tcp: `${node.address}`, dns: node.dns, alpns: node.alpns };
}

/** `alknet node`'s own report: one human line on stderr (stdout stays for data), or the ready object with --json. */
function announce(ctx: CommandContext): OnNodeReady {
  return (node) => {
    if (ctx.json) ctx.stdout.write(`${JSON.stringify(readyObject(node))}\n`);
    else {
      ctx.stderr.write(`alknet: node ${node.nodeId} listening on ${node.address} (QUIC/UDP and TLS/TCP)\n`);
      if (node.dns) ctx.stderr.write(`alknet: DNS on ${node.dns} (UDP and TCP)\n`);
    }
  };
}

/** The inspector's relay on 127.0.0.1; a busy port is a one-line failure, not a stack. */
async function startInspectorOn(port: number | 'default') {
  const { startInspector, INSPECT_DEFAULT_PORT, InspectorPortBusyError } = await import('../../supervisors/inspector.ts');
  const chosen = port === 'default' ? INSPECT_DEFAULT_PORT : port;
  try {
    return await startInspector(chosen);
  } catch (err) {
    if (err instanceof InspectorPortBusyError) {
      throw new CliError(`cannot start the inspector on 127.0.0.1:${chosen}: address already in use (pick another with --inspect=PORT, or 0 for any)`);
    }
    throw new CliError(rootMessage(err));
  }
}

export async function runNode(ctx: CommandContext, onReady?: OnNodeReady): Promise<number> {
  const { argv, inspect } = takeInspect(ctx.argv);
  const { values } = parseCommandArgs({ argv }, {
    listen: { type: 'string' },
    dns: { type: 'string' },
    'ready-file': { type: 'string' },
  });
  const listen = values.listen === undefined ? undefined : checkListen(values.listen as string);
  const dns = values.dns === undefined ? undefined : checkListen(values.dns as string, '--dns');
  // The node writes its blob store and known_nodes there.
  requireHome(ctx, { create: false, writable: true });
  const { readPassphrase } = await import('../passphrase.ts');
  const { vaultExists } = await import('../../actors/vault/vaultFile.ts');
  if (!vaultExists(ctx.home)) throw new CliError(`no vault in ${ctx.home}: create one with "alknet --home ${ctx.home} init"`);
  const passphrase = await readPassphrase(ctx, {});
  const { startNode } = await import('../../supervisors/startNode.ts');
  const inspector = inspect === null ? null : await startInspectorOn(inspect);

  let node;
  try {
    node = await startNode({
      home: ctx.home,
      passphrase,
      ...(listen !== undefined ? { listen } : {}),
      ...(dns !== undefined ? { dns } : {}),
      ...(inspector ? { inspect: inspector.inspect } : {}),
    });
  } catch (err) {
    inspector?.stop();
    // The supervisor's "gave up" names who failed; the user needs the cause at the bottom of it.
    throw new CliError(explainStartFailure(err) ?? `the node did not start: ${rootMessage(err)}`);
  }

  const readyFile = values['ready-file'] as string | undefined;
  if (readyFile) writeFileAtomic(path.resolve(readyFile), JSON.stringify(readyObject(node)) + '\n', { mode: 0o644 });
  if (inspector) ctx.stderr.write(`alknet: inspector on ws://127.0.0.1:${inspector.port}\n`);
  onReady?.(node);

  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) process.exit(1); // a second signal: stop waiting for the drain
    void sig;
    void node.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await node.stopped;
  } catch (err) {
    await node.stop().catch(() => {});
    inspector?.stop();
    throw new CliError(`node failed: ${explainStartFailure(err) ?? rootMessage(err)}`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  await node.stop();
  inspector?.stop();
  return 0;
}

async function runConnect(ctx: CommandContext): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    ctx,
    { alpn: { type: 'string' }, tls: { type: 'boolean' }, quic: { type: 'boolean' }, verbose: { type: 'boolean', short: 'v' } },
    { min: 1 },
  );
  if (values.tls && values.quic) throw new UsageError('--tls and --quic exclude each other');
  if (!values.alpn) throw new UsageError('--alpn ALPN is required');
  const { isNodeId } = await import('../../lib/nodeId.ts');
  // A bare NODEID: found through known_nodes, the DHT, relays or DNS ([pkarr]), its key pinned.
  const byId = isNodeId(positionals[0]!);
  const address = byId ? undefined : await addressArg(positionals[0]!);
  const known = address ? knownNodesPath(ctx, address) : path.join(ctx.home, 'known_nodes');
  const { dial } = await import('../../actors/listener/dial.ts');
  const identity = await optionalIdentity(ctx);
  const dialTo = (target: string | NonNullable<typeof address>) => dial(target, {
    alpn: values.alpn as string,
    // Without --tls/--quic the path is chosen per ALPN: TLS/TCP for bulk ones (blobs, sftp, git).
    transport: values.tls ? 'tls' : values.quic ? 'quic' : 'auto',
    ...(values.verbose ? { logger: verboseLogger(ctx) } : {}),
    knownNodesPath: known,
    ...(identity ? { identity } : {}),
  });
  let conn;
  try {
    if (address) conn = await dialTo(address);
    else {
      const { dialDiscovered, discoveryFromConfig, rememberAddress } = await import('../../actors/pkarr/discover.ts');
      const { loadConfig } = await import('../../supervisors/config.ts');
      const config = homeExists(ctx) ? loadConfig(ctx.home) : undefined;
      const discovery = config ? discoveryFromConfig(config.pkarr, known) : {};
      const found = await dialDiscovered(positionals[0]!, discovery, (pinned) => dialTo(pinned));
      if (values.verbose) ctx.stderr.write(`alknet: found ${positionals[0]} at ${found.address}\n`);
      if (config) await rememberAddress(known, positionals[0]!, found.address).catch(() => {});
      conn = found.value;
    }
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  const stream = await conn.openStream();
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => {
    let done = false;
    finish = () => {
      if (done) return;
      done = true;
      resolve();
    };
  });
  ctx.stdin.pipe(stream);
  stream.pipe(ctx.stdout, { end: false });
  stream.on('end', finish);
  stream.on('close', finish);
  stream.on('error', (err) => {
    ctx.stderr.write(`alknet: stream error: ${err.message}\n`);
    finish();
  });
  void conn.closed.then(finish);
  // OpenSSH ends its ProxyCommand with SIGHUP: close the connection first, so the node frees it now
  // rather than at its idle timeout (over QUIC nothing else would tell it).
  const signals = ['SIGHUP', 'SIGTERM', 'SIGINT'] as const;
  for (const signal of signals) process.once(signal, finish);
  await finished;
  for (const signal of signals) process.off(signal, finish);
  await conn.close('done').catch(() => {});
  return 0;
}

export const commands: Command[] = [
  {
    ...describe('node'),
    run: (ctx) => runNode(ctx, announce(ctx)),
  },
  {
    ...describe('connect'),
    run: runConnect,
  },
];
