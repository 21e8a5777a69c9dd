// The protocols every node serves. A protocol folder exports its ProtocolSpec; one line here
// registers it. startNode serves these plus its `protocols` option (which may replace one of
// these by ALPN, as tests do to inject faults).
import type { ProtocolSpec } from './protocol.ts';
import { callProtocol } from './call/protocol.ts';
import { blobsProtocol } from './blobs/provider.ts';
import { sshProtocol } from './ssh/protocol.ts';
import { httpProtocols } from './http/index.ts';
import { sftpProtocol, sftpSubsystem } from './sftp/protocol.ts';
import { dnsProtocols, dohMount } from './dns/index.ts';
import { pkarrRelayMount } from './pkarr/relay.ts';
import { gitHttpMount, gitProtocol, gitSshExec } from './git/index.ts';
import path from 'node:path';
import type { NodeConfig } from '../supervisors/config.ts';

/** What some protocols need of their node: its home folder and config.toml. */
export interface BuiltinContext {
  home: string;
  config: NodeConfig;
}

export function builtinProtocols(node: BuiltinContext): ProtocolSpec[] {
  // The HTTP front end carries other protocols' routes: DoH at /dns-query, the pkarr relay at /{z32},
  // git's smart HTTP under /git/.
  const mounts = [dohMount(node.config.dns), pkarrRelayMount({ putsPerMinute: node.config.pkarr.relayPutsPerMinute, putBurst: node.config.pkarr.relayPutBurst }), gitHttpMount({ config: node.config.git })];
  const protocols = [callProtocol(), blobsProtocol(), ...httpProtocols({ limits: node.config.http, mounts }), ...dnsProtocols(node.config.dns), gitProtocol({ config: node.config.git })];
  // SSH's sftp subsystem and alknet/sftp serve the same folder: [ssh] sftpRoot, under the home.
  // SSH exec of git-upload-pack / git-receive-pack is served by protocols/git.
  const sftpRoot = path.resolve(node.home, node.config.ssh.sftpRoot);
  return [...protocols, sshProtocol({ config: node.config.ssh, sftp: sftpSubsystem(sftpRoot), exec: [gitSshExec({ config: node.config.git })] }), sftpProtocol({ root: sftpRoot })];
}
