// The node's default supervision tree, as data (DESIGN.md "Supervision"):
//
//   node (one_for_one)
//   ├── services (one_for_one): vault, peers, fs, tensor
//   ├── protocols (one_for_one): one actor per registered ALPN
//   ├── listener
//   └── dns (only with a plain DNS port: [dns] listen or alknet node --dns)
//
// Start order is top to bottom, so the listener accepts connections only once every service and
// protocol actor runs; shutdown is the reverse: the listener stops accepting first, protocol actors
// drain their connections, the services go last. The vault starts first (peers asks it for the
// node's id); after that, restarts follow real shared state, and there is none between services:
// each reaches the others by message, and what peers learnt from the vault (the node id) is the same
// after a vault restart. So a crash restarts only the service that crashed: an fs crash never frees
// the tensor engine's handles.
import { createSupervisor } from './supervisor.ts';
import type { SupervisorLogic } from './supervisor.ts';
import type { ChildSpec, Intensity } from './types.ts';

export interface NodeTreeParts {
  /** In start order: vault, peers, fs, tensor (then any extra services). */
  services: ChildSpec[];
  /** One per registered ALPN. */
  protocols: ChildSpec[];
  listener: ChildSpec;
  /** Listeners of their own after the main one (plain DNS on its own port); started last, stopped first. */
  listeners?: ChildSpec[];
  /** Restart intensity of each supervisor in the tree; default 3 in 5000 ms. */
  intensity?: Intensity;
}

/** Ids of the tree's own supervisors (children of `node`), e.g. for describeTree consumers. */
export const NODE_TREE_IDS = { root: 'node', services: 'services', protocols: 'protocols' } as const;

export function createNodeTree(parts: NodeTreeParts): SupervisorLogic {
  const intensity = parts.intensity ? { intensity: parts.intensity } : {};
  const services = createSupervisor({ id: NODE_TREE_IDS.services, strategy: 'one_for_one', ...intensity, children: parts.services });
  const protocols = createSupervisor({ id: NODE_TREE_IDS.protocols, strategy: 'one_for_one', ...intensity, children: parts.protocols });
  return createSupervisor({
    id: NODE_TREE_IDS.root,
    strategy: 'one_for_one',
    ...intensity,
    children: [
      // A supervisor bounds its own children's shutdown, so its parent waits for it (OTP: infinity).
      { id: NODE_TREE_IDS.services, logic: services, restart: 'permanent', shutdownMs: Infinity },
      { id: NODE_TREE_IDS.protocols, logic: protocols, restart: 'permanent', shutdownMs: Infinity },
      parts.listener,
      ...(parts.listeners ?? []),
    ],
  });
}
