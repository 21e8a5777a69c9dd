// `alknet pkarr publish` and `alknet pkarr resolve NODEID`: the node's signed records (docs/pkarr.md).
// Both run the pkarr service in this process (actors/pkarr/local.ts) on the home's store, which a
// running node of the same home shares (LMDB), so a packet published here is served by that node's
// relay at once. publish unlocks the vault to sign (ALKNET_PASSPHRASE, --passphrase-file or a prompt).
import { CliError, UsageError, type Command, type CommandContext } from '../command.ts';
import { describe } from './index.ts';
import { parseCommandArgs } from '../args.ts';
import { homeExists, requireHome } from '../home.ts';

const RELAY_FLAG = { relay: { type: 'string', multiple: true } } as const;

function oneLine(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const text = (e.message ?? String(err)).split('\n')[0]!;
  return e.code && !['INTERNAL', 'UNAVAILABLE'].includes(e.code) ? `${e.code}: ${text}` : text;
}

async function checkRelays(relays: readonly string[]): Promise<void> {
  const { checkRelay } = await import('../../actors/pkarr/relayClient.ts');
  for (const r of relays) {
    try {
      checkRelay(r);
    } catch (err) {
      throw new UsageError(`--relay: ${(err as Error).message}`);
    }
  }
}

interface RecordLine {
  name: string;
  type: string;
  ttl: number | null;
  data: string;
}

async function describePacket(packet: Uint8Array, nodeId: string): Promise<{ timestamp: number; addresses: string[]; records: RecordLine[] }> {
  const { decodeSignedPacket, parseDnsPacket } = await import('../../lib/pkarr/signedPacket.ts');
  const { readNodeRecords, formatHostPort } = await import('../../lib/pkarr/records.ts');
  const p = decodeSignedPacket(packet);
  const records: RecordLine[] = [];
  for (const rr of parseDnsPacket(p.dnsPacket).answers ?? []) {
    const d = (rr as { data?: unknown }).data;
    const data = rr.type === 'TXT'
      ? (Array.isArray(d) ? d : [d]).map((s) => JSON.stringify(Buffer.isBuffer(s) ? s.toString('utf8') : String(s))).join(' ')
      : typeof d === 'string' ? d : Buffer.isBuffer(d) ? d.toString('hex') : JSON.stringify(d);
    records.push({ name: rr.name, type: rr.type, ttl: (rr as { ttl?: number }).ttl ?? null, data });
  }
  return { timestamp: p.timestamp, addresses: readNodeRecords(p.dnsPacket, nodeId).addresses.map(formatHostPort), records };
}

function printRecords(ctx: CommandContext, info: { timestamp: number; addresses: string[]; records: RecordLine[] }): void {
  ctx.stdout.write(`timestamp:   ${info.timestamp} (${new Date(Math.floor(info.timestamp / 1000)).toISOString()})\n`);
  ctx.stdout.write(`addresses:   ${info.addresses.join(' ') || '(none)'}\n`);
  for (const r of info.records) ctx.stdout.write(`  ${r.name} ${r.ttl ?? ''} IN ${r.type} ${r.data}\n`);
}

