// verifySlice / GroupRunBuilder (actors/fs/hash/slice-runs.ts): runs of verified groups, as views
// or copied into reused buffers, give back exactly the content and its proven chaining values; a
// bad group ends the slice with the groups before it handed on; a failing writer ends it at once.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BaoDecoder, BaoVerifyError, encodeOutboard, extractRanges } from '../../actors/fs/hash/bao.ts';
import { groupChainingValues } from '../../actors/fs/hash/bao-stream.ts';
import { PipelinedVerifier } from '../../actors/fs/hash/bao-verify.ts';
import { verifySlice, type GroupRun } from '../../actors/fs/hash/slice-runs.ts';
import { seededBytes } from './fixtures.ts';

const GROUP = 16 * 1024;
const BAO = { chunkGroupLog: 4 };

async function* pieces(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.slice(at, at + size);
}

async function runsOf(data: Uint8Array, slice: Uint8Array, hash: Uint8Array, copy: boolean): Promise<{ runs: GroupRun[]; failure: unknown }> {
  const runs: GroupRun[] = [];
  const free: Uint8Array[] = [];
  const failure = await verifySlice(new PipelinedVerifier(new BaoDecoder(hash, data.length, BAO), undefined), pieces(slice, 5000), (run) => {
    // A copied run is read here, then its buffer is reused: whatever is kept must be a copy.
    runs.push({ ...run, data: run.data.map((d) => d.slice()) });
    if (run.buffer) free.push(run.buffer);
  }, { runBytes: 3 * GROUP, groupLen: GROUP, ...(copy ? { copyInto: () => free.pop() ?? new Uint8Array(4 * GROUP) } : {}) });
  return { runs, failure };
}

describe('verifySlice runs', () => {
  for (const copy of [false, true]) {
    it(`give back the content and the proven values (${copy ? 'copied into reused buffers' : 'as views'})`, async () => {
      const data = seededBytes(10 * GROUP + 77, 3);
      const { hash, outboard } = encodeOutboard(data, BAO);
      const slice = extractRanges(data, outboard, [{ start: 0, len: data.length }], BAO);
      const { runs, failure } = await runsOf(data, slice, hash, copy);
      assert.equal(failure, undefined);
      const joined = Buffer.concat(runs.flatMap((r) => r.data));
      assert.ok(joined.equals(Buffer.from(data)), 'same bytes, in order');
      const cvs = groupChainingValues(hash, outboard, BAO);
      assert.ok(Buffer.concat(runs.map((r) => r.cvs!)).equals(Buffer.from(cvs)), 'the proven values');
      for (const r of runs) assert.ok(r.bytes <= 3 * GROUP + GROUP && r.bytes === r.data.reduce((n, d) => n + d.length, 0));
    });
  }

  it('stops at a bad group, handing on the groups before it', async () => {
    const data = seededBytes(10 * GROUP, 4);
    const { hash, outboard } = encodeOutboard(data, BAO);
    const slice = extractRanges(data, outboard, [{ start: 0, len: data.length }], BAO);
    const bad = slice.slice();
    // Flip a byte of group 6 where the slice carries it.
    const at = Buffer.from(bad).indexOf(Buffer.from(data.subarray(6 * GROUP, 6 * GROUP + 64)));
    bad[at]! ^= 1;
    const { runs, failure } = await runsOf(data, bad, hash, true);
    assert.ok(failure instanceof BaoVerifyError, String(failure));
    assert.equal(Buffer.concat(runs.flatMap((r) => r.data)).length, 6 * GROUP, 'groups 0..5 handed on');
  });

  it('ends at once with the error of a failing writer', async () => {
    const data = seededBytes(10 * GROUP, 5);
    const { hash, outboard } = encodeOutboard(data, BAO);
    const slice = extractRanges(data, outboard, [{ start: 0, len: data.length }], BAO);
    let calls = 0;
    const failure = await verifySlice(new PipelinedVerifier(new BaoDecoder(hash, data.length, BAO), undefined), pieces(slice, 4096), () => {
      calls++;
      throw new Error('disk full');
    }, { runBytes: GROUP, groupLen: GROUP });
    assert.equal((failure as Error).message, 'disk full');
    assert.equal(calls, 1, 'no run handed on after the failure');
  });
});
