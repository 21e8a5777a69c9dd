// 256 and 10,000 calls in flight on one client (connect(), over QUIC and over TLS) against a real
// node whose per-connection in-flight limit is 1,000: every call is answered (served or BUSY, never
// UNAVAILABLE), the connection stays up (no new connection, none closed), every slot is given back,
// the same client serves normally afterwards, and the heap returns to its level.
// The load runs in a child `node --expose-gc` (see callLoad.ts) so the heap can be measured.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const BURSTS = [256, 10_000];
const LIMIT = 1_000;

interface Tally {
  calls: number;
  ok: number;
  busy: number;
  other: string[];
  heldPeak: number;
}

interface Summary {
  heapBefore: number | null;
  heapAfter: number | null;
  heldAfter: number;
  afterwardsOk: number;
  connectionsAtStart: number;
  newConnections: number;
  closedConnections: number;
}

function runLoad(transport: 'quic' | 'tls'): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', path.join(here, 'callLoad.ts'), transport, BURSTS.join(',')],
      { cwd: path.resolve(here, '../..'), timeout: 180_000, maxBuffer: 1 << 20 },
      (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out)),
    );
  });
}

for (const transport of ['quic', 'tls'] as const) {
  test(`${transport}: ${BURSTS.join(' and ')} calls in flight on one client: served or BUSY, connection kept, memory back`, async () => {
    const lines = (await runLoad(transport)).trim().split('\n').map((l) => JSON.parse(l) as Tally | Summary);
    const tallies = lines.slice(0, BURSTS.length) as Tally[];
    const summary = lines.at(-1) as Summary;
    for (const [i, calls] of BURSTS.entries()) {
      const t = tallies[i]!;
      assert.equal(t.calls, calls);
      assert.deepEqual(t.other, [], `${calls}: every call is served or BUSY (no UNAVAILABLE, no lost call)`);
      assert.equal(t.ok + t.busy, calls);
      assert.equal(t.ok, Math.min(calls, LIMIT), `${calls}: exactly the limit is served while the handlers are held`);
      assert.equal(t.heldPeak, Math.min(calls, LIMIT));
    }
    assert.equal(summary.connectionsAtStart, 1, 'one connection, dialled at connect()');
    assert.equal(summary.newConnections, 0, 'no connection was dialled again');
    assert.equal(summary.closedConnections, 0, 'no connection was lost');
    assert.equal(summary.heldAfter, 0, 'every handler finished');
    assert.equal(summary.afterwardsOk, 50, 'the same client serves normally afterwards');
    if (summary.heapBefore === null || summary.heapAfter === null) {
      console.log('# memory check skipped: gc not exposed');
      return;
    }
    const grownMiB = (summary.heapAfter - summary.heapBefore) / 2 ** 20;
    console.log(`# ${transport}: heap ${(summary.heapBefore / 2 ** 20).toFixed(1)} MiB before, ${(summary.heapAfter / 2 ** 20).toFixed(1)} MiB after`);
    assert.ok(grownMiB < 4, `heap grew by ${grownMiB.toFixed(1)} MiB after ${BURSTS.join(' + ')} calls`);
  });
}
