// `alknet node --inspect[=PORT]`: the actor system's inspection stream for the Stately inspector.
// A WebSocket relay bound to 127.0.0.1 only (the stock inspector server listens on every interface).
// Only the node itself feeds it, in-process (no socket of its own); viewers are read-only, must come
// from this host (Origin checked: a web page elsewhere cannot read the node's state through the
// viewer's browser), and every buffer is bounded. Contexts and events are sanitized first: no key
// material, no live objects, only data.
import http from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, WebSocket } from 'ws';
import { createInspector } from '@statelyai/inspect';
import type { StatelyInspectionEvent } from '@statelyai/inspect';

/** `--inspect` without a port. Not 9229, which is Node's own debugger (`node --inspect`). */
export const INSPECT_DEFAULT_PORT = 9339;

export interface InspectorLimits {
  /** Viewers connected at once; more are refused with 503 (default 16). */
  maxViewers?: number;
  /** Largest message a viewer may send, bytes (ws maxPayload). Viewers are read-only: any message closes them (default 4096). */
  maxViewerMessageBytes?: number;
  /** Recent events replayed to a new viewer: at most this many (default 500)… */
  maxBufferedEvents?: number;
  /** …and at most this many bytes in all (default 8 MiB). */
  maxBufferedBytes?: number;
  /** An event larger than this (serialized) is not relayed; `dropped` counts it (default 1 MiB). */
  maxEventBytes?: number;
  /** A viewer with more than this many bytes queued (it does not read) is disconnected (default 16 MiB). */
  maxViewerBacklogBytes?: number;
}

export const DEFAULT_INSPECTOR_LIMITS: Required<InspectorLimits> = {
  maxViewers: 16,
  maxViewerMessageBytes: 4096,
  maxBufferedEvents: 500,
  maxBufferedBytes: 8 * 1024 * 1024,
  maxEventBytes: 1024 * 1024,
  maxViewerBacklogBytes: 16 * 1024 * 1024,
};

/** The inspector's port is taken (by another node, or Node's debugger): one line for the CLI to print. */
export class InspectorPortBusyError extends Error {
  override name = 'InspectorPortBusyError';
  constructor(readonly port: number) {
    super(`the inspector port 127.0.0.1:${port} is already in use; choose another with --inspect=PORT`);
  }
}

/** WebSocket close codes the relay uses (RFC 6455 §7.4.1). */
export const CLOSE_READ_ONLY = 1008; // policy violation: a viewer sent something
export const CLOSE_SLOW_VIEWER = 1013; // try again later: the viewer did not keep up

const SECRET_KEY = /secret|private|passphrase|seed|mnemonic|password|token|keyPem/i;
const CONTEXT_DEPTH = 6;
/** Whole inspection events: the context sits three levels down (event.snapshot.context). */
const EVENT_DEPTH = 10;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Plain data only: class instances become their name, bytes their length, secret-named keys "[redacted]". */
function sanitizeForInspector(value: unknown, depth = 0, maxDepth = CONTEXT_DEPTH): unknown {
  if (value === null || typeof value !== 'object') return typeof value === 'function' ? '[function]' : value;
  if (value instanceof Uint8Array) return `[${value.byteLength} bytes]`;
  if (depth >= maxDepth) return '[…]';
  if (Array.isArray(value)) return value.slice(0, 100).map((v) => sanitizeForInspector(v, depth + 1, maxDepth));
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    const json = (value as { toJSON?: () => unknown }).toJSON;
    if (typeof json === 'function') return sanitizeForInspector(json.call(value), depth + 1, maxDepth);
    return `[${(value as object).constructor?.name ?? 'object'}]`;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? '[redacted]' : sanitizeForInspector(v, depth + 1, maxDepth);
  return out;
}

/**
 * A browser puts the page's origin on every WebSocket it opens; CLI tools send none. Accepted: no
 * Origin, or an http page served from this inspector's own host and port. Anything else (a web
 * page anywhere, "null" from a sandboxed frame or a file) could be a site reading the node's state
 * through the visitor's browser.
 */
