// The providing node of bench/blobs.ts's network table, run in its own process so that it has its
// own thread, as a real provider does: the receiver's numbers then no longer include the
// provider's file reads and TLS encryption on the same thread.
// Usage: node --import tsx bench/blobs-provider.ts DIR BYTES
// Starts a node in DIR/provider (127.0.0.1, free port) with alknet/blobs and a counting sink,
// adds BYTES of pseudo-random content, prints one JSON line {address, hash}, and stops (exit 0)
// when its stdin ends or on SIGTERM.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { createVaultFile } from '../actors/vault/vaultFile.ts';
import { startNode } from '../supervisors/startNode.ts';
import { sessionFromHandler, type ProtocolSpec } from '../protocols/protocol.ts';
import { blobsProtocol } from '../protocols/blobs/provider.ts';

/** ALPN of the raw bulk stream's sink. */
export const SINK = 'bench/sink';

/** Counts what a stream carries and answers the count when the writer ends. */
export const sinkProtocol: ProtocolSpec = {
  alpn: SINK,
  session: sessionFromHandler(({ conn }) => conn.onStream((stream) => {
    let total = 0;
    stream.on('data', (c: Buffer) => { total += c.length; });
    stream.once('end', () => stream.end(String(total)));
  })),
};

/** The bench's content: xorshift32 words, the same bytes for the same size. */
export function benchContent(bytes: number): Uint8Array {
  const data = new Uint8Array(bytes);
  let x = 0x12345678;
  const words = new Uint32Array(data.buffer, 0, bytes >>> 2);
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    words[i] = x >>> 0;
  }
  return data;
}

async function main(): Promise<void> {
  const [dir, bytesArg] = process.argv.slice(2);
  const bytes = Number(bytesArg);
  if (!dir || !Number.isInteger(bytes) || bytes < 0) {
    process.stderr.write('usage: blobs-provider.ts DIR BYTES\n');
    process.exit(2);
  }
  const home = path.join(dir, 'provider');
  await createVaultFile(home, { passphrase: 'bench', kdf: { N: 1024, r: 8, p: 1 } });
  const node = await startNode({
    home, passphrase: 'bench', listen: '127.0.0.1:0', tensor: false,
    protocols: [blobsProtocol(), sinkProtocol], logger: pino({ level: 'silent' }),
  });
  // Added by message, as everything reaches the store: the fs actor reads the file.
  const file = path.join(dir, 'provider-content.bin');
  writeFileSync(file, benchContent(bytes));
  const { hash } = await node.bus.request('fs', 'fs.addPath', { path: path.resolve(file) }, { deadlineMs: 120_000 });
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void node.stop().finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.stdin.on('end', stop).resume();
  process.stdout.write(`${JSON.stringify({ address: `${node.nodeId}@${node.address}`, hash })}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
