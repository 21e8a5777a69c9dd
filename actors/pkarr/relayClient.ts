// The client side of pkarr's relay API (design/relays.md): `GET /{z32}` and `PUT /{z32}` with the
// body signature ‖ timestamp ‖ DNS packet. A relay is either
//   - an HTTP(S) URL ("https://relay.example/", "http://127.0.0.1:8080"): a pkarr relay of anyone,
//     reached with fetch (the system's CAs for https); or
//   - an alknet node's address, `NODEID@host:port` (key pinned) or `host:port` (trust on first use
//     through known_nodes): its HTTP front end over TLS (ALPN http/1.1), whose certificate carries
//     the node key — no CA would vouch for it.
// What comes back is verified under the key before anyone uses it (the caller does that).
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { dial, parseAddress } from '../listener/dial.ts';
import type { NodeKeyPair } from '../listener/tlsIdentity.ts';
import { MAX_SIGNED_PACKET_BYTES } from '../../lib/pkarr/signedPacket.ts';

export const RELAY_CONTENT_TYPE = 'application/pkarr.org/relays#payload';
const HTTP1_ALPN = 'http/1.1';

export interface RelayClientOptions {
  /** For a bare host:port relay (trust on first use). */
  knownNodesPath?: string;
  /** Our key, shown to an alknet relay. */
  identity?: NodeKeyPair;
  /** Per request, ms (default 10000). */
  timeoutMs?: number;
}

export interface RelayAnswer {
  status: number;
  body: Uint8Array;
  headers: Record<string, string>;
}

/** Whether `relay` is an HTTP(S) URL (else an alknet node address). */
export function isHttpRelay(relay: string): boolean {
  return /^https?:\/\//i.test(relay);
}

/** Checks a relay's form; throws a one-line reason. */
export function checkRelay(relay: string): void {
  if (isHttpRelay(relay)) {
    try {
      new URL(relay);
    } catch {
      throw new Error(`relay "${relay.slice(0, 80)}" is not a URL`);
    }
    return;
  }
  parseAddress(relay);
}

const MAX_ANSWER_BYTES = 64 * 1024;

async function request(relay: string, method: 'GET' | 'PUT', z32: string, body: Uint8Array | null, headers: Record<string, string>, opts: RelayClientOptions): Promise<RelayAnswer> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  if (isHttpRelay(relay)) {
    const url = new URL(relay);
    url.pathname = `${url.pathname.replace(/\/+$/, '')}/${z32}`;
    const res = await fetch(url, {
      method,
      headers: { ...headers, ...(body ? { 'content-type': RELAY_CONTENT_TYPE } : {}) },
      ...(body ? { body: Buffer.from(body) } : {}),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const buf = new Uint8Array(await res.arrayBuffer());
    if (buf.length > MAX_ANSWER_BYTES) throw new Error(`relay ${relay} answered ${buf.length} bytes`);
    const hdrs: Record<string, string> = {};
    res.headers.forEach((value, key) => {
      hdrs[key] = value;
    });
    return { status: res.status, body: buf, headers: hdrs };
  }
  const conn = await dial(relay, {
    alpn: HTTP1_ALPN,
    transport: 'tls',
    timeoutMs,
    ...(opts.knownNodesPath ? { knownNodesPath: opts.knownNodesPath } : {}),
    ...(opts.identity ? { identity: opts.identity } : {}),
  });
  try {
    const stream = await conn.openStream();
    return await http1Request(stream, relay, method, `/${z32}`, body, headers, timeoutMs);
  } finally {
    await conn.close('relay request done').catch(() => {});
  }
}

function http1Request(stream: Duplex, relay: string, method: string, path: string, body: Uint8Array | null, headers: Record<string, string>, timeoutMs: number): Promise<RelayAnswer> {
  return new Promise((resolve, reject) => {
    const { host, port } = parseAddress(relay);
    const req = http.request({
      method,
      path,
      host: host.includes(':') ? `[${host}]` : host,
      port,
      headers: { ...headers, ...(body ? { 'content-type': RELAY_CONTENT_TYPE, 'content-length': String(body.length) } : {}), connection: 'close' },
      createConnection: () => stream as unknown as import('node:net').Socket,
      timeout: timeoutMs,
    });
    req.on('timeout', () => req.destroy(new Error(`relay ${relay} did not answer within ${timeoutMs} ms`)));
    req.on('error', (err) => reject(new Error(`relay ${relay}: ${err.message}`)));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_ANSWER_BYTES) req.destroy(new Error(`relay ${relay} answered more than ${MAX_ANSWER_BYTES} bytes`));
        else chunks.push(c);
      });
      res.on('end', () => {
        const hdrs: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) hdrs[k] = Array.isArray(v) ? v.join(', ') : v;
        resolve({ status: res.statusCode ?? 0, body: new Uint8Array(Buffer.concat(chunks)), headers: hdrs });
      });
      res.on('error', (err) => reject(new Error(`relay ${relay}: ${err.message}`)));
    });
    req.end(body ? Buffer.from(body) : undefined);
  });
}

/** GET /{z32}: the relay's bytes (not yet verified), or null on 404. Throws on other failures. */
export async function relayGet(relay: string, z32: string, opts: RelayClientOptions = {}): Promise<Uint8Array | null> {
  const res = await request(relay, 'GET', z32, null, {}, opts);
  if (res.status === 404) return null;
  if (res.status !== 200) throw new Error(`relay ${relay} answered ${res.status}${detail(res)}`);
  if (res.body.length > MAX_SIGNED_PACKET_BYTES) throw new Error(`relay ${relay} answered ${res.body.length} bytes: more than a signed packet`);
  return res.body;
}

/** PUT /{z32} with a signed packet. Resolves with the relay's status (204/200 = stored). */
export async function relayPut(relay: string, z32: string, packet: Uint8Array, opts: RelayClientOptions = {}): Promise<{ ok: boolean; status: number; detail: string }> {
  const res = await request(relay, 'PUT', z32, packet, {}, opts);
  const ok = res.status >= 200 && res.status < 300;
  return { ok, status: res.status, detail: ok ? `stored (${res.status})` : `${res.status}${detail(res)}` };
}

function detail(res: RelayAnswer): string {
  const text = Buffer.from(res.body.subarray(0, 300)).toString('utf8').replace(/[\u0000-\u001f]+/g, ' ').trim();
  if (text.length === 0) return '';
  try {
    const j = JSON.parse(text) as { detail?: unknown };
    if (typeof j.detail === 'string') return `: ${j.detail}`;
  } catch {
    // plain text
  }
  return `: ${text}`;
}