const publish: Command = {
  ...describe('pkarr publish'),
  async run(ctx) {
    const { values } = parseCommandArgs(ctx, { address: { type: 'string', multiple: true }, ...RELAY_FLAG }, { max: 0 });
    requireHome(ctx, { create: false, writable: true });
    const { loadConfig } = await import('../../supervisors/config.ts');
    const config = loadConfig(ctx.home);
    const relays = (values.relay as string[] | undefined) ?? config.pkarr.relays;
    await checkRelays(relays);
    const { parseHostPort } = await import('../../lib/pkarr/records.ts');
    let addresses = (values.address as string[] | undefined) ?? (config.pkarr.addresses.length > 0 ? config.pkarr.addresses : [config.listen]);
    for (const a of addresses) {
      if (/:0$/.test(a)) throw new UsageError(`address "${a}" has port 0 (chosen at start): give --address HOST:PORT with the node's real port`);
      try {
        parseHostPort(a);
      } catch (err) {
        throw new UsageError(`--address: ${(err as Error).message}`);
      }
    }
    addresses = [...new Set(addresses)];
    const { vaultExists } = await import('../../actors/vault/vaultFile.ts');
    if (!vaultExists(ctx.home)) throw new CliError(`no vault in ${ctx.home}: create one with "alknet init"`);
    const { readPassphrase } = await import('../passphrase.ts');
    const passphrase = await readPassphrase(ctx);
    const { startLocalPkarr } = await import('../../actors/pkarr/local.ts');
    const local = await startLocalPkarr({ home: ctx.home, config: config.pkarr, passphrase, listenAddresses: addresses });
    try {
      let r;
      try {
        r = await local.bus.request('pkarr', 'pkarr.publishSelf', { addresses, relays }, { deadlineMs: 60_000 });
      } catch (err) {
        throw new CliError(`publish failed: ${oneLine(err)}`);
      }
      const info = await describePacket(r.packet, r.publicKey);
      if (ctx.json) {
        ctx.stdout.write(JSON.stringify({ nodeId: r.publicKey, ...info, dht: r.dht, dhtDetail: r.dhtDetail, relays: r.relays, packet: Buffer.from(r.packet).toString('base64') }) + '\n');
      } else {
        ctx.stdout.write(`published:   ${r.publicKey}\n`);
        printRecords(ctx, info);
        ctx.stdout.write(`dht:         ${r.dhtDetail ?? (r.dht ? 'stored' : 'not stored')}\n`);
        for (const x of r.relays) ctx.stdout.write(`relay:       ${x.url}: ${x.ok ? 'ok' : 'failed'}${x.detail ? ` (${x.detail})` : ''}\n`);
      }
      // Published to at least one place besides the home's own store, or none was asked for.
      const failedEverywhere = relays.length > 0 && !r.relays.some((x) => x.ok) && !r.dht;
      if (failedEverywhere) throw new CliError(`stored locally, but no relay or DHT node took it: ${r.relays.map((x) => `${x.url}: ${x.detail ?? 'failed'}`).join('; ')}`);
      return 0;
    } finally {
      await local.stop();
    }
  },
};

const resolve: Command = {
  ...describe('pkarr resolve'),
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(ctx, { ...RELAY_FLAG }, { min: 1 });
    const nodeId = positionals[0]!;
    const { isNodeId } = await import('../../lib/nodeId.ts');
    if (!isNodeId(nodeId)) throw new UsageError(`"${nodeId.slice(0, 60)}" is not a node id (52 z-base-32 characters)`);
    const given = values.relay as string[] | undefined;
    if (given) await checkRelays(given);
    const { loadConfig, DEFAULT_CONFIG } = await import('../../supervisors/config.ts');
    // Without a home: nothing stored, no config; a throwaway store, relays from --relay only.
    const home = homeExists(ctx);
    const config = home ? loadConfig(ctx.home) : structuredClone(DEFAULT_CONFIG);
    let dir = ctx.home;
    let cleanup = (): void => {};
    if (!home) {
      const fs = await import('node:fs');
      const os = await import('node:os');
      const path = await import('node:path');
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-pkarr-'));
      cleanup = () => fs.rmSync(dir, { recursive: true, force: true });
    }
    const { startLocalPkarr } = await import('../../actors/pkarr/local.ts');
    const local = await startLocalPkarr({ home: dir, config: config.pkarr });
    try {
      let r;
      try {
        // --relay asks that relay even when a packet is stored here (the newest wins).
        r = await local.bus.request('pkarr', 'pkarr.resolve', { publicKey: nodeId, ...(given ? { relays: given, fresh: true } : {}) }, { deadlineMs: 60_000 });
      } catch (err) {
        throw new CliError(`resolve failed: ${oneLine(err)}`);
      }
      if (r.packet === null) {
        const asked = given ?? config.pkarr.relays;
        const where = [config.pkarr.dht ? 'the DHT' : '', asked.length ? asked.join(', ') : ''].filter(Boolean).join(', ');
        throw new CliError(`no signed packet for ${nodeId} (asked: ${where || 'the local store only; give --relay ADDR or configure [pkarr] relays / dht'})`);
      }
      const info = await describePacket(r.packet, nodeId);
      if (ctx.json) ctx.stdout.write(JSON.stringify({ nodeId, source: r.source, ...info, packet: Buffer.from(r.packet).toString('base64') }) + '\n');
      else {
        ctx.stdout.write(`node id:     ${nodeId}\nsource:      ${r.source}\n`);
        printRecords(ctx, info);
      }
      return 0;
    } finally {
      await local.stop();
      cleanup();
    }
  },
};

export const commands: Command[] = [publish, resolve];
