// Shared fixtures of the alknet/blobs tests: throwaway homes with a cheap-KDF vault, nodes on
// 127.0.0.1:0 serving alknet/blobs (optionally with the provider's test-only faults), the node's
// blob store reached by message (the fs actor's fs.* requests, as the protocol itself does), and
// deterministic content.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { createVaultFile } from '../../actors/vault/vaultFile.ts';
import type { Bus } from '../../bus/bus.ts';
import { FS_SYSTEM_ID } from '../../actors/fs/messages.ts';
import type { ByteRange } from '../../actors/fs/hash/bao.ts';
import { startNode, type RunningNode } from '../../supervisors/startNode.ts';
import { blobsProtocol, type ProviderFaults } from '../../protocols/blobs/provider.ts';

export const projectRoot = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const BIN = path.join(projectRoot, 'cli', 'bin.js');
export const PASSPHRASE = 'blobs-test passphrase';
const TEST_KDF = { N: 1024, r: 8, p: 1 };

/** The fs actor of a bus, by message: what a test needs of a store. */
export interface FsClient {
  bus: Pick<Bus, 'request'>;
  addBytes(data: Uint8Array, tag?: string): Promise<string>;
  /** Adds a file or a folder (a collection) by its absolute path. */
  addPath(file: string, tag?: string): Promise<string>;
  has(hash: string): Promise<boolean>;
  stat(hash: string): Promise<{ size: number; complete: boolean; groups: number; verifiedGroups: number; tags: string[] }>;
  missingRanges(hash: string): Promise<ByteRange[]>;
  /** The content (or ranges of it), read 4 MiB per request. */
  read(hash: string, ranges?: ByteRange[]): Promise<Buffer>;
  readCollection(hash: string): Promise<{ entries: Array<{ name: string; hash: string; executable?: boolean }>; links: Array<{ name: string; target: string }>; dirs: string[] }>;
}

const D = { deadlineMs: 30_000 };

export function fsClient(bus: Pick<Bus, 'request'>): FsClient {
  const client: FsClient = {
    bus,
    async addBytes(data, tag) {
      return (await bus.request(FS_SYSTEM_ID, 'fs.addBytes', { bytes: data, ...(tag ? { tag } : {}) }, D)).hash;
    },
    async addPath(file, tag) {
      return (await bus.request(FS_SYSTEM_ID, 'fs.addPath', { path: path.resolve(file), ...(tag ? { tag } : {}) }, D)).hash;
    },
    async has(hash) {
      return (await bus.request(FS_SYSTEM_ID, 'fs.has', { hash }, D)).has;
    },
    stat: (hash) => bus.request(FS_SYSTEM_ID, 'fs.stat', { hash }, D),
    async missingRanges(hash) {
      return (await bus.request(FS_SYSTEM_ID, 'fs.missingRanges', { hash }, D)).ranges;
    },
    async read(hash, ranges) {
      const { size } = await client.stat(hash);
      const want = ranges ?? [{ start: 0, len: size }];
      const parts: Uint8Array[] = [];
      for (const r of want) {
        for (let at = r.start; at < r.start + r.len; at += 4 * 1024 * 1024) {
          const len = Math.min(4 * 1024 * 1024, r.start + r.len - at);
          parts.push((await bus.request(FS_SYSTEM_ID, 'fs.readBytes', { hash, ranges: [{ start: at, len }] }, D)).bytes);
        }
      }
      return Buffer.concat(parts);
    },
    readCollection: (hash) => bus.request(FS_SYSTEM_ID, 'fs.readCollection', { hash }, D),
  };
  return client;
}

export interface BlobNode extends FsClient {
  node: RunningNode;
  home: string;
  /** NODEID@127.0.0.1:PORT */
  address: string;
  stop(): Promise<void>;
}

export async function makeHome(prefix = 'alknet-blobs-'): Promise<string> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  await createVaultFile(home, { passphrase: PASSPHRASE, kdf: TEST_KDF });
  return home;
}

export async function startBlobNode(opts: { faults?: ProviderFaults } = {}): Promise<BlobNode> {
  const home = await makeHome();
  const node = await startNode({
    home, passphrase: PASSPHRASE, listen: '127.0.0.1:0', tensor: false,
    protocols: [blobsProtocol({ faults: opts.faults })], logger: pino({ level: 'silent' }),
  });
  return {
    ...fsClient(node.bus), node, home, address: `${node.nodeId}@${node.address}`,
    async stop() {
      await node.stop();
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}

/** Deterministic pseudo-random bytes (xorshift), so a failure is reproducible. */
export function content(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = (0x9e3779b9 ^ seed) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

