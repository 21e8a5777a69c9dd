// A node-wide budget for bytes held on behalf of clients (partial frames, request bodies): a
// protocol takes from it before it buffers a large frame and gives back when the frame is done or the
// stream goes away. When it is spent, new large frames are refused (BUSY) instead of growing memory,
// so many connections together cannot exhaust the node, whatever each one's own limit.
export class ByteBudget {
  readonly total: number;
  #used = 0;

  constructor(total: number) {
    if (!Number.isSafeInteger(total) || total < 0) throw new RangeError(`a byte budget must be a non-negative integer, got ${total}`);
    this.total = total;
  }

  get used(): number {
    return this.#used;
  }

  /** Takes n bytes if they are free; false (nothing taken) otherwise. */
  tryTake(n: number): boolean {
    if (n <= 0) return true;
    if (this.#used + n > this.total) return false;
    this.#used += n;
    return true;
  }

  give(n: number): void {
    this.#used = Math.max(0, this.#used - Math.max(0, n));
  }
}

/** What a parser needs of a budget. */
export type BytesBudget = Pick<ByteBudget, 'tryTake' | 'give'>;
