import fs from 'node:fs'; import fsp from 'node:fs/promises'; import os from 'node:os'; import path from 'node:path';
import { BaoDecoder, encodeCombined } from '../actors/fs/bao.ts';
import { OutboardEncoder } from '../actors/fs/bao-stream.ts';
const size = 64 * 1024 * 1024; const data = new Uint8Array(size); for (let i = 0; i < size; i += 4096) data[i] = i & 255;
const { hash, encoded } = encodeCombined(data, { chunkGroupLog: 4 });
const f = path.join(os.tmpdir(), 'prof3.bin');
for (let r = 0; r < 2; r++) {
  let t = performance.now();
  const dec = new BaoDecoder(hash, size, { chunkGroupLog: 4 });
  let n = 0;
  for (let i = 0; i < encoded.length; i += 16384) for (const g of dec.write(encoded.subarray(i, i + 16384))) n += g.data.length;
  let t1 = performance.now(); console.log('decode', (t1 - t).toFixed(0));
  const fh = await fsp.open(f, 'w'); await fh.truncate(size);
  t = performance.now();
  for (let i = 0; i < size; i += 16384) await fh.write(data, i, 16384, i);
  t1 = performance.now(); console.log('16K writes', (t1 - t).toFixed(0));
  t = performance.now(); await fh.sync(); t1 = performance.now(); console.log('fsync', (t1 - t).toFixed(0));
  await fh.close();
  t = performance.now();
  const enc = new OutboardEncoder({ chunkGroupLog: 4 });
  for await (const p of fs.createReadStream(f, { highWaterMark: 256 * 1024 })) enc.update(p as Buffer);
  enc.finish(); t1 = performance.now(); console.log('rehash', (t1 - t).toFixed(0));
}
fs.rmSync(f);
