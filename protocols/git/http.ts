// git's smart HTTP protocol (gitprotocol-http) on the node's HTTP front end, as a mount handed in by
// protocols/builtin.ts:
//   GET  /git/NAME.git/info/refs?service=git-upload-pack|git-receive-pack   the advertisement
//   POST /git/NAME.git/git-upload-pack     one stateless negotiation round, or the pack
//   POST /git/NAME.git/git-receive-pack    commands and pack → report-status
// The caller is decided by the front end (bearer token, or the client certificate) through the
// peers service: git:read to fetch, git:write to push; without credentials 401 (git then asks for
// them, or uses `-c http.extraHeader="Authorization: Bearer alk_…"`), with too few 403. The dumb
// protocol (no ?service=) is not served. Request bodies may be gzip-encoded, as git sends large ones.
import zlib from 'node:zlib';
import type { Readable } from 'node:stream';
import { CallError } from '../../operations/errors.ts';
import type { HttpMount, HttpMountRequest } from '../httpMount.ts';
import type { Service } from './advertise.ts';
import { busBackend } from './backend.ts';
import { DEFAULT_GIT_CONFIG, type GitConfig } from './config.ts';
import { GitInput } from './input.ts';
import { FLUSH, pkt } from './pktLine.ts';
import { GIT_SERVICES, repositoryOf, runService, scopeFor } from './serve.ts';
import { GitProtocolError } from './uploadPack.ts';
import type { GitOutput } from './advertise.ts';

export const GIT_HTTP_PREFIX = '/git/';

/** Reads a request body up to `limit` bytes (inflating gzip), or a 413/400 CallError. */
async function readBody(req: Readable & { headers: Record<string, string | string[] | undefined> }, limit: number, signal: AbortSignal): Promise<Buffer> {
  const encoding = String(req.headers['content-encoding'] ?? '').toLowerCase();
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) throw new CallError('INVALID_INPUT', `request body of ${declared} bytes is above the limit of ${limit}`);
  let source: Readable = req;
  if (encoding === 'gzip' || encoding === 'x-gzip') source = req.pipe(zlib.createGunzip());
  else if (encoding !== '' && encoding !== 'identity') throw new CallError('INVALID_INPUT', `content-encoding ${encoding.slice(0, 40)} is not supported`);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of source) {
      if (signal.aborted) throw new CallError('INVALID_INPUT', 'the client went away');
      size += (chunk as Buffer).length;
      if (size > limit) {
        req.resume();
        throw new CallError('INVALID_INPUT', `request body is above the limit of ${limit} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    if (err instanceof CallError) throw err;
    throw new CallError('INVALID_INPUT', `unreadable request body: ${(err as Error).message.slice(0, 100)}`);
  }
  return Buffer.concat(chunks);
}

function responseOutput(res: HttpMountRequest['res']): GitOutput {
  return {
    async write(chunks) {
      let ok = true;
      for (const c of chunks) ok = (res as { write(c: Buffer): boolean }).write(c) && ok;
      if (ok) return;
      await new Promise<void>((resolve, reject) => {
        const r = res as unknown as NodeJS.EventEmitter;
        const done = () => {
          r.off('drain', done);
          r.off('close', gone);
          resolve();
        };
        const gone = () => {
          r.off('drain', done);
          r.off('close', gone);
          reject(new GitProtocolError('the client went away'));
        };
        r.on('drain', done);
        r.on('close', gone);
      });
    },
  };
}

export function gitHttpMount(options: { config?: GitConfig } = {}): HttpMount {
  const config = options.config ?? DEFAULT_GIT_CONFIG;
  return {
    path: GIT_HTTP_PREFIX,
    methods: ['GET', 'POST'],
    description: 'git smart HTTP: clone, fetch and push (git:read / git:write)',
    async handle(request) {
      const { req, res, url, rest, services, signal, remote } = request;
      let path: string;
      try {
        path = decodeURIComponent(rest);
      } catch {
        throw new CallError('INVALID_INPUT', 'the path is not valid percent-encoded UTF-8');
      }
      const m = /^([^/]+)\/(info\/refs|git-upload-pack|git-receive-pack)$/.exec(path);
      if (!m) throw new CallError('NOT_FOUND', 'not a git smart HTTP path (/git/NAME.git/info/refs, …/git-upload-pack, …/git-receive-pack)');
      let name: string;
      try {
        name = repositoryOf(m[1]!);
      } catch (err) {
        throw new CallError('INVALID_INPUT', (err as Error).message);
      }
      const advertise = m[2] === 'info/refs';
      let service: Service;
      if (advertise) {
        if (req.method !== 'GET') throw new CallError('INVALID_INPUT', 'info/refs takes GET');
        const s = url.searchParams.get('service');
        if (s === null) {
          await request.caller(); // so that a caller with credentials gets 403, not 401
          throw new CallError('FORBIDDEN', 'only the smart HTTP protocol is served: ask info/refs?service=git-upload-pack');
        }
        if (!GIT_SERVICES.includes(s as Service)) throw new CallError('INVALID_INPUT', `unknown service ${JSON.stringify(s.slice(0, 40))}`);
        service = s as Service;
      } else {
        if (req.method !== 'POST') throw new CallError('INVALID_INPUT', `${m[2]} takes POST`);
        service = m[2] as Service;
        const type = String(req.headers['content-type'] ?? '');
        if (type !== `application/x-${service}-request`) throw new CallError('INVALID_INPUT', `content-type must be application/x-${service}-request`);
      }
      const caller = await request.requireScopes([scopeFor(service)], `repository "${name}"`);
      const backend = busBackend(services.bus);
      // Fail with a status (404) before any body is written when the repository does not exist.
      try {
        await backend.refs(name);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'NOT_FOUND' || code === 'INVALID_INPUT') throw new CallError(code, (err as Error).message);
        throw err;
      }
      const body = advertise ? Buffer.alloc(0) : await readBody(req as never, service === 'git-receive-pack' ? config.maxPushBytes + 1024 * 1024 : config.maxRequestBytes, signal);
      res.writeHead(200, {
        'content-type': advertise ? `application/x-${service}-advertisement` : `application/x-${service}-result`,
        'cache-control': 'no-cache, max-age=0, must-revalidate',
        expires: 'Fri, 01 Jan 1980 00:00:00 GMT',
        pragma: 'no-cache',
      });
      const output = responseOutput(res);
      if (advertise) await output.write([pkt(`# service=${service}\n`), FLUSH]);
      await runService({
        service, name, backend, input: GitInput.fromBuffer(body), output, config,
        stateless: true, advertise, advertiseOnly: advertise, log: services.log,
        context: { alpn: 'http', nodeId: caller.nodeId, remote: `${remote.host}:${remote.port}` },
      });
      res.end();
    },
  };
}
