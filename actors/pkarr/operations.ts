// The pkarr service's operations, declared for the node's catalogue and served by the pkarr actor's
// own messages. Reading a stored packet is public (signed packets are public records, as on any
// relay); resolving asks the network on the node's behalf and needs `pkarr:resolve`; publishing signs
// with the node key and needs `pkarr:publish` (granting `pkarr` covers both; the node's own key —
// the CLI through the agent — holds every scope).
import { servedBy, type OperationSpec } from '../../operations/catalogue.ts';
import { PKARR_SYSTEM_ID } from './messages.ts';

export const PKARR_RESOLVE_SCOPE = 'pkarr:resolve';
export const PKARR_PUBLISH_SCOPE = 'pkarr:publish';

export function pkarrOperations(): OperationSpec[] {
  const a = PKARR_SYSTEM_ID;
  return [
    servedBy(a, 'pkarr.get', {
      name: 'pkarr/get', type: 'query', scopes: [], visibility: 'external',
      errors: ['INVALID_INPUT'], description: 'The signed packet this node stores for a key (signature ‖ timestamp ‖ DNS packet), or null',
    }),
    servedBy(a, 'pkarr.resolve', {
      name: 'pkarr/resolve', type: 'query', scopes: [PKARR_RESOLVE_SCOPE], visibility: 'external',
      errors: ['FORBIDDEN', 'INVALID_INPUT'], description: "A key's newest signed packet: the local store, then the Mainline DHT and the relays",
    }),
    servedBy(a, 'pkarr.publishSelf', {
      name: 'pkarr/publish', type: 'mutation', scopes: [PKARR_PUBLISH_SCOPE], visibility: 'external',
      errors: ['FORBIDDEN', 'INVALID_INPUT'], description: "Sign and publish this node's _alknet TXT and A/AAAA records (store, DHT, relays)",
    }),
    servedBy(a, 'pkarr.stats', {
      name: 'pkarr/stats', type: 'query', scopes: [PKARR_RESOLVE_SCOPE], visibility: 'external',
      errors: ['FORBIDDEN'], description: 'Records stored, the bound, and the DHT socket',
    }),
  ];
}
