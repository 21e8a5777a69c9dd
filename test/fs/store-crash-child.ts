// Child process for test/fs/store-crash.test.ts: adds a few small blobs (printing "acked HASH" once
// each add has returned), then starts one endless add that the test kills with SIGKILL midway.
import { BlobStore } from '../../actors/fs/store.ts';

const home = process.argv[2]!;
const store = await BlobStore.open(home);
for (let i = 0; i < 3; i++) {
  const { hash } = await store.add(new TextEncoder().encode(`acknowledged blob ${i}`.repeat(1000 * (i + 1))));
  process.stdout.write(`acked ${hash}\n`);
}
async function* endless(): AsyncGenerator<Uint8Array> {
  const piece = new Uint8Array(1024 * 1024);
  // At most 4 GiB, so a test that fails to kill the child still ends.
  for (let i = 0; i < 4096; i++) {
    piece[0] = i & 0xff;
    yield piece;
  }
}
process.stdout.write('big\n');
await store.add(endless());
process.stdout.write('big done\n');
await store.close();
