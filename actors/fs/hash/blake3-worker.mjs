// Entry of a BLAKE3 hashing worker thread (blake3-pool.ts). A worker does not inherit the parent's
// TypeScript loader, so this plain-JS entry registers tsx (as cli/bin.js does) and then loads the
// worker's TypeScript body, which imports the same BLAKE3 kernel as the main thread.
import { register } from 'tsx/esm/api';

register();
await import('./blake3-worker.ts');
