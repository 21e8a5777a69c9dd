// Load scenario for concurrency.test.ts, run in its own `node --expose-gc` process: node:test's own
// bookkeeping keeps per-promise state alive, which would hide or fake a leak in the code under test.
// A real node (startNode) on 127.0.0.1 and one client (connect(), the public API) per transport, in
// this process. The operation hold/echo waits at a gate, so exactly the connection's in-flight limit
// (1,000) of a burst is running at once; the rest must be answered BUSY, at once.
// Usage: node --expose-gc --import tsx test/call/callLoad.ts quic|tls 256,10000
// Prints one JSON line per burst, then one with the heap before and after and the connection counts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Type } from '@sinclair/typebox';
import { pino } from 'pino';
import { connect } from '../../protocols/call/connect.ts';
import { CallError } from '../../operations/errors.ts';
import { defineOperation } from '../../operations/catalogue.ts';
import { createVaultFile } from '../../actors/vault/vaultFile.ts';
import { startNode } from '../../supervisors/startNode.ts';
import { ephemeralKeyPair } from '../../actors/listener/tlsIdentity.ts';
import { waitFor } from './helpers.ts';

const transport = process.argv[2] === 'tls' ? 'tls' : 'quic';
const bursts = (process.argv[3] ?? '256,10000').split(',').map(Number);
const LIMIT = 1_000; // the per-connection in-flight limit of alknet/call (createConnectionCallServer's default)

let release!: () => void;
let gate = new Promise<void>((resolve) => (release = resolve));
let held = 0;

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-call-load-'));
await createVaultFile(home, { passphrase: 'load', kdf: { N: 1024, r: 8, p: 1 } });
const node = await startNode({ home, passphrase: 'load', listen: '127.0.0.1:0', tensor: false, logger: pino({ level: 'silent' }) });
node.operations.register(
  defineOperation({
    name: 'hold/echo',
    type: 'query',
    input: Type.Object({ n: Type.Integer() }),
    output: Type.Integer(),
    scopes: [],
    visibility: 'external',
    async handler({ n }) {
      held++;
      try {
        await gate;
      } finally {
        held--;
      }
      return n;
    },
  }),
  'load',
);
let accepted = 0;
let closed = 0;
node.bus.subscribe('connection.accepted', () => void accepted++);
node.bus.subscribe('connection.closed', () => void closed++);

const client = await connect(`${node.nodeId}@${node.address}`, {
  transport,
  identity: ephemeralKeyPair(),
  knownNodesPath: path.join(home, 'known_nodes'),
});

const gc = (globalThis as { gc?: () => void }).gc;
const heap = async (): Promise<number | null> => {
  if (!gc) return null;
  // Let timers of finished calls and streams run out before measuring.
  await new Promise((r) => setTimeout(r, 200));
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

interface Tally {
  calls: number;
  ok: number;
  busy: number;
  other: string[];
  heldPeak: number;
}

/** `calls` calls at once; the gate opens once the limit is running and every other call has its answer. */
async function burst(calls: number, holdFirst: boolean): Promise<Tally> {
  let settled = 0;
  const all = Array.from({ length: calls }, (_, n) => client.call<number>('/hold/echo', { n }).finally(() => void settled++));
  const results = Promise.allSettled(all);
  let heldPeak = 0;
  if (holdFirst) {
    const running = Math.min(calls, LIMIT);
    await waitFor(() => held === running && settled === calls - running, 60_000);
    heldPeak = held;
    release();
  }
  const tally: Tally = { calls, ok: 0, busy: 0, other: [], heldPeak };
  (await results).forEach((r, n) => {
    if (r.status === 'fulfilled' && r.value === n) tally.ok++;
    else if (r.status === 'rejected' && r.reason instanceof CallError && r.reason.code === 'BUSY' && r.reason.retryable) tally.busy++;
    else if (tally.other.length < 5) tally.other.push(r.status === 'fulfilled' ? `wrong value ${r.value}` : String(r.reason));
  });
  return tally;
}

release();
await burst(200, false); // warm-up: compile the code paths before the baseline
const heapBefore = await heap();
const connectionsBefore = { accepted, closed };
for (const calls of bursts) {
  gate = new Promise<void>((resolve) => (release = resolve));
  console.log(JSON.stringify(await burst(calls, true)));
}
const afterwards = await burst(50, false);
const heapAfter = await heap();
console.log(JSON.stringify({
  transport,
  heapBefore,
  heapAfter,
  heldAfter: held,
  afterwardsOk: afterwards.ok,
  connectionsAtStart: connectionsBefore.accepted,
  newConnections: accepted - connectionsBefore.accepted,
  closedConnections: closed - connectionsBefore.closed,
}));
await client.close();
await node.stop();
fs.rmSync(home, { recursive: true, force: true });
