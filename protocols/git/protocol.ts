// alknet/git: each stream carries the git:// daemon protocol (gitprotocol-pack "Git Transport"): a
// first pkt-line "git-upload-pack /name.git\0host=HOST\0" (maybe "\0version=2\0" after it, which we
// ignore: v0/v1 is served, and git falls back to it), then upload-pack or receive-pack. So
// `GIT_PROXY_COMMAND` running `alknet connect HOST:PORT --alpn alknet/git` lets the stock git CLI
// clone, fetch and push git://HOST/name.git. The caller is the node id of the connection's
// certificate; the peers service decides its scopes (git:read to fetch, git:write to push). Errors
// before the advertisement are an "ERR …" packet, which git shows as "remote error: …".
import type { Duplex } from 'node:stream';
import { sessionFromHandler, type ProtocolSpec, type SessionServices } from '../protocol.ts';
import { errPacket, streamOutput, type Service } from './advertise.ts';
import { authorizeGit, busBackend } from './backend.ts';
import { DEFAULT_GIT_CONFIG, type GitConfig } from './config.ts';
import { GitInput } from './input.ts';
import { pktText } from './pktLine.ts';
import { clientMessage, GIT_SERVICES, repositoryOf, runService, scopeFor } from './serve.ts';
import { GitProtocolError } from './uploadPack.ts';

export const GIT_ALPN = 'alknet/git';
/** The daemon request line is short; anything longer than this is refused. */
const MAX_REQUEST_LINE = 4096;

export interface DaemonRequest {
  service: Service;
  path: string;
  host: string | null;
}

/** The git:// request line: "SERVICE PATH\0host=HOST\0[\0version=N\0]". */
export function parseDaemonRequest(data: Buffer): DaemonRequest {
  const text = pktText(data);
  const nul = text.indexOf('\0');
  const head = nul >= 0 ? text.slice(0, nul) : text;
  const sp = head.indexOf(' ');
  const service = head.slice(0, sp) as Service;
  if (sp < 0 || !GIT_SERVICES.includes(service)) {
    throw new GitProtocolError(`expected "git-upload-pack PATH" or "git-receive-pack PATH", got ${JSON.stringify(head.slice(0, 60))}`);
  }
  const extra = nul >= 0 ? text.slice(nul + 1).split('\0') : [];
  const hostParam = extra.find((e) => e.startsWith('host='));
  return { service, path: head.slice(sp + 1), host: hostParam ? hostParam.slice(5) : null };
}

export interface GitProtocolOptions {
  config?: GitConfig;
}

export function gitProtocol(options: GitProtocolOptions = {}): ProtocolSpec {
  const config = options.config ?? DEFAULT_GIT_CONFIG;
  return {
    alpn: GIT_ALPN,
    session: sessionFromHandler(({ conn, services }) => {
      conn.onStream((stream) => {
        stream.on('error', () => {});
        // git closes its side once it has sent a push's pack and then waits for the report: keep
        // ours open after the client's end (a TLS socket would otherwise end both directions).
        stream.allowHalfOpen = true;
        void serveStream(stream, conn.peer?.nodeId ?? null, `${conn.remote.host}:${conn.remote.port}`, services, config);
      });
    }),
  };
}

async function serveStream(stream: Duplex, nodeId: string | null, remote: string, services: SessionServices, config: GitConfig): Promise<void> {
  const input = GitInput.fromStream(stream, config.idleTimeoutMs);
  const output = streamOutput(stream);
  const context = { alpn: GIT_ALPN, remote, nodeId };
  try {
    const first = await input.readPkt(MAX_REQUEST_LINE);
    if (first === null) return;
    if (first.kind !== 'data') throw new GitProtocolError('expected a request line, got a flush');
    const request = parseDaemonRequest(first.data);
    const name = repositoryOf(request.path);
    const refusal = await authorizeGit(services.bus, nodeId, GIT_ALPN, scopeFor(request.service));
    if (refusal !== null) {
      services.log.info({ ...context, repo: name, service: request.service, reason: refusal }, 'git request refused');
      await output.write([errPacket(`access denied: ${refusal}`)]);
      return;
    }
    await runService({
      service: request.service, name, backend: busBackend(services.bus), input, output, config,
      stateless: false, advertise: true, log: services.log, context,
    });
  } catch (err) {
    const message = clientMessage(err);
    services.log.info({ ...context, error: (message ?? (err as Error).message).slice(0, 200) }, 'git request failed');
    if (message !== null) await output.write([errPacket(message)]).catch(() => {});
  } finally {
    stream.end();
  }
}
