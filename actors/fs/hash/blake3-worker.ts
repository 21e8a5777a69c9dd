// Body of a BLAKE3 hashing worker thread: hashes batches of bao groups for blake3-pool.ts and
// answers each group's chaining value. It only computes; comparing with the expected values (and
// so deciding what is verified) stays on the main thread.
import { parentPort } from 'node:worker_threads';
import { OUT_LEN, subtreeCV } from './blake3.ts';
import type { PoolReply, PoolRequest } from './blake3-pool-wire.ts';
import { META_FIELDS } from './blake3-pool-wire.ts';

const port = parentPort;
if (!port) throw new Error('blake3-worker: must run as a worker thread');

port.on('message', (request: PoolRequest) => {
  let reply: PoolReply;
  try {
    const bytes = new Uint8Array(request.buf);
    const meta = new Float64Array(request.meta);
    const count = meta.length / META_FIELDS;
    const cvs = new Uint8Array(count * OUT_LEN);
    for (let i = 0; i < count; i++) {
      const at = meta[i * META_FIELDS]!;
      const len = meta[i * META_FIELDS + 1]!;
      cvs.set(subtreeCV(bytes.subarray(at, at + len), meta[i * META_FIELDS + 2]!, meta[i * META_FIELDS + 3] === 1), i * OUT_LEN);
    }
    reply = { id: request.id, buf: request.buf, cvs: cvs.buffer };
    port.postMessage(reply, [request.buf, cvs.buffer]);
  } catch (error) {
    reply = { id: request.id, buf: request.buf, error: (error as Error).message };
    port.postMessage(reply);
  }
});
