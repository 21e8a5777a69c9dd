// known_nodes: the trust-on-first-use record of which node key answered at which address, one
// `host:port NODEID` per line, like ssh's known_hosts. Lines starting with # and blank lines are
// kept as they are; malformed lines are ignored on read and kept on rewrite (never silently lost).
// Writes are atomic (temp file, fsync, rename) so a crash leaves the old or the new file.
import { readFile } from 'node:fs/promises';
import { isNodeId } from '../vault/nodeId.ts';
import type { NodeId } from '../vault/nodeId.ts';
import { writeFileAtomic } from '../../lib/atomicFile.ts';

/** A known_nodes file above this size is refused rather than parsed. */
export const MAX_KNOWN_NODES_BYTES = 4 * 1024 * 1024;

export interface KnownNode {
  /** Normalized `host:port` (lower-case host, IPv6 in brackets). */
  address: string;
  nodeId: NodeId;
}

/** The key under which an address is recorded: lower-case host, IPv6 bracketed. */
export function knownNodeKey(host: string, port: number): string {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  return h.includes(':') ? `[${h}]:${port}` : `${h}:${port}`;
}

function parseLine(line: string): KnownNode | undefined {
  const trimmed = line.trim();
  if (trimmed === '' || trimmed.startsWith('#')) return undefined;
  const parts = trimmed.split(/\s+/);
  if (parts.length !== 2) return undefined;
  const [address, nodeId] = parts as [string, string];
  const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):(\d{1,5})$/.exec(address);
  if (m === null || !isNodeId(nodeId)) return undefined;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  return { address: knownNodeKey(m[1]!, port), nodeId };
}

export function parseKnownNodes(text: string): KnownNode[] {
  const out: KnownNode[] = [];
  for (const line of text.split('\n')) {
    const entry = parseLine(line);
    if (entry !== undefined) out.push(entry);
  }
  return out;
}

async function readText(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
  if (Buffer.byteLength(text) > MAX_KNOWN_NODES_BYTES) {
    throw new Error(`${path} is larger than ${MAX_KNOWN_NODES_BYTES} bytes; refusing to read it`);
  }
  return text;
}

export async function readKnownNodes(path: string): Promise<KnownNode[]> {
  return parseKnownNodes(await readText(path));
}

/** The node id recorded for host:port (the first entry wins), if any. */
export async function lookupKnownNode(path: string, host: string, port: number): Promise<NodeId | undefined> {
  const key = knownNodeKey(host, port);
  return (await readKnownNodes(path)).find((e) => e.address === key)?.nodeId;
}

// Writers in this process take turns per file, so two concurrent first contacts cannot lose
// each other's line. (Across processes the rename keeps the file whole; the last writer wins.)
const writeQueues = new Map<string, Promise<void>>();

function serialized(path: string, job: () => Promise<void>): Promise<void> {
  const previous = writeQueues.get(path) ?? Promise.resolve();
  const next = previous.then(job, job);
  const tail = next.catch(() => {});
  writeQueues.set(path, tail);
  void tail.then(() => {
    if (writeQueues.get(path) === tail) writeQueues.delete(path);
  });
  return next;
}

/** Records (or replaces) the node id for host:port. */
export function recordKnownNode(path: string, host: string, port: number, nodeId: NodeId): Promise<void> {
  if (!isNodeId(nodeId)) throw new Error(`"${nodeId}" is not a node id`);
  const key = knownNodeKey(host, port);
  return serialized(path, async () => {
    const lines = (await readText(path)).split('\n').filter((line, i, all) => !(i === all.length - 1 && line === ''));
    const kept = lines.filter((line) => parseLine(line)?.address !== key);
    kept.push(`${key} ${nodeId}`);
    writeFileAtomic(path, `${kept.join('\n')}\n`);
  });
}

/** Forgets host:port (the user's answer to a changed key they have checked out of band). */
export function forgetKnownNode(path: string, host: string, port: number): Promise<void> {
  const key = knownNodeKey(host, port);
  return serialized(path, async () => {
    const text = await readText(path);
    if (text === '') return;
    const kept = text.split('\n').filter((line) => parseLine(line)?.address !== key);
    writeFileAtomic(path, kept.join('\n'));
  });
}
