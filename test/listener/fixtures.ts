// Shared helpers for the transport tests: keys, an echo listener, reading a stream to its end.
import type { Duplex } from 'node:stream';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { startListener } from '../../actors/listener/listener.ts';
import type { Listener, ListenerLimits } from '../../actors/listener/listener.ts';
import type { Connection } from '../../actors/listener/connection.ts';
import type { NodeKeyPair } from '../../actors/listener/tlsIdentity.ts';

export const TEST_ALPN = 'alknet/test-echo';

export function newKeys(): NodeKeyPair {
  const privateKey = ed25519.utils.randomSecretKey();
  return { privateKey, publicKey: ed25519.getPublicKey(privateKey) };
}

/** Every stream the server accepts is echoed back; accepted connections are collected. */
export async function echoListener(opts: { keys?: NodeKeyPair; limits?: ListenerLimits; port?: number } = {}):
  Promise<{ listener: Listener; keys: NodeKeyPair; accepted: Connection[] }> {
  const keys = opts.keys ?? newKeys();
  const accepted: Connection[] = [];
  const listener = await startListener({
    host: '127.0.0.1',
    port: opts.port ?? 0,
    alpns: [TEST_ALPN, 'alknet/other'],
    identity: keys,
    limits: opts.limits,
    onConnection: (conn) => {
      accepted.push(conn);
      conn.onStream((stream) => stream.pipe(stream));
    },
  });
  return { listener, keys, accepted };
}

/** Reads a stream to its end (bounded by a deadline so a bug cannot hang the suite). */
export function readAll(stream: Duplex, timeoutMs = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => reject(new Error('readAll timed out')), timeoutMs);
    stream.on('data', (c: Buffer) => chunks.push(Buffer.from(c)));
    stream.once('end', () => { clearTimeout(timer); resolve(Buffer.concat(chunks)); });
    stream.once('error', (err) => { clearTimeout(timer); reject(err); });
  });
}

/** Writes `data`, ends the stream and returns what came back. */
export async function echo(stream: Duplex, data: Buffer): Promise<Buffer> {
  const back = readAll(stream);
  stream.end(data);
  return back;
}

export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'alknet-transport-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Resolves with the value, or rejects after ms (so a test fails instead of hanging). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms); });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Polls until cond() is true (the server side of a handshake finishes after the client's). */
export async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what}: not true within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
