// `alknet socks --listen HOST:PORT ADDR`: a local SOCKS5 server (RFC 1928 CONNECT; no-auth, or RFC
// 1929 username/password with --user and ALKNET_SOCKS_PASSWORD) whose connections leave through
// ADDR's alknet/ssh as direct-tcpip channels, logged in with this home's node key (the node must
// grant it scope `ssh`: `alknet peer add NODEID --scopes ssh` there). Runs until SIGINT/SIGTERM.
import { CliError, UsageError, type Command, type CommandContext } from '../command.ts';
import { parseCommandArgs } from '../args.ts';
import { addressArg, knownNodesPath, optionalIdentity } from '../identity.ts';
import { verboseLogger } from '../verbose.ts';
import { describe } from './index.ts';

function listenArg(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:@\s[\]]+)):(\d{1,5})$/.exec(text);
  if (!m || Number(m[3]) > 65535) throw new UsageError(`--listen "${text.slice(0, 80)}" must be HOST:PORT (port 0 picks a free one)`);
  return { host: (m[1] ?? m[2])!, port: Number(m[3]) };
}

async function runSocks(ctx: CommandContext): Promise<number> {
  const { values, positionals } = parseCommandArgs(ctx, {
    listen: { type: 'string' },
    user: { type: 'string' },
    tls: { type: 'boolean' },
    quic: { type: 'boolean' },
    verbose: { type: 'boolean', short: 'v' },
  }, { min: 1 });
  if (values.tls && values.quic) throw new UsageError('--tls and --quic exclude each other');
  const listen = listenArg((values.listen as string | undefined) ?? '127.0.0.1:1080');
  const password = ctx.env.ALKNET_SOCKS_PASSWORD;
  if (values.user !== undefined && (password === undefined || password === '')) throw new UsageError('--user needs the password in ALKNET_SOCKS_PASSWORD');
  const address = await addressArg(positionals[0]!);
  const known = knownNodesPath(ctx, address);
  const identity = await optionalIdentity(ctx, 'logging in');
  if (!identity) throw new CliError(`socks logs in with this home's node key: unlock the vault in ${ctx.home} (ALKNET_PASSPHRASE or --passphrase-file)`);

  const { dial } = await import('../../actors/listener/dial.ts');
  const { sshOverConnection } = await import('../../protocols/ssh/client.ts');
  const { createSocksServer } = await import('../../protocols/ssh/socks5Server.ts');
  type SshClient = Awaited<ReturnType<typeof sshOverConnection>>;

  // One SSH connection, made on first use and again after it drops.
  let current: Promise<SshClient> | null = null;
  const ssh = (): Promise<SshClient> => {
    current ??= (async () => {
      const conn = await dial(address, {
        alpn: 'alknet/ssh',
        transport: values.tls ? 'tls' : values.quic ? 'quic' : 'auto',
        knownNodesPath: known,
        identity,
        ...(values.verbose ? { logger: verboseLogger(ctx) } : {}),
      });
      try {
        const client = await sshOverConnection(conn, { key: identity, username: 'alknet' });
        client.once('close', () => {
          current = null;
          void conn.close('ssh closed');
        });
        return client;
      } catch (err) {
        await conn.close('ssh login failed');
        throw err;
      }
    })();
    current.catch(() => {
      current = null;
    });
    return current;
  };

  const server = createSocksServer({
    ssh,
    ...(values.user !== undefined ? { credentials: { username: values.user as string, password: password! } } : {}),
    ...(values.verbose ? { log: (line: string) => ctx.stderr.write(`alknet: ${line}\n`) } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new CliError(`cannot listen on ${listen.host}:${listen.port}: ${err.code ?? err.message}`)));
    server.listen(listen.port, listen.host, () => resolve());
  });
  const bound = server.address() as { address: string; port: number };
  ctx.stderr.write(`alknet: SOCKS5 on ${bound.address.includes(':') ? `[${bound.address}]` : bound.address}:${bound.port} through ${positionals[0]}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  server.close();
  const open = current as Promise<SshClient> | null;
  if (open) (await open.catch(() => null))?.end();
  return 0;
}

export const commands: Command[] = [
  { ...describe('socks'), run: runSocks },
];
