// The pkarr relay API on the node's HTTP front end (pkarr design/relays.md), so that any pkarr
// client can use a node as its relay:
//
//   PUT /{z32}   body: signature (64) ‖ timestamp (8, BE µs) ‖ DNS packet (≤ 1000)
//                204 stored (Pkarr-Dht-Stored-Nodes when the node put it into the DHT too)
//                400 bad key, bad signature or DNS packet · 409 older than the stored one ·
//                412 If-Unmodified-Since failed · 413 body above 1072 bytes
//   GET /{z32}   200 the same bytes (application/pkarr.org/relays#payload), Last-Modified, Cache-Control
//                304 with If-Modified-Since not older than the packet · 404 none (local store, then DHT)
//   OPTIONS      CORS preflight (public relays answer any origin)
//
//                429 past [pkarr] relayPutsPerMinute from one address (Retry-After)
//
// The mount holds no packet: every packet goes to and comes from the pkarr service by message. It
// holds only the per-address PUT buckets, so that one client cannot flood the bounded store with
// fresh keys and evict everyone else's records.
import type { HttpMount, HttpMountRequest } from '../httpMount.ts';
import { PKARR_SYSTEM_ID, MAX_SIGNED_PACKET_BYTES } from '../../actors/pkarr/messages.ts';
import { isNodeId, publicKeyFromNodeId } from '../../lib/nodeId.ts';
import { RateLimiter } from '../../lib/rateLimit.ts';
import { decodeSignedPacket, httpDateOf, isEd25519Point, microsOfHttpDate, parseDnsPacket } from '../../lib/pkarr/signedPacket.ts';

export const RELAY_CONTENT_TYPE = 'application/pkarr.org/relays#payload';
const Z32_PATH = /^\/[ybndrfg8ejkmcpqxot1uwisza345h769]{52}$/;
const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, PUT, OPTIONS',
  'access-control-allow-headers': 'content-type, if-modified-since, if-unmodified-since',
  'access-control-expose-headers': 'pkarr-dht-stored-nodes',
} as const;
/** Cache-Control max-age bounds, seconds (the smallest TTL in the packet, clamped). */
const MIN_MAX_AGE = 300;
const MAX_MAX_AGE = 86_400;

function answer(req: HttpMountRequest, status: number, headers: Record<string, string>, body?: Uint8Array | string): void {
  const { res } = req;
  const all: Record<string, string> = { ...CORS, ...headers };
  if (typeof body === 'string') all['content-type'] ??= 'text/plain; charset=utf-8';
  if (body !== undefined) all['content-length'] = String(typeof body === 'string' ? Buffer.byteLength(body) : body.length);
  (res as import('node:http').ServerResponse).writeHead(status, all);
  if (body === undefined) res.end();
  else res.end(typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength));
}

/** A 52-character z32 that is an Ed25519 point; else a one-line reason. */
function keyProblem(z32: string): string | null {
  if (!isNodeId(z32)) return 'not a z-base-32 public key';
  return isEd25519Point(publicKeyFromNodeId(z32)) ? null : 'not an Ed25519 public key (not a point of the curve)';
}

