// How the DNS front end reads stored pkarr packets: a bus request to the pkarr service (its only
// door, actors/pkarr/messages.ts). The service's store is local (LMDB); a lookup is one request.
import type { Bus } from '../../bus/index.ts';
import { PKARR_SYSTEM_ID } from '../../actors/pkarr/messages.ts';
import type { PkarrLookup } from './core.ts';

/** Deadline of one pkarr.get: well inside a stub resolver's own timeout (dig waits 5 s). */
export const PKARR_LOOKUP_DEADLINE_MS = 1500;

export function busPkarrLookup(bus: Bus, deadlineMs = PKARR_LOOKUP_DEADLINE_MS): PkarrLookup {
  return async (publicKey) => (await bus.request(PKARR_SYSTEM_ID, 'pkarr.get', { publicKey }, { deadlineMs })).packet;
}
