// 10,000 concurrent calls over one connection whose in-flight limit is 1,000: every call is answered
// (served or BUSY), and the heap returns to its level afterwards. Streams are in-memory pairs standing
// for the streams of one QUIC connection (a TCP socket per call would test the OS, not the limit).
// The load runs in a child `node --expose-gc` (see callLoad.ts) so the heap can be measured.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const CALLS = 10_000;
const LIMIT = 1_000;

interface LoadReport {
  ok: number;
  busy: number;
  other: string[];
  inFlightPeak: number;
  inFlightAfter: number;
  afterwardsOk: number;
  heapBefore: number | null;
  heapAfter: number | null;
}

test(`${CALLS} concurrent calls against a limit of ${LIMIT}: served or BUSY, memory back afterwards`, async () => {
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', path.join(here, 'callLoad.ts'), String(CALLS), String(LIMIT)],
      { cwd: path.resolve(here, '../..'), timeout: 120_000, maxBuffer: 1 << 20 },
      (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out)),
    );
  });
  const report = JSON.parse(stdout.trim().split('\n').at(-1)!) as LoadReport;
  assert.deepEqual(report.other, [], 'every call is served or BUSY');
  assert.equal(report.ok + report.busy, CALLS);
  assert.equal(report.ok, LIMIT, 'exactly the limit is served while the handlers are held');
  assert.equal(report.inFlightPeak, LIMIT);
  assert.equal(report.inFlightAfter, 0, 'every slot is released');
  assert.equal(report.afterwardsOk, 50, 'the connection serves normally afterwards');
  if (report.heapBefore === null || report.heapAfter === null) {
    console.log('# memory check skipped: gc not exposed');
    return;
  }
  const grownMiB = (report.heapAfter - report.heapBefore) / 2 ** 20;
  console.log(`# heap ${(report.heapBefore / 2 ** 20).toFixed(1)} MiB before, ${(report.heapAfter / 2 ** 20).toFixed(1)} MiB after`);
  assert.ok(grownMiB < 4, `heap grew by ${grownMiB.toFixed(1)} MiB after ${CALLS} calls`);
});
