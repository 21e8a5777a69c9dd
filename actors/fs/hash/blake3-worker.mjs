// Entry of a BLAKE3 hashing worker thread (blake3-pool.ts). A worker does not inherit the parent's
// TypeScript loader. From the sources this plain-JS entry registers tsx (as cli/bin.js does) and
// then loads the worker's TypeScript body, which imports the same BLAKE3 kernel as the main thread.
// From dist/ (cli/build.js copies this file there and rewrites the import below to
// './blake3-worker.js') the body is JavaScript already and no loader is registered.
import { existsSync } from 'node:fs';

if (!existsSync(new URL('./blake3-worker.js', import.meta.url))) {
  const { register } = await import('tsx/esm/api');
  register();
}
await import('./blake3-worker.ts');
