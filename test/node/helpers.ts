// Shared helpers for the node-level tests: a throwaway home with a cheap-KDF vault, a node started on
// 127.0.0.1:0 with test protocols, echo and crash-on-demand sessions, and child-process helpers.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { fromCallback, setup } from 'xstate';
import { pino } from 'pino';
import { createVaultFile, openVaultFile } from '../../actors/vault/vaultFile.ts';
import { nodeKeys } from '../../actors/vault/keys.ts';
import type { NodeKeyPair } from '../../actors/listener/tlsIdentity.ts';
import { escalate, sessionFromHandler, type ProtocolSpec, type SessionInput } from '../../protocols/protocol.ts';
import { startNode, type RunningNode, type StartNodeOptions } from '../../supervisors/startNode.ts';

export const projectRoot = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const BIN = path.join(projectRoot, 'cli', 'bin.js');
export const PASSPHRASE = 'node-test passphrase';
/** Cheap scrypt so a test vault opens in milliseconds. */
export const TEST_KDF = { N: 1024, r: 8, p: 1 };

export interface TestHome {
  home: string;
  passphrase: string;
  cleanup(): void;
}

export async function makeHome(prefix = 'alknet-node-'): Promise<TestHome> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  await createVaultFile(home, { passphrase: PASSPHRASE, kdf: TEST_KDF });
  return { home, passphrase: PASSPHRASE, cleanup: () => fs.rmSync(home, { recursive: true, force: true }) };
}

/** The node's own identity key pair (what the node itself dials with). */
export async function homeIdentity(home: string, passphrase = PASSPHRASE): Promise<NodeKeyPair> {
  const secret = await openVaultFile(home, passphrase);
  try {
    const keys = nodeKeys(secret.seed);
    return { publicKey: Uint8Array.from(keys.identity.publicKey), privateKey: Uint8Array.from(keys.identity.privateKey) };
  } finally {
    secret.wipe();
  }
}

export const silentLogger = () => pino({ level: 'silent' });

/** Every stream the peer opens is echoed back. */
export function echoProtocol(alpn: string): ProtocolSpec {
  return {
    alpn,
    session: sessionFromHandler(({ conn }) => {
      conn.onStream((stream) => stream.pipe(stream));
    }),
  };
}

/**
 * Echoes every stream, except that a stream whose data contains "crash" makes the session escalate:
 * the protocol actor fails and its supervisor restarts it.
 */
export function crashableEchoProtocol(alpn: string): ProtocolSpec {
  const streams = fromCallback<{ type: 'crash' }, SessionInput>(({ input, sendBack }) => {
    input.conn.onStream((stream) => {
      stream.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('crash')) sendBack({ type: 'crash' });
        else stream.write(chunk);
      });
      stream.on('end', () => stream.end());
      stream.on('error', () => {});
    });
  });
  const session = setup({ types: { input: {} as SessionInput, context: {} as SessionInput }, actors: { streams } }).createMachine({
    id: 'crashable-echo',
    context: ({ input }) => input,
    invoke: { src: 'streams', input: ({ context }) => context },
    on: { crash: { actions: escalate('the test asked for a crash') } },
  });
  return { alpn, session };
}

/** A node on 127.0.0.1:0 without the tensor service, logging nothing. */
export function startTestNode(home: TestHome, options: Partial<StartNodeOptions> = {}): Promise<RunningNode> {
  return startNode({ home: home.home, passphrase: home.passphrase, listen: '127.0.0.1:0', tensor: false, logger: silentLogger(), ...options });
}

export interface Child {
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with [code, signal]; SIGKILLs the child after `ms` so a hang fails the test instead. */
  exited(ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function spawnChild(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; stdin?: 'pipe' | 'ignore' } = {}): Child {
  const proc = spawn(process.execPath, args, {
    cwd: options.cwd ?? projectRoot,
    env: { ...process.env, ...options.env },
    stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })));
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    exited(ms) {
      const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
      return exit.finally(() => clearTimeout(timer));
    },
  };
}

/** Polls until `read()` returns a value, or fails after ms. */
export async function poll<T>(read: () => T | undefined, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Writes `data` without ending the stream and waits for the same number of bytes back. */
export function roundTrip(stream: import('node:stream').Duplex, data: Buffer, timeoutMs = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const done = (err?: Error) => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('error', onError);
      stream.off('close', onClose);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks));
    };
    const onData = (c: Buffer) => {
      chunks.push(Buffer.from(c));
      got += c.length;
      if (got >= data.length) done();
    };
    const onError = (err: Error) => done(err);
    const onClose = () => done(new Error(`stream closed after ${got} of ${data.length} bytes`));
    const timer = setTimeout(() => done(new Error(`round trip timed out after ${got} of ${data.length} bytes`)), timeoutMs);
    stream.on('data', onData);
    stream.once('error', onError);
    stream.once('close', onClose);
    stream.write(data);
  });
}
