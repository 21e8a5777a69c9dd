// The one core the three transports share: parse what the client asked for (service and
// repository), check its scope with the peers service, then run upload-pack or receive-pack and
// turn failures into what git shows ("remote error: …"). Log one line per request.
import { BusError } from '../../bus/errors.ts';
import { GIT_READ_SCOPE, GIT_WRITE_SCOPE } from '../../actors/git/operations.ts';
import { NameError, repoName, shown } from '../../actors/git/refNames.ts';
import type { SessionLog } from '../protocol.ts';
import { errPacket, OutputClosed, type GitOutput, type Service } from './advertise.ts';
import type { GitBackend } from './backend.ts';
import type { GitConfig } from './config.ts';
import { InputClosed, type GitInput } from './input.ts';
import { PktLineError } from './pktLine.ts';
import { serveReceivePack } from './receivePack.ts';
import { GitProtocolError, serveUploadPack } from './uploadPack.ts';

export const GIT_SERVICES: readonly Service[] = ['git-upload-pack', 'git-receive-pack'];

export function scopeFor(service: Service): string {
  return service === 'git-upload-pack' ? GIT_READ_SCOPE : GIT_WRITE_SCOPE;
}

/** The repository a request path names ("/name.git", "name"), or a GitProtocolError. */
export function repositoryOf(pathText: string): string {
  try {
    return repoName(pathText);
  } catch (err) {
    throw new GitProtocolError((err as NameError).message);
  }
}

export interface ServeRequest {
  service: Service;
  name: string;
  backend: GitBackend;
  input: GitInput;
  output: GitOutput;
  config: GitConfig;
  stateless: boolean;
  advertise: boolean;
  advertiseOnly?: boolean;
  log: SessionLog;
  /** For the log line: transport and who. */
  context: Record<string, unknown>;
}

/** A failure as one line for the client (null when the client is gone and nothing can be told). */
export function clientMessage(err: unknown): string | null {
  if (err instanceof InputClosed || err instanceof OutputClosed) return null;
  if (err instanceof GitProtocolError || err instanceof PktLineError) return err.message;
  if (err instanceof BusError) return err.code === 'NOT_FOUND' || err.code === 'INVALID_INPUT' || err.code === 'FORBIDDEN' ? err.message : `server busy or failing (${err.code}): ${err.message}`;
  return 'internal server error';
}

/** Runs one service; never throws (the error goes to the client when it can, and to the log). */
export async function runService(r: ServeRequest): Promise<boolean> {
  const started = Date.now();
  try {
    if (r.service === 'git-upload-pack') {
      const res = await serveUploadPack({ name: r.name, backend: r.backend, input: r.input, output: r.output, stateless: r.stateless, advertise: r.advertise, ...(r.advertiseOnly ? { advertiseOnly: true } : {}) });
      if (!r.advertiseOnly) r.log.info({ ...r.context, repo: r.name, service: r.service, wants: res.wants, objects: res.objects, bytes: res.bytes, ms: Date.now() - started }, 'git upload-pack');
    } else {
      const res = await serveReceivePack({
        name: r.name, backend: r.backend, input: r.input, output: r.output, stateless: r.stateless, advertise: r.advertise,
        limits: { maxPackBytes: r.config.maxPushBytes, maxObjectBytes: r.config.maxObjectBytes },
        ...(r.advertiseOnly ? { advertiseOnly: true } : {}),
      });
      if (res.report) {
        const refused = res.report.results.filter((x) => !x.ok).length;
        r.log.info({ ...r.context, repo: r.name, service: r.service, commands: res.commands, refused, unpack: res.report.unpack.slice(0, 200), packBytes: res.packBytes, ms: Date.now() - started }, 'git receive-pack');
      }
    }
    return true;
  } catch (err) {
    const message = clientMessage(err);
    r.log.info({ ...r.context, repo: r.name, service: r.service, error: (message ?? (err as Error).message).slice(0, 300) }, 'git request failed');
    if (message !== null && !(err instanceof GitProtocolError) && !(err instanceof PktLineError)) {
      // Protocol errors were already sent as ERR by the session; others are told here.
      await r.output.write([errPacket(message)]).catch(() => {});
    }
    if (!(err instanceof GitProtocolError || err instanceof PktLineError || err instanceof BusError || err instanceof InputClosed || err instanceof OutputClosed)) {
      r.log.warn({ ...r.context, repo: r.name, error: err instanceof Error ? err.stack?.slice(0, 500) : String(err) }, 'git request failed unexpectedly');
    }
    return false;
  }
}

export { shown };
