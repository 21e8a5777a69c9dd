// Supervisor restart latency through a whole node: a protocol actor's session escalates (crash),
// the protocols supervisor restarts the actor, and we measure until a new connection to that ALPN
// is served again ("crash → accepting again"), over TLS, next to a plain connect+echo on a healthy
// ALPN of the same node (the floor of the measurement).
//   npx tsx bench/restart.ts [--short]
// Never fails on timing. `measureRestart` is also run by bench/transport.ts, so one run prints
// every figure.
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { fromCallback, setup } from 'xstate';
import { pino } from 'pino';
import { createVaultFile } from '../actors/vault/vaultFile.ts';
import { startNode } from '../supervisors/startNode.ts';
import { dial } from '../actors/listener/dial.ts';
import { ephemeralKeyPair } from '../actors/listener/tlsIdentity.ts';
import { escalate, sessionFromHandler, type SessionInput } from '../protocols/protocol.ts';

/** Crash/restart rounds of a full run and of a short one (CI smoke). */
export const RESTART_ROUNDS = { full: 20, short: 3 } as const;
const CRASHY = 'bench/crashy';
const ECHO = 'bench/echo';

const crashy = fromCallback<{ type: 'crash' }, SessionInput>(({ input, sendBack }) => {
  input.conn.onStream((stream) => {
    stream.on('data', (chunk: Buffer) => (chunk.toString() === 'crash' ? sendBack({ type: 'crash' }) : stream.write(chunk)));
    stream.on('error', () => {});
  });
});
const crashySession = setup({ types: { input: {} as SessionInput, context: {} as SessionInput }, actors: { crashy } }).createMachine({
  context: ({ input }) => input,
  invoke: { src: 'crashy', input: ({ context }) => context },
  on: { crash: { actions: escalate('bench crash') } },
});

function once(stream: Duplex, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.once('data', () => resolve());
    stream.once('error', reject);
    stream.once('close', () => reject(new Error('closed')));
    stream.write(text);
  });
}

/** Milliseconds per round of each measure. */
export interface RestartTimes {
  /** connect + echo on a healthy ALPN of the same node (the floor of the measurement). */
  floor: number[];
  /** protocol actor crash → a new connection to its ALPN served again. */
  restart: number[];
}

/**
 * `rounds` × (connect+echo on a healthy ALPN; crash the other protocol actor and time until a new
 * connection to it is served), over TLS, on a node of its own in a temporary home. Rounds are
 * ~1.7 s apart to stay under the restart intensity (3 in 5 s).
 */
export async function measureRestart(rounds: number): Promise<RestartTimes> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-bench-restart-'));
  await createVaultFile(home, { passphrase: 'bench', kdf: { N: 1024, r: 8, p: 1 } });
  const node = await startNode({
    home, passphrase: 'bench', listen: '127.0.0.1:0', tensor: false, logger: pino({ level: 'silent' }),
    protocols: [{ alpn: CRASHY, session: crashySession }, { alpn: ECHO, session: sessionFromHandler(({ conn }) => conn.onStream((s) => s.pipe(s))) }],
  });
  const address = `${node.nodeId}@${node.address}`;
  const identity = ephemeralKeyPair();
  const knownNodesPath = path.join(home, 'known_nodes');
  const connectAndEcho = async (alpn: string): Promise<void> => {
    const conn = await dial(address, { alpn, transport: 'tls', identity, knownNodesPath });
    try {
      await once(await conn.openStream(), 'ping');
    } finally {
      await conn.close();
    }
  };

  const floor: number[] = [];
  const restart: number[] = [];
  for (let i = 0; i < rounds; i++) {
    let t = performance.now();
    await connectAndEcho(ECHO);
    floor.push(performance.now() - t);

    const victim = await dial(address, { alpn: CRASHY, transport: 'tls', identity, knownNodesPath });
    const stream = await victim.openStream();
    stream.on('error', () => {});
    t = performance.now();
    stream.write('crash');
    // Retry until the restarted actor serves a new connection.
    for (;;) {
      try {
        await connectAndEcho(CRASHY);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 1));
      }
    }
    restart.push(performance.now() - t);
    await victim.close().catch(() => {});
    // Stay under the restart intensity (3 in 5 s); no wait after the last round.
    if (i < rounds - 1) await new Promise((r) => setTimeout(r, 5_100 / 3));
  }
  await node.stop();
  fs.rmSync(home, { recursive: true, force: true });
  return { floor, restart };
}

/** The median of a non-empty list. */
export function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

async function main(): Promise<void> {
  const rounds = process.argv.includes('--short') ? RESTART_ROUNDS.short : RESTART_ROUNDS.full;
  const { floor, restart } = await measureRestart(rounds);
  console.log(`protocol actor restart: ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? '?'}, Node ${process.version}, ${rounds} rounds, TLS`);
  console.log('| measure | median ms | max ms |');
  console.log('|---|---|---|');
  console.log(`| connect + echo, healthy ALPN (floor) | ${median(floor).toFixed(2)} | ${Math.max(...floor).toFixed(2)} |`);
  console.log(`| crash → new connection served | ${median(restart).toFixed(2)} | ${Math.max(...restart).toFixed(2)} |`);
}

// Standalone only: bench/transport.ts imports this module for `measureRestart`.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
