// Finding a node by its id alone (`connect('NODEID')`, `alknet connect NODEID`), in a process that
// may run no node: where was it last met (known_nodes), what does it publish (its signed packet from
// the Mainline DHT and the relays, asked at once, the newest valid one winning), and, when neither
// answers, what DNS says (`_alknet.<id>` TXT from the configured servers, e.g. a node's DNS front
// end). Every address found is dialled as `NODEID@host:port`, so the key is pinned whatever the
// source: a lying relay or DNS server can only make a dial fail, never connect to an impostor.
import { Resolver } from 'node:dns/promises';
import path from 'node:path';
import { readKnownNodes } from '../peers/knownNodes.ts';
import { readNodeRecords, parseHostPort, formatHostPort, ALKNET_LABEL, type HostPort } from '../../lib/pkarr/records.ts';
import { isNodeId, publicKeyFromNodeId } from '../../lib/nodeId.ts';
import { isEd25519Point } from '../../lib/pkarr/signedPacket.ts';
import { PkarrDht } from './dht.ts';
import { resolveFromNetwork } from './service.ts';
import type { RelayClientOptions } from './relayClient.ts';

export interface DiscoveryOptions {
  /** pkarr relays: URLs or alknet node addresses (config [pkarr] relays). */
  relays?: readonly string[];
  /** DHT nodes to join for the lookup (config [pkarr] dhtBootstrap when [pkarr] dht is on); empty: no DHT. */
  dhtBootstrap?: readonly string[];
  /** UDP address of the short-lived DHT node (default "0.0.0.0:0"). */
  dhtListen?: string;
  /** How long one DHT query waits, ms (default 2000). */
  dhtQueryTimeoutMs?: number;
  /** DNS servers (host:port) asked for `_alknet.<id>` TXT. */
  dnsServers?: readonly string[];
  /** known_nodes: an address the node was last met at is tried first. */
  knownNodesPath?: string;
  relayClient?: RelayClientOptions;
  /** Per source, ms (default 10000). */
  timeoutMs?: number;
}

