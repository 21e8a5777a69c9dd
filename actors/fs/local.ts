// The fs service on its own, for a process without a node (the CLI's `alknet blob …`, tests,
// benchmarks): a local bus with the fs actor registered on it. Callers talk to it exactly as a
// node's code does, by message (`bus.request('fs', 'fs.stat', …)`): the actor stays the only owner
// of the store, and nothing but data crosses to the caller.
import type { Bus } from '../../bus/bus.ts';
import { startLocalServices } from '../localServices.ts';
import { fsMachine } from './machine.ts';
import { FS_SYSTEM_ID } from './messages.ts';

export interface LocalFs {
  bus: Bus;
  /** Closes the store (awaited: group bits still waiting are synced) and the bus. */
  stop(): Promise<void>;
}

export interface LocalFsOptions {
  /** Hash worker threads of the store (default: the store's own default). */
  hashWorkers?: number;
  /** Requests the actor serves at once (default 64). */
  maxInFlight?: number;
}

/**
 * Starts the fs actor for `home` on a fresh bus. If the store cannot be opened (no home, a file in
 * the way), the first request fails UNAVAILABLE with the reason in one line.
 */
export function startLocalFs(home: string, opts: LocalFsOptions = {}): LocalFs {
  return startLocalServices([{
    id: FS_SYSTEM_ID,
    logic: fsMachine,
    input: (bus) => ({
      home, events: bus,
      ...(opts.hashWorkers === undefined ? {} : { hashWorkers: opts.hashWorkers }),
      ...(opts.maxInFlight === undefined ? {} : { maxInFlight: opts.maxInFlight }),
    }),
  }]);
}
