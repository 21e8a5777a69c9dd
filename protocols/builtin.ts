// The protocols every node serves. A protocol folder exports its ProtocolSpec; one line here
// registers it. startNode serves these plus its `protocols` option (which may replace one of
// these by ALPN, as tests do to inject faults).
import type { ProtocolSpec } from './protocol.ts';
import { callProtocol } from './call/protocol.ts';
import { blobsProtocol } from './blobs/provider.ts';

export function builtinProtocols(): ProtocolSpec[] {
  return [callProtocol(), blobsProtocol()];
}
