// NodeId and z-base-32 live in lib/nodeId.ts (pure; pkarr and the DNS front end use them too).
// Re-exported here for the vault's existing importers.
export * from '../../lib/nodeId.ts';
