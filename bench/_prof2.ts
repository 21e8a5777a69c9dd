import fs from 'node:fs'; import os from 'node:os'; import path from 'node:path';
import { BlobStore } from '../actors/fs/store.ts';
import { encodeCombined } from '../actors/fs/bao.ts';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prof-'));
const st = await BlobStore.open(dir);
const size = 64 * 1024 * 1024; const data = new Uint8Array(size); for (let i = 0; i < size; i += 4096) data[i] = i & 255;
const { hash, encoded } = encodeCombined(data, { chunkGroupLog: 4 });
const hex = Buffer.from(hash).toString('hex');
for (let r = 0; r < 3; r++) {
  if (r) await st.delete(hex);
  let t = performance.now();
  await st.beginPartial(hex, size);
  const t1 = performance.now();
  async function* pieces() { for (let i = 0; i < encoded.length; i += 16384) yield encoded.subarray(i, i + 16384); }
  // stop before completion to time just the verify+write: write all but the last range?
  const res = await st.writeEncoded(hex, undefined, pieces());
  const t2 = performance.now();
  console.log(`begin ${(t1 - t).toFixed(0)} ms, writeEncoded+complete ${(t2 - t1).toFixed(0)} ms (${(size / 1e6 / ((t2 - t1) / 1000)).toFixed(0)} MB/s) complete=${res.complete}`);
}
await st.close(); fs.rmSync(dir, { recursive: true, force: true });
