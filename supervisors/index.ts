// The supervision module's public surface.
export { createSupervisor, isSupervisorLogic, SupervisorEscalation, DEFAULT_INTENSITY, DEFAULT_SHUTDOWN_MS } from './supervisor.ts';
export type { SupervisorEvent, SupervisorLogic } from './supervisor.ts';
export type { BusRegistry, ChildRecord, ChildSpec, Intensity, Restart, Strategy, SupervisorContext, SupervisorInput, SupervisorSpec } from './types.ts';
export { describeTree } from './describeTree.ts';
export type { ActorState, TreeNode } from './describeTree.ts';
export { createNodeTree, NODE_TREE_IDS } from './nodeTree.ts';
export type { NodeTreeParts } from './nodeTree.ts';
