// The protocols every node serves. A protocol folder exports its ProtocolSpec; one line here
// registers it. (Examples and tests pass their own through startNode's `protocols`.)
import type { ProtocolSpec } from './protocol.ts';
import { blobsProtocol } from './blobs/provider.ts';

export function builtinProtocols(): ProtocolSpec[] {
  return [blobsProtocol()];
}
