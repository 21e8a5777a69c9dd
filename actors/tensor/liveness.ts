// Which tensor of a tensor.run graph can be freed when. Every input and every step's output gets a
// slot (a name may be reused by a later step: that is a new slot); a slot is freed right after the
// last step that reads it, unless it is returned (outputs, keep). A chain of 25 matmuls then holds
// three matrices at a time instead of 26, and the meta pass (cost.ts) sees the same peak.
import { OpError } from './graph.ts';

export interface Liveness {
  /** Slot of each input, by name. */
  inputs: Map<string, number>;
  /** Per step: the slots of its arguments, in order. */
  args: number[][];
  /** Per step: the slot of its output. */
  outs: number[];
  /** Per step: the slots to free right after it (their last reader, or an output nobody reads). */
  freeAfter: number[][];
  /** The slots returned at the end, by name. */
  finals: Map<string, number>;
}

export function liveness(
  inputNames: readonly string[],
  graph: readonly { op: string; args: readonly string[]; out: string }[],
  finalNames: readonly string[],
): Liveness {
  const current = new Map<string, number>();
  const inputs = new Map<string, number>();
  let next = 0;
  for (const name of inputNames) {
    inputs.set(name, next);
    current.set(name, next++);
  }
  const lastUse: number[] = new Array<number>(inputNames.length).fill(-1);
  const args: number[][] = [];
  const outs: number[] = [];
  for (const [i, node] of graph.entries()) {
    args.push(node.args.map((a) => {
      const slot = current.get(a);
      if (slot === undefined) throw new OpError(`graph step ${i} (${node.op.slice(0, 64)}): no tensor named "${a}"`);
      lastUse[slot] = i;
      return slot;
    }));
    outs.push(next);
    lastUse.push(-1);
    current.set(node.out, next++);
  }
  const finals = new Map<string, number>();
  for (const name of finalNames) {
    const slot = current.get(name);
    if (slot === undefined) throw new OpError(`no tensor named "${name}" to return`);
    finals.set(name, slot);
    lastUse[slot] = Infinity;
  }
  const freeAfter: number[][] = graph.map(() => []);
  for (const [slot, last] of lastUse.entries()) {
    if (last === Infinity) continue;
    const made = slot - inputNames.length; // the step that made it; < 0 for an input
    if (last >= 0) freeAfter[last]!.push(slot);
    else if (made >= 0) freeAfter[made]!.push(slot); // an output nobody reads: gone at once
  }
  return { inputs, args, outs, freeAfter, finals };
}