export function originAllowed(origin: string | undefined, port: number): boolean {
  if (origin === undefined) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  return url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname) && url.port === String(port);
}

export interface RunningInspector {
  port: number;
  /** Pass to createActor / startNode: the node's actors report here, in-process. */
  inspect: ReturnType<typeof createInspector>['inspect'];
  /** Events held for replay to new viewers now. */
  buffered(): { events: number; bytes: number };
  /** Events not relayed because they were larger than maxEventBytes. */
  dropped(): number;
  stop(): void;
}

/** Answers an upgrade we refuse with a plain HTTP status, then closes the socket. */
function refuseUpgrade(socket: Socket, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${text.length}\r\n\r\n${text}`);
  socket.destroySoon?.();
}

export async function startInspector(port: number = INSPECT_DEFAULT_PORT, limitsIn: InspectorLimits = {}): Promise<RunningInspector> {
  const limits = { ...DEFAULT_INSPECTOR_LIMITS, ...limitsIn };
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('alknet inspector: connect the Stately inspector to this address over WebSocket\n');
  });
  server.maxConnections = limits.maxViewers * 2; // viewers plus a few plain HTTP requests
  // Upgrades are checked by hand (noServer), before ws reads a byte of WebSocket data.
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxViewerMessageBytes });
  const recent: { text: string; bytes: number }[] = [];
  let recentBytes = 0;
  let droppedEvents = 0;
  let actualPort = port;

  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => {});
    if (!originAllowed(req.headers.origin, actualPort)) return refuseUpgrade(socket, 403, 'Forbidden');
    if (wss.clients.size >= limits.maxViewers) return refuseUpgrade(socket, 503, 'Service Unavailable');
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  wss.on('connection', (ws: WebSocket) => {
    ws.on('error', () => {}); // a viewer's protocol error (e.g. 1009, message too big) closes only it
    // Read-only: only the node feeds the stream. A viewer that sends anything is closed, and what
    // it sent is never relayed or replayed.
    ws.on('message', () => ws.close(CLOSE_READ_ONLY, 'viewers are read-only'));
    for (const { text } of recent) ws.send(text);
  });

  function relay(event: StatelyInspectionEvent): void {
    const text = JSON.stringify(sanitizeForInspector(event, 0, EVENT_DEPTH));
    const bytes = Buffer.byteLength(text);
    if (bytes > limits.maxEventBytes) {
      droppedEvents++;
      return;
    }
    recent.push({ text, bytes });
    recentBytes += bytes;
    while (recent.length > limits.maxBufferedEvents || recentBytes > limits.maxBufferedBytes) recentBytes -= recent.shift()!.bytes;
    for (const client of wss.clients) {
      if (client.readyState !== WebSocket.OPEN) continue;
      // ws queues what the viewer has not read yet: a viewer that stops reading is cut off
      // rather than allowed to grow the node's memory.
      if (client.bufferedAmount > limits.maxViewerBacklogBytes) client.terminate();
      else client.send(text);
    }
  }

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    wss.close();
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new InspectorPortBusyError(port);
    throw new Error(`cannot start the inspector on 127.0.0.1:${port}: ${(err as Error).message}`);
  }
  actualPort = (server.address() as AddressInfo).port;
  // createInspector (not createWebSocketInspector): the node's events go straight to `relay`.
  const inspector = createInspector({ send: relay }, {
    sanitizeContext: (context) => sanitizeForInspector(context) as typeof context,
    sanitizeEvent: (event) => sanitizeForInspector(event) as typeof event,
  });
  return {
    port: actualPort,
    inspect: inspector.inspect,
    buffered: () => ({ events: recent.length, bytes: recentBytes }),
    dropped: () => droppedEvents,
    stop() {
      inspector.stop();
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.close();
      server.closeAllConnections();
    },
  };
}
