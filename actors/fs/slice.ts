// The provider side of a complete blob: its bao slice (16 KiB groups) for some byte ranges, read in
// windows. A window is one reply of the fs actor (fs.readSlice): the part of the pre-order walk
// whose nodes start at or after group `fromGroup`, up to about `maxBytes`, as ONE buffer laid out
// exactly as on the wire: the groups are read straight into their places with one readv per run
// of groups, and the parents are copied in from one read of the outboard span they come from.
// Both files are opened and closed within the call, so no descriptor outlives a request whatever
// the requester does next (issue 16, point 2: a generator holding them leaked two per request).
import fsp from 'node:fs/promises';
import { HEADER_LEN, PARENT_LEN, groupsForRanges, treeShape, walkTree } from './hash/bao.ts';
import type { ByteRange, TreeShape } from './hash/bao.ts';
import { writeSizeHeader } from './hash/bao-tree.ts';
import { BlobStoreError, openFailure } from './errors.ts';
import { BAO, readExact, readvAll } from './file-io.ts';
import { MAX_SLICE_WINDOW } from './limits.ts';

/** A window's outboard span is read whole up to this; a sparser one is read per parent. */
const MAX_OUTBOARD_SPAN = 1024 * 1024;

export interface SliceWindow {
  /** The blob's size (the slice proves it). */
  size: number;
  /** The window's bytes, in wire order; the first window starts with the 8-byte size header. */
  bytes: Uint8Array;
  /** Where the next window starts; null when this one ends the slice. */
  nextGroup: number | null;
}

interface PlannedParent {
  at: number;
  outboardOffset: number;
}

interface PlannedGroup {
  at: number;
  dataStart: number;
  dataEnd: number;
}

/**
 * Which nodes the window holds and where each goes in it. A window ends before the first node
 * whose first group is past the last group taken, once `maxBytes` is reached: windows so cut put
 * together are the whole walk (walkTree's `fromGroup`).
 */
function planWindow(shape: TreeShape, wanted: Array<[number, number]> | undefined, fromGroup: number, maxBytes: number) {
  const parents: PlannedParent[] = [];
  const groups: PlannedGroup[] = [];
  let at = fromGroup === 0 ? HEADER_LEN : 0;
  let lastGroup = -1;
  let nextGroup: number | null = null;
  for (const node of walkTree(shape, wanted, fromGroup)) {
    const first = node.kind === 'parent' ? node.lo : node.group;
    if (first > lastGroup && lastGroup >= 0 && at >= maxBytes) {
      nextGroup = first;
      break;
    }
    if (node.kind === 'parent') {
      parents.push({ at, outboardOffset: node.outboardOffset });
      at += PARENT_LEN;
    } else {
      groups.push({ at, dataStart: node.dataStart, dataEnd: node.dataEnd });
      at += node.dataEnd - node.dataStart;
      lastGroup = node.group;
    }
  }
  return { parents, groups, length: at, nextGroup };
}

/** The window's parents, copied from one read of the outboard span they lie in (or one read each). */
async function fillParents(outboard: fsp.FileHandle, parents: PlannedParent[], out: Uint8Array): Promise<void> {
  if (parents.length === 0) return;
  let lo = Infinity;
  let hi = 0;
  for (const p of parents) {
    lo = Math.min(lo, p.outboardOffset);
    hi = Math.max(hi, p.outboardOffset + PARENT_LEN);
  }
  if (hi - lo <= MAX_OUTBOARD_SPAN) {
    const span = await readExact(outboard, lo, hi - lo);
    for (const p of parents) out.set(span.subarray(p.outboardOffset - lo, p.outboardOffset - lo + PARENT_LEN), p.at);
    return;
  }
  for (const p of parents) out.set(await readExact(outboard, p.outboardOffset, PARENT_LEN), p.at);
}

/** The window's groups, read into their places: one readv per run of groups adjacent in the file. */
async function fillGroups(data: fsp.FileHandle, groups: PlannedGroup[], out: Uint8Array): Promise<void> {
  let i = 0;
  while (i < groups.length) {
    const views: Uint8Array[] = [];
    const start = groups[i]!.dataStart;
    let end = start;
    // A run ends where the next group is not the next bytes of the file; readv takes ≤ 1024 views.
    while (i < groups.length && groups[i]!.dataStart === end && views.length < 1024) {
      const g = groups[i]!;
      views.push(out.subarray(g.at, g.at + (g.dataEnd - g.dataStart)));
      end = g.dataEnd;
      i++;
    }
    if (end > start) await readvAll(data, views, start);
  }
}

/**
 * One window of the slice of a complete blob for `ranges` (all of it when none or empty). The
 * caller has checked that the blob is complete and passes its size and file names.
 */
export async function readSliceWindow(
  hash: string, size: number, files: { data: string; outboard: string }, ranges: readonly ByteRange[] | undefined,
  fromGroup: number, maxBytes: number,
): Promise<SliceWindow> {
  if (!Number.isSafeInteger(fromGroup) || fromGroup < 0) throw new BlobStoreError('INVALID_INPUT', `bad window start ${fromGroup}`);
  const shape = treeShape(size, BAO);
  if (fromGroup >= shape.groupCount) throw new BlobStoreError('INVALID_INPUT', `blob ${hash} has no group ${fromGroup}`);
  const wanted = ranges && ranges.length > 0 ? groupsForRanges(shape, ranges) : undefined;
  const plan = planWindow(shape, wanted, fromGroup, Math.max(1, Math.min(maxBytes, MAX_SLICE_WINDOW)));
  // Unzeroed: every byte is written below (header, each parent, each group).
  const out = new Uint8Array(Buffer.allocUnsafeSlow(plan.length).buffer, 0, plan.length);
  if (fromGroup === 0) writeSizeHeader(out, size);
  const data = plan.groups.length > 0 ? await fsp.open(files.data, 'r').catch((err) => { throw openFailure(err, hash); }) : undefined;
  try {
    const outboard = plan.parents.length > 0 ? await fsp.open(files.outboard, 'r').catch((err) => { throw openFailure(err, hash); }) : undefined;
    try {
      // Both reads settle before either file is closed.
      const results = await Promise.allSettled([outboard && fillParents(outboard, plan.parents, out), data && fillGroups(data, plan.groups, out)]);
      for (const r of results) if (r.status === 'rejected') throw r.reason;
    } finally {
      await outboard?.close();
    }
  } finally {
    await data?.close();
  }
  return { size, bytes: out, nextGroup: plan.nextGroup };
}