export interface Discovered {
  /** host:port candidates, best first, without duplicates. */
  addresses: string[];
  /** Where each came from, for -v and errors. */
  sources: { address: string; source: 'known_nodes' | 'dht' | 'relay' | 'dns' }[];
  /** What was asked and what failed, one line each. */
  notes: string[];
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function fromDns(nodeId: string, servers: readonly string[], timeoutMs: number, notes: string[]): Promise<HostPort[]> {
  const out: HostPort[] = [];
  for (const server of servers) {
    try {
      const { host, port } = parseHostPort(server);
      const resolver = new Resolver({ timeout: Math.min(timeoutMs, 5_000), tries: 2 });
      resolver.setServers([formatHostPort({ host, port })]);
      const records = await withTimeout(resolver.resolveTxt(`${ALKNET_LABEL}.${nodeId}`), timeoutMs, `DNS ${server}`);
      for (const strings of records) {
        for (const token of strings.join('').split(/[\s;]+/)) {
          if (!token.startsWith('addr=')) continue;
          try {
            out.push(parseHostPort(token.slice(5)));
          } catch {
            // skipped
          }
        }
      }
      if (out.length > 0) return out;
      notes.push(`DNS ${server}: no _alknet address`);
    } catch (err) {
      notes.push(`DNS ${server}: ${(err as Error).message}`);
    }
  }
  return out;
}

/** Looks a node id up; never throws for a source that fails (it becomes a note). */
export async function discoverNode(nodeId: string, opts: DiscoveryOptions = {}): Promise<Discovered> {
  if (!isNodeId(nodeId)) throw new Error(`"${nodeId.slice(0, 60)}" is not a node id (52 z-base-32 characters)`);
  if (!isEd25519Point(publicKeyFromNodeId(nodeId))) throw new Error(`${nodeId} is not a node id: not an Ed25519 public key`);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const found: Discovered = { addresses: [], sources: [], notes: [] };
  const add = (a: HostPort, source: Discovered['sources'][number]['source']) => {
    const text = formatHostPort(a);
    if (found.addresses.includes(text)) return;
    found.addresses.push(text);
    found.sources.push({ address: text, source });
  };

  if (opts.knownNodesPath) {
    try {
      for (const e of await readKnownNodes(opts.knownNodesPath)) if (e.nodeId === nodeId) add(parseHostPort(e.address), 'known_nodes');
    } catch (err) {
      found.notes.push(`${path.basename(opts.knownNodesPath)}: ${(err as Error).message}`);
    }
  }

  const relays = opts.relays ?? [];
  const bootstrap = opts.dhtBootstrap ?? [];
  let dht: PkarrDht | null = null;
  if (bootstrap.length > 0) {
    try {
      dht = await PkarrDht.start({ listen: opts.dhtListen ?? '0.0.0.0:0', bootstrap, readyTimeoutMs: Math.min(timeoutMs, 5_000), ...(opts.dhtQueryTimeoutMs ? { queryTimeoutMs: opts.dhtQueryTimeoutMs } : {}) });
    } catch (err) {
      found.notes.push(`DHT: ${(err as Error).message}`);
    }
  }
  try {
    if (dht || relays.length > 0) {
      const best = await withTimeout(
        resolveFromNetwork(nodeId, { dht, relays, ...(opts.relayClient ? { relayClient: { timeoutMs, ...opts.relayClient } } : { relayClient: { timeoutMs } }), onError: (where, err) => found.notes.push(`${where}: ${err.message}`) }),
        timeoutMs + 1_000,
        'DHT and relays',
      ).catch((err: Error) => (found.notes.push(err.message), null));
      if (best) for (const a of readNodeRecords(best.packet.dnsPacket, nodeId).addresses) add(a, best.source);
      else found.notes.push(`no signed packet from ${[dht ? 'the DHT' : '', relays.length ? `${relays.length} relay(s)` : ''].filter(Boolean).join(' or ')}`);
    }
  } finally {
    await dht?.destroy();
  }

  if (found.sources.every((s) => s.source === 'known_nodes') && (opts.dnsServers ?? []).length > 0) {
    for (const a of await fromDns(nodeId, opts.dnsServers!, timeoutMs, found.notes)) add(a, 'dns');
  }
  return found;
}

/** Whether any source is configured (besides known_nodes). */
export function hasDiscoverySources(opts: DiscoveryOptions): boolean {
  return (opts.relays?.length ?? 0) + (opts.dhtBootstrap?.length ?? 0) + (opts.dnsServers?.length ?? 0) > 0;
}

/**
 * Tries each discovered address in turn with `dial` (which must pin `nodeId`); the first that
 * connects wins. Throws one line naming what was tried.
 */
export async function dialDiscovered<T>(nodeId: string, opts: DiscoveryOptions, dial: (address: string) => Promise<T>): Promise<{ value: T; address: string }> {
  const found = await discoverNode(nodeId, opts);
  if (found.addresses.length === 0) {
    const why = hasDiscoverySources(opts) ? found.notes.join('; ') : 'no relays, DHT or DNS servers are configured ([pkarr] in config.toml)';
    throw new Error(`cannot find node ${nodeId}: ${why}; give NODEID@HOST:PORT`);
  }
  const failures: string[] = [];
  for (const { address, source } of found.sources) {
    try {
      return { value: await dial(`${nodeId}@${address}`), address };
    } catch (err) {
      failures.push(`${address} (${source}): ${(err as Error).message}`);
    }
  }
  throw new Error(`node ${nodeId} found but not reachable: ${failures.join('; ')}`);
}

/**
 * After a pinned dial to a discovered address: records it in known_nodes (where the node was last
 * met, what peers.resolve answers), unless that address is already recorded for another key.
 */
export async function rememberAddress(knownNodesPath: string, nodeId: string, address: string): Promise<void> {
  const { lookupKnownNode, recordKnownNode } = await import('../peers/knownNodes.ts');
  const { host, port } = parseHostPort(address);
  const known = await lookupKnownNode(knownNodesPath, host, port);
  if (known === undefined) await recordKnownNode(knownNodesPath, host, port, nodeId);
}

/** Discovery options from a home's config.toml [pkarr] (the DHT only when [pkarr] dht is on). */
export function discoveryFromConfig(pkarr: { relays: string[]; dht: boolean; dhtListen: string; dhtBootstrap: string[]; dnsServers: string[] }, knownNodesPath?: string): DiscoveryOptions {
  // A short-lived DHT node of our own: the node's own DHT port may be taken by a running node.
  const listenHost = /^(.*):\d+$/.exec(pkarr.dhtListen)?.[1] ?? '0.0.0.0';
  return {
    relays: pkarr.relays,
    dhtBootstrap: pkarr.dht ? pkarr.dhtBootstrap : [],
    dhtListen: `${listenHost}:0`,
    dnsServers: pkarr.dnsServers,
    ...(knownNodesPath ? { knownNodesPath } : {}),
  };
}
