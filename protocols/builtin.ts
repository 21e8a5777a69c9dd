// The protocols every node serves. A protocol folder exports its ProtocolSpec; one line here
// registers it. startNode serves these plus its `protocols` option (which may replace one of
// these by ALPN, as tests do to inject faults).
import type { ProtocolSpec } from './protocol.ts';
import { callProtocol } from './call/protocol.ts';
import { blobsProtocol } from './blobs/provider.ts';
import { sshProtocol } from './ssh/protocol.ts';
import { httpProtocols } from './http/index.ts';
import type { NodeConfig } from '../supervisors/config.ts';

/** What some protocols need of their node: its home folder and config.toml. */
export interface BuiltinContext {
  home: string;
  config: NodeConfig;
}

export function builtinProtocols(node?: BuiltinContext): ProtocolSpec[] {
  return [callProtocol(), blobsProtocol(), ...httpProtocols(node ? { limits: node.config.http } : {}), sshProtocol(node ? { config: node.config.ssh } : {})];
}
