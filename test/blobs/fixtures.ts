// Shared fixtures of the alknet/blobs tests: throwaway homes with a cheap-KDF vault, nodes on
// 127.0.0.1:0 serving alknet/blobs (optionally with the provider's test-only faults), the node's
// own BlobStore through the local-only fs.store message, and deterministic content.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { createVaultFile } from '../../actors/vault/vaultFile.ts';
import type { BlobStore } from '../../actors/fs/store.ts';
import { startNode, type RunningNode } from '../../supervisors/startNode.ts';
import { blobsProtocol, type ProviderFaults } from '../../protocols/blobs/provider.ts';

export const projectRoot = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const BIN = path.join(projectRoot, 'cli', 'bin.js');
export const PASSPHRASE = 'blobs-test passphrase';
const TEST_KDF = { N: 1024, r: 8, p: 1 };

export interface BlobNode {
  node: RunningNode;
  home: string;
  store: BlobStore;
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
  const { store } = await node.bus.request('fs', 'fs.store', {}, { deadlineMs: 10_000 });
  return {
    node, home, store, address: `${node.nodeId}@${node.address}`,
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

export async function readAll(store: BlobStore, hash: string): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const piece of await store.get(hash)) parts.push(piece);
  return Buffer.concat(parts);
}
