// `alknet node` (run a node until SIGINT/SIGTERM) and `alknet connect` (stdin/stdout <-> one stream).
import fs from 'node:fs';
import path from 'node:path';
import { CliError, UsageError, type Command, type CommandContext } from '../command.ts';
import { writeFileAtomic } from '../../lib/atomicFile.ts';
import type { RunningNode } from '../../supervisors/startNode.ts';
import { optionalIdentity } from '../identity.ts';
import { parseCommandArgs } from '../args.ts';
import { verboseLogger } from '../verbose.ts';

/** `--inspect` takes an optional value, which parseArgs cannot express: take it out first. */
function takeInspect(argv: string[]): { argv: string[]; inspect: number | null } {
  let inspect: number | null = null;
  const rest: string[] = [];
  for (const a of argv) {
    if (a === '--inspect') inspect = 9229;
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

export async function runNode(ctx: CommandContext, onReady?: OnNodeReady): Promise<number> {
  const { argv, inspect } = takeInspect(ctx.argv);
  const { values } = parseCommandArgs({ argv }, {
    listen: { type: 'string' },
    dns: { type: 'string' },
    'ready-file': { type: 'string' },
  });
  // DESIGN.md's CLI has --dns for the DNS front end, which is not built yet: say so rather than ignore it.
  if (values.dns !== undefined) throw new CliError('--dns: the DNS front end is not part of this version yet; run without --dns');
  const { readPassphrase } = await import('../passphrase.ts');
  const { vaultExists } = await import('../../actors/vault/vaultFile.ts');
  if (!vaultExists(ctx.home)) throw new CliError(`no vault in ${ctx.home}: create one with "alknet --home ${ctx.home} init"`);
  const passphrase = await readPassphrase(ctx, {});
  const { startNode } = await import('../../supervisors/startNode.ts');
  const inspector = inspect === null ? null : await (await import('../../supervisors/inspector.ts')).startInspector(inspect);

  let node;
  try {
    node = await startNode({
      home: ctx.home,
      passphrase,
      listen: values.listen as string | undefined,
      ...(inspector ? { inspect: inspector.inspect } : {}),
    });
  } catch (err) {
    inspector?.stop();
    throw new CliError((err as Error).message);
  }

  const readyFile = values['ready-file'] as string | undefined;
  if (readyFile) {
    const ready = { nodeId: node.nodeId, quic: `${node.address}`, tcp: `${node.address}`, dns: null, alpns: node.alpns };
    writeFileAtomic(path.resolve(readyFile), JSON.stringify(ready) + '\n', { mode: 0o644 });
  }
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
    throw new CliError(`node failed: ${(err as Error).message}`);
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
  const { dial, parseAddress } = await import('../../actors/listener/dial.ts');
  let address;
  try {
    address = parseAddress(positionals[0]!);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const identity = await optionalIdentity(ctx);
  fs.mkdirSync(ctx.home, { recursive: true, mode: 0o700 });
  let conn;
  try {
    conn = await dial(address, {
      alpn: values.alpn as string,
      // Without --tls/--quic the path is chosen per ALPN: TLS/TCP for bulk ones (blobs, sftp, git).
      transport: values.tls ? 'tls' : values.quic ? 'quic' : 'auto',
      ...(values.verbose ? { logger: verboseLogger(ctx) } : {}),
      knownNodesPath: path.join(ctx.home, 'known_nodes'),
      ...(identity ? { identity } : {}),
    });
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  const stream = await conn.openStream();
  await new Promise<void>((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      resolve();
    };
    ctx.stdin.pipe(stream);
    stream.pipe(ctx.stdout, { end: false });
    stream.on('end', finish);
    stream.on('close', finish);
    stream.on('error', (err) => {
      ctx.stderr.write(`alknet: stream error: ${err.message}\n`);
      finish();
    });
    void conn.closed.then(finish);
  });
  await conn.close('done').catch(() => {});
  return 0;
}

export const commands: Command[] = [
  {
    name: 'node',
    summary: 'run the node until SIGINT/SIGTERM',
    usage: 'alknet node [--listen HOST:PORT] [--dns HOST:PORT] [--ready-file F] [--inspect[=PORT]]',
    run: (ctx) => runNode(ctx),
  },
  {
    name: 'connect',
    summary: 'pipe stdin/stdout to one stream (for ssh ProxyCommand, GIT_PROXY_COMMAND)',
    usage: 'alknet connect ADDR --alpn ALPN [--tls|--quic] [-v]',
    run: runConnect,
  },
];
