// `alknet dns resolve NAME [--server ADDR]`: one DNS question, printed like a zone file's lines.
//   --server HOST[:PORT]           plain DNS: UDP, again over TCP when the answer is truncated (--tcp: TCP only)
//   --server NODEID@HOST:PORT      DoQ on that node's QUIC port, its key pinned
//   without --server               this home's config.toml [dns] listen (the local node's DNS port)
// NXDOMAIN, SERVFAIL, REFUSED and transport failures exit 1 with one line; a name without records
// of the type prints nothing on stdout and says so on stderr (exit 0), as `host` does.
import { CliError, UsageError, type Command, type CommandContext } from '../command.ts';
import { describe } from './index.ts';
import { parseCommandArgs } from '../args.ts';

const TYPE_PATTERN = /^[A-Za-z][A-Za-z0-9]{0,9}$/;

/** One record's data as a zone file writes it. */
function formatData(type: string, data: unknown): string {
  if (typeof data === 'string') return type === 'A' || type === 'AAAA' ? data : `${data}.`;
  if (Array.isArray(data)) return data.map((d) => JSON.stringify(Buffer.isBuffer(d) ? d.toString('latin1') : String(d))).join(' ');
  if (Buffer.isBuffer(data)) return `\\# ${data.length} ${data.toString('hex')}`;
  const d = data as Record<string, unknown>;
  switch (type) {
    case 'MX':
      return `${d.preference} ${d.exchange}.`;
    case 'SRV':
      return `${d.priority} ${d.weight} ${d.port} ${d.target}.`;
    case 'SOA':
      return `${d.mname}. ${d.rname}. ${d.serial} ${d.refresh} ${d.retry} ${d.expire} ${d.minimum}`;
    case 'CAA':
      return `${d.flags ?? 0} ${d.tag} ${JSON.stringify(d.value)}`;
    default:
      return JSON.stringify(data);
  }
}

interface Row {
  name: string;
  ttl: number;
  type: string;
  data: string;
}

function rows(records: readonly unknown[]): Row[] {
  return records.map((r) => {
    const rec = r as { name: string; ttl?: number; type: string; data?: unknown };
    return { name: rec.name, ttl: rec.ttl ?? 0, type: rec.type, data: formatData(rec.type, rec.data) };
  });
}

async function defaultServer(ctx: CommandContext): Promise<string> {
  const { loadConfig, ConfigError } = await import('../../supervisors/config.ts');
  let listen: string | null;
  try {
    listen = loadConfig(ctx.home).dns.listen;
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message);
    throw err;
  }
  if (listen === null || /:0$/.test(listen)) {
    throw new CliError(`no --server given and ${ctx.home}/config.toml has no fixed [dns] listen address: pass --server HOST[:PORT]`);
  }
  return listen;
}

const resolve: Command = {
  ...describe('dns resolve'),
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(
      ctx,
      { server: { type: 'string' }, type: { type: 'string', short: 't' }, tcp: { type: 'boolean' }, timeout: { type: 'string' }, json: { type: 'boolean' } },
      { min: 1 },
    );
    const name = positionals[0]!;
    if (name.length === 0 || name.length > 253 + 1) throw new UsageError('NAME must be a domain name of at most 253 characters');
    const type = ((values.type as string | undefined) ?? 'A').toUpperCase();
    if (!TYPE_PATTERN.test(type)) throw new UsageError(`--type "${type.slice(0, 20)}" is not a record type (like A, AAAA, TXT, MX)`);
    const timeoutMs = values.timeout === undefined ? 5000 : Number(values.timeout);
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 600_000) throw new UsageError('--timeout MS must be a whole number of milliseconds');
    const json = ctx.json || values.json === true;
    const server = (values.server as string | undefined) ?? (await defaultServer(ctx));

    const { resolveDns, resolveDoq } = await import('../../protocols/dns/client.ts');
    const { parseUpstream } = await import('../../protocols/dns/config.ts');
    const { typeNumber } = await import('../../protocols/dns/wire.ts');
    if (!typeNumber(type)) throw new UsageError(`--type "${type}" is not a record type (like A, AAAA, TXT, MX)`);
    const question = { name, type };
    let result;
    try {
      if (server.includes('@')) {
        if (values.tcp) throw new UsageError('--tcp is for plain DNS; NODEID@HOST:PORT is always DoQ');
        const { addressArg } = await import('../identity.ts');
        const address = await addressArg(server);
        if (address.nodeId === undefined) throw new UsageError(`--server "${server.slice(0, 80)}": DoQ needs NODEID@HOST:PORT`);
        const { dial } = await import('../../actors/listener/dial.ts');
        const conn = await dial(server, { alpn: 'doq', transport: 'quic', timeoutMs });
        try {
          result = await resolveDoq(() => conn.openStream(), question, timeoutMs);
        } finally {
          await conn.close('done').catch(() => {});
        }
      } else {
        let upstream;
        try {
          upstream = parseUpstream(server);
        } catch (err) {
          throw new UsageError(`--server: ${(err as Error).message}`);
        }
        result = await resolveDns(upstream, question, { transport: values.tcp ? 'tcp' : 'udp', timeoutMs });
      }
    } catch (err) {
      if (err instanceof UsageError || err instanceof CliError) throw err;
      throw new CliError(`${name}: ${(err as Error).message.split('\n')[0]}`);
    }

    const answers = rows(result.answers);
    if (json) {
      ctx.stdout.write(`${JSON.stringify({ name, type, server, transport: result.transport, rcode: result.rcode, authoritative: result.aa, answers, authority: rows(result.authorities) })}\n`);
    } else {
      for (const r of answers) ctx.stdout.write(`${r.name}.\t${r.ttl}\tIN\t${r.type}\t${r.data}\n`);
    }
    if (result.rcode !== 'NOERROR') throw new CliError(`${name}: ${result.rcode} from ${server}`);
    if (!json && answers.length === 0) ctx.stderr.write(`alknet: ${name} has no ${type} record\n`);
    return 0;
  },
};

export const commands: Command[] = [resolve];
