// DNS over HTTPS (RFC 8484) at /dns-query on the HTTP front end (h2, http/1.1, alknet/http), a mount
// that protocols/builtin.ts hands to httpProtocols:
//   GET  /dns-query?dns=<base64url of the query, no padding>
//   POST /dns-query with Content-Type: application/dns-message and the query as the body
// answered 200 with Content-Type: application/dns-message and Cache-Control: max-age = the smallest
// TTL of the answer (RFC 8484 5.1). A missing or undecodable parameter, a body that is no DNS query,
// the wrong media type (415) or a query above [dns] maxQueryBytes (413) is an HTTP error. Anyone may
// ask (no scope), as for plain DNS.
import dnsPacket from 'dns-packet';
import type { Bus } from '../../bus/index.ts';
import type { HttpMount, HttpMountRequest } from '../httpMount.ts';
import type { DnsConfig } from './config.ts';
import { dnsCoreFromConfig, type DnsCore } from './core.ts';
import { busPkarrLookup } from './pkarrLookup.ts';

export const DOH_PATH = '/dns-query';
export const DNS_MESSAGE_TYPE = 'application/dns-message';

type AnyRequest = HttpMountRequest['req'];
type AnyResponse = HttpMountRequest['res'];

function fail(res: AnyResponse, status: number, detail: string): void {
  const body = JSON.stringify({ type: 'about:blank', title: status === 415 ? 'Unsupported Media Type' : status === 413 ? 'Content Too Large' : 'Bad Request', status, detail });
  res.writeHead(status, { 'content-type': 'application/problem+json', 'cache-control': 'no-store' });
  res.end(body);
}

/** The body, or null when it is over `max` bytes (reading stops there). */
function readBody(req: AnyRequest, max: number, signal: AbortSignal): Promise<Buffer | null> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > max) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const done = (value: Buffer | null, err?: Error): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      signal.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > max) {
        req.pause();
        return done(null);
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => done(Buffer.concat(chunks, total));
    const onError = (err: Error): void => done(null, err);
    const onAbort = (): void => done(null, new Error('the client went away'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    signal.addEventListener('abort', onAbort);
  });
}

/** RFC 8484 5.1: the smallest TTL in the answer (0 when it has no records and no SOA). */
function maxAge(response: Uint8Array): number {
  try {
    const decoded = dnsPacket.decode(Buffer.from(response));
    const ttls = [...(decoded.answers ?? []), ...(decoded.authorities ?? [])].map((r) => (r as { ttl?: number }).ttl ?? 0);
    return ttls.length ? Math.min(...ttls) : 0;
  } catch {
    return 0;
  }
}

/** The DoH mount; one DnsCore per node (per bus), made on the first query. */
export function dohMount(config: DnsConfig): HttpMount {
  const cores = new WeakMap<Bus, DnsCore>();
  return {
    path: DOH_PATH,
    methods: ['GET', 'POST'],
    description: 'DNS over HTTPS (RFC 8484): GET ?dns=<base64url> or POST application/dns-message',
    async handle({ req, res, url, services, signal, remote }) {
      let core = cores.get(services.bus);
      if (!core) cores.set(services.bus, (core = dnsCoreFromConfig(config, busPkarrLookup(services.bus), services.log)));
      let query: Buffer;
      if (req.method === 'GET') {
        const param = url.searchParams.get('dns');
        if (param === null) return fail(res, 400, 'GET /dns-query needs ?dns=<base64url DNS query>');
        if (!/^[A-Za-z0-9_-]*$/.test(param)) return fail(res, 400, 'the dns parameter must be base64url without padding');
        if (Math.floor((param.length * 3) / 4) > config.maxQueryBytes) return fail(res, 413, `the query is above ${config.maxQueryBytes} bytes`);
        query = Buffer.from(param, 'base64url');
      } else {
        const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        if (type !== DNS_MESSAGE_TYPE) return fail(res, 415, `POST /dns-query takes Content-Type: ${DNS_MESSAGE_TYPE}`);
        const body = await readBody(req, config.maxQueryBytes, signal);
        if (body === null) return fail(res, 413, `the query is above ${config.maxQueryBytes} bytes`);
        query = body;
      }
      // The connection's address (over alknet/http too, where the request's socket is a QUIC stream).
      const address = remote.host;
      const answer = await core.answer(query, { address, transport: 'doh' });
      if (!answer) return fail(res, 400, 'the body is not a DNS query');
      res.writeHead(200, { 'content-type': DNS_MESSAGE_TYPE, 'content-length': String(answer.length), 'cache-control': `max-age=${maxAge(answer)}` });
      res.end(Buffer.from(answer.buffer, answer.byteOffset, answer.length));
    },
  };
}
