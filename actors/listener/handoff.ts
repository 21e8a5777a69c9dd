// How an accepted connection reaches its protocol actor without a shared mutable map: the listener
// offers it under its id, then tells the protocol actor by bus message (`connection.accepted`, plain
// data); the protocol actor claims it, once. After the claim the listener keeps no way to reach it:
// the protocol actor owns it. A connection nobody claims is closed by whoever gives up first: the
// listener when the message could not be delivered, the connection itself when it closes.
import type { Connection } from './connection.ts';

export class ConnectionHandoff {
  readonly #offered = new Map<string, Connection>();
  /** Most connections waiting to be claimed; the listener refuses past it. */
  readonly max: number;

  constructor(max = 4096) {
    this.max = max;
  }

  /** False when too many connections wait already (the caller closes this one). */
  offer(conn: Connection): boolean {
    if (this.#offered.size >= this.max) return false;
    this.#offered.set(conn.id, conn);
    conn.closed.then(() => this.#offered.delete(conn.id), () => this.#offered.delete(conn.id));
    return true;
  }

  /** The connection, to the first claimant only; undefined if unknown, claimed or closed. */
  claim(connId: string): Connection | undefined {
    const conn = this.#offered.get(connId);
    this.#offered.delete(connId);
    return conn;
  }

  /** Takes an unclaimed connection back (its protocol actor was not reachable). */
  withdraw(connId: string): Connection | undefined {
    return this.claim(connId);
  }

  get waiting(): number {
    return this.#offered.size;
  }
}

/** The protocol actor's side of the handoff: it can only claim. */
export type ConnectionClaims = Pick<ConnectionHandoff, 'claim'>;
