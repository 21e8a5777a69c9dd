// git over SSH: `ssh HOST "git-upload-pack '/name.git'"` (and git-receive-pack) on the node's SSH
// server, claimed through alknet/ssh's exec hook (protocols/builtin.ts hands this handler to
// sshProtocol, as it hands the sftp subsystem). The login decides the scopes: a node login has its
// peer scopes; an account login (authorized_keys, password) can run commands as the node's user and
// holds every scope. The shapes here match protocols/ssh's SshExecRequest/SshExecChannel without
// importing them (one protocol folder never imports another's).
import type { Duplex, Writable } from 'node:stream';
import { hasScope } from '../../actors/peers/scopes.ts';
import type { Bus } from '../../bus/bus.ts';
import type { SessionLog } from '../protocol.ts';
import { errPacket, streamOutput, type Service } from './advertise.ts';
import { busBackend } from './backend.ts';
import { DEFAULT_GIT_CONFIG, type GitConfig } from './config.ts';
import { GitInput } from './input.ts';
import { clientMessage, repositoryOf, runService, scopeFor } from './serve.ts';

export interface GitExecRequest {
  command: string;
  who: string;
  nodeId: string | null;
  scopes: ReadonlySet<string>;
  remote: string;
  log: SessionLog;
  bus: Bus;
}

export interface GitExecChannel {
  stream: Duplex;
  stderr: Writable;
  exit(code: number): void;
}

/**
 * The service and path of a git command as git's ssh transport sends it: `git-upload-pack '/x.git'`
 * (or "git upload-pack"; the path single-quoted as a shell word, or bare). Null for other commands.
 */
export function parseGitCommand(command: string): { service: Service; path: string } | null {
  const m = /^git[- ](upload-pack|receive-pack) +(.+)$/.exec(command.trim());
  if (!m) return null;
  let arg = m[2]!.trim();
  // A single-quoted shell word, with '\'' for a quote inside (sq_quote).
  if (arg.startsWith("'")) {
    const word = /^'((?:[^']|'\\'')*)'$/.exec(arg);
    if (!word) return { service: `git-${m[1]}` as Service, path: '\0invalid' };
    arg = word[1]!.replace(/'\\''/g, "'");
  }
  return { service: `git-${m[1]}` as Service, path: arg };
}

export function gitSshExec(options: { config?: GitConfig } = {}): (request: GitExecRequest) => ((channel: GitExecChannel) => void) | null {
  const config = options.config ?? DEFAULT_GIT_CONFIG;
  return (request) => {
    const parsed = parseGitCommand(request.command);
    if (!parsed) return null;
    return (channel) => void serveExec(request, parsed, channel, config);
  };
}

async function serveExec(request: GitExecRequest, parsed: { service: Service; path: string }, channel: GitExecChannel, config: GitConfig): Promise<void> {
  const output = streamOutput(channel.stream);
  const context = { alpn: 'alknet/ssh', remote: request.remote, who: request.who, nodeId: request.nodeId };
  let ok = false;
  try {
    const name = repositoryOf(parsed.path);
    const scope = scopeFor(parsed.service);
    if (!hasScope(request.scopes, scope)) {
      request.log.info({ ...context, repo: name, service: parsed.service }, `git request refused: needs scope "${scope}"`);
      await output.write([errPacket(`access denied: needs scope "${scope}"`)]);
      channel.stderr.write(`alknet: access denied: needs scope "${scope}"\n`);
    } else {
      const input = GitInput.fromStream(channel.stream, config.idleTimeoutMs);
      ok = await runService({
        service: parsed.service, name, backend: busBackend(request.bus), input, output, config,
        stateless: false, advertise: true, log: request.log, context,
      });
    }
  } catch (err) {
    const message = clientMessage(err);
    if (message !== null) {
      await output.write([errPacket(message)]).catch(() => {});
      channel.stderr.write(`alknet: ${message}\n`);
    }
  } finally {
    channel.exit(ok ? 0 : 128);
  }
}
