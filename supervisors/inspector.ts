// `alknet node --inspect[=PORT]`: the actor system's inspection stream for the Stately inspector.
// A WebSocket relay bound to 127.0.0.1 only (the stock inspector server listens on every interface),
// fed by @statelyai/inspect's WebSocket inspector. Contexts and events are sanitized first: no key
// material, no live objects, only data.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, WebSocket } from 'ws';
import { createWebSocketInspector } from '@statelyai/inspect';

const SECRET_KEY = /secret|private|passphrase|seed|mnemonic|password|token|keyPem/i;
const MAX_DEPTH = 6;

/** Plain data only: class instances become their name, bytes their length, secret-named keys "[redacted]". */
function sanitizeForInspector(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object') return typeof value === 'function' ? '[function]' : value;
  if (value instanceof Uint8Array) return `[${value.byteLength} bytes]`;
  if (depth >= MAX_DEPTH) return '[…]';
  if (Array.isArray(value)) return value.slice(0, 100).map((v) => sanitizeForInspector(v, depth + 1));
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    const json = (value as { toJSON?: () => unknown }).toJSON;
    if (typeof json === 'function') return sanitizeForInspector(json.call(value), depth + 1);
    return `[${(value as object).constructor?.name ?? 'object'}]`;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? '[redacted]' : sanitizeForInspector(v, depth + 1);
  return out;
}

export interface RunningInspector {
  port: number;
  inspect: ReturnType<typeof createWebSocketInspector>['inspect'];
  stop(): void;
}

export async function startInspector(port: number): Promise<RunningInspector> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('alknet inspector: connect the Stately inspector to this address over WebSocket\n');
  });
  const wss = new WebSocketServer({ server });
  const recent: string[] = [];
  wss.on('connection', (ws) => {
    for (const msg of recent) ws.send(msg);
    ws.on('message', (data) => {
      const msg = data.toString();
      recent.push(msg);
      if (recent.length > 500) recent.shift();
      for (const client of wss.clients) if (client !== ws && client.readyState === WebSocket.OPEN) client.send(msg);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actualPort = (server.address() as AddressInfo).port;
  const inspector = createWebSocketInspector({
    url: `ws://127.0.0.1:${actualPort}`,
    sanitizeContext: (context) => sanitizeForInspector(context) as typeof context,
    sanitizeEvent: (event) => sanitizeForInspector(event) as typeof event,
  });
  return {
    port: actualPort,
    inspect: inspector.inspect,
    stop() {
      inspector.stop();
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.close();
    },
  };
}
