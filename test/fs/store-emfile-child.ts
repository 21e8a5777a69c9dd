// Child process of store-emfile.test.ts, run under a low `ulimit -n`: a local fs actor with a blob
// and a collection, then every descriptor taken, then reads by message. Prints one JSON line with
// the error code (or "ok") of each read, gives the descriptors back and checks the reads work again.
import fs from 'node:fs';
import { startLocalFs } from '../../actors/fs/local.ts';
import { encodeCollection } from '../../actors/fs/collection.ts';

const home = process.argv[2]!;
const local = startLocalFs(home, { hashWorkers: 0 });
const bus = local.bus;
const { hash } = await bus.request('fs', 'fs.addBytes', { bytes: new Uint8Array(100_000).fill(7) });
const collection = (await bus.request('fs', 'fs.addBytes', { bytes: encodeCollection([{ name: 'a', hash }]) })).hash;

const reads: Record<string, () => Promise<unknown>> = {
  readBytes: () => bus.request('fs', 'fs.readBytes', { hash }),
  readSlice: () => bus.request('fs', 'fs.readSlice', { hash }),
  isCollection: () => bus.request('fs', 'fs.isCollection', { hash: collection }),
  readCollection: () => bus.request('fs', 'fs.readCollection', { hash: collection }),
};
async function outcomes(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, read] of Object.entries(reads)) {
    try {
      await read();
      out[name] = 'ok';
    } catch (err) {
      out[name] = (err as { code?: string }).code ?? 'thrown';
    }
  }
  return out;
}

// Take every descriptor left (bounded: the ulimit is low).
const held: number[] = [];
for (let i = 0; i < 100_000; i++) {
  try {
    held.push(fs.openSync('/dev/null', 'r'));
  } catch {
    break;
  }
}
const starved = await outcomes();
for (const fd of held) fs.closeSync(fd);
const after = await outcomes();
process.stdout.write(`${JSON.stringify({ held: held.length, starved, after })}\n`);
await local.stop();
