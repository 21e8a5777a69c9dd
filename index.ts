// The alknet package's public API: start a node, add a protocol, call another node.
export { startNode, type StartNodeOptions, type RunningNode } from './supervisors/startNode.ts';
export { connect, type NodeClient, type ConnectOptions } from './protocols/call/connect.ts';
export { CallError } from './operations/errors.ts';
export { defineOperation, servedBy, OperationCatalogue, type OperationSpec, type CallContext, type Caller } from './operations/catalogue.ts';
export { ProtocolRegistry } from './protocols/registry.ts';
export { sessionFromHandler, escalate, type ProtocolSpec, type SessionInput, type SessionServices } from './protocols/protocol.ts';
export { dial, parseAddress } from './actors/listener/dial.ts';
export type { Connection } from './actors/listener/connection.ts';
export { createBus, BusError, defineMessages, type Bus, type ErrorCode, type MessagesOf, type BusRequestEvent } from './bus/index.ts';
export { createSupervisor, type ChildSpec, type SupervisorSpec } from './supervisors/index.ts';
export { createVaultFile } from './actors/vault/vaultFile.ts';
export * as tensor from './actors/tensor/index.ts';