/** Reads the body up to `limit` bytes; null when it is longer (the rest is not read). */
async function readBody(req: HttpMountRequest, limit: number): Promise<Uint8Array | null> {
  const declared = Number(req.req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return null;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return null;
    chunks.push(chunk);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

function maxAgeOf(dns: Uint8Array): number {
  let min = Infinity;
  try {
    for (const rr of parseDnsPacket(dns).answers ?? []) {
      const ttl = (rr as { ttl?: unknown }).ttl;
      if (typeof ttl === 'number') min = Math.min(min, ttl);
    }
  } catch {
    // stored packets parse; a bound anyway
  }
  return Math.max(MIN_MAX_AGE, Math.min(MAX_MAX_AGE, Number.isFinite(min) ? min : MIN_MAX_AGE));
}

async function put(req: HttpMountRequest, z32: string): Promise<void> {
  const body = await readBody(req, MAX_SIGNED_PACKET_BYTES);
  if (body === null) {
    if (req.req.httpVersionMajor === 1) req.res.setHeader('connection', 'close');
    return answer(req, 413, {}, `the body is above ${MAX_SIGNED_PACKET_BYTES} bytes (64 signature + 8 timestamp + a DNS packet of at most 1000)\n`);
  }
  if (body.length < 72 + 12) return answer(req, 400, {}, `the body has ${body.length} bytes: needs 64 (signature) + 8 (timestamp) + a DNS packet\n`);
  const unmodified = req.req.headers['if-unmodified-since'];
  const ifUnmodifiedSince = typeof unmodified === 'string' ? microsOfHttpDate(unmodified) : null;
  // Accurate to the second only: the stored packet must not be newer than the end of that second.
  const reply = await req.services.bus.request(
    PKARR_SYSTEM_ID,
    'pkarr.put',
    { publicKey: z32, packet: body, publish: true, ...(ifUnmodifiedSince !== null ? { ifUnmodifiedSince: ifUnmodifiedSince + 999_999 } : {}) },
    { deadlineMs: 30_000, signal: req.signal },
  );
  if (reply.refused === 'invalid') return answer(req, 400, {}, `${reply.reason ?? 'invalid signed packet'}\n`);
  if (reply.refused === 'older') return answer(req, 409, {}, `${reply.reason ?? 'a newer packet is stored'}\n`);
  if (reply.refused === 'precondition') return answer(req, 412, {}, `${reply.reason ?? 'If-Unmodified-Since failed'}\n`);
  answer(req, 204, reply.dhtNodes !== undefined ? { 'pkarr-dht-stored-nodes': String(reply.dhtNodes) } : {});
}

async function get(req: HttpMountRequest, z32: string, head: boolean): Promise<void> {
  // The relay's own store first, then the DHT; never other relays (no relay loops).
  const { packet } = await req.services.bus.request(PKARR_SYSTEM_ID, 'pkarr.resolve', { publicKey: z32, relays: [] }, { deadlineMs: 30_000, signal: req.signal });
  if (packet === null) return answer(req, 404, {}, head ? undefined : 'no signed packet for this key\n');
  const p = decodeSignedPacket(packet);
  const headers = {
    'content-type': RELAY_CONTENT_TYPE,
    'cache-control': `public, max-age=${maxAgeOf(p.dnsPacket)}`,
    'last-modified': httpDateOf(p.timestamp),
  };
  const since = req.req.headers['if-modified-since'];
  const sinceMicros = typeof since === 'string' ? microsOfHttpDate(since) : null;
  if (sinceMicros !== null && p.timestamp <= sinceMicros) return answer(req, 304, headers);
  if (head) {
    (req.res as import('node:http').ServerResponse).writeHead(200, { ...CORS, ...headers, 'content-length': String(packet.length) });
    req.res.end();
    return;
  }
  answer(req, 200, headers, packet);
}

/** [pkarr] relayPutsPerMinute and relayPutBurst (defaults in supervisors/config.ts). */
export interface RelayLimits {
  /** PUTs per minute from one address; 0 turns the limit off. */
  putsPerMinute: number;
  /** PUTs one address may make at once. */
  putBurst: number;
}

export function pkarrRelayMount(limits: RelayLimits): HttpMount {
  const puts = limits.putsPerMinute > 0 ? new RateLimiter({ perSecond: limits.putsPerMinute / 60, burst: limits.putBurst }) : null;
  return {
    path: (pathname) => Z32_PATH.test(pathname),
    methods: ['GET', 'HEAD', 'PUT', 'OPTIONS'],
    description: 'pkarr relay: GET and PUT /{z32} with signature ‖ timestamp ‖ DNS packet (docs/pkarr.md)',
    async handle(req) {
      const z32 = req.url.pathname.slice(1);
      const method = req.req.method ?? 'GET';
      if (method === 'OPTIONS') return answer(req, 204, {});
      const problem = keyProblem(z32);
      if (problem) return answer(req, 400, {}, `${problem}\n`);
      if (method === 'PUT') {
        if (puts && !puts.take(req.remote.host)) {
          return answer(req, 429, { 'retry-after': String(Math.ceil(60 / limits.putsPerMinute)) }, `too many PUTs from this address: at most ${limits.putsPerMinute} a minute\n`);
        }
        return put(req, z32);
      }
      return get(req, z32, method === 'HEAD');
    },
  };
}
