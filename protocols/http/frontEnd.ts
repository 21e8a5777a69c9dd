// The HTTP front end's shared state (one per protocol actor: h2, http/1.1, alknet/http): Node's own
// HTTP servers, never listening, fed the connections the listener accepted.
//
// - h2 (TLS): the accepted TLS socket, which negotiated "h2", is emitted as a 'connection' into a
//   `http2.createServer()`: node:http2 runs the HTTP/2 session on it exactly as its secure server
//   would after the handshake (the handshake is the listener's).
// - http/1.1 (TLS): the socket goes into a `http.createServer()` the same way.
// - alknet/http (QUIC): every stream the client opens is one HTTP/1.1 connection (keep-alive and
//   pipelining as on TCP) into the same kind of server.
//
// Request limits are Node's own parsers' (llhttp: header size → 431, Content-Length together with
// Transfer-Encoding → 400, slow head → 408) and ours (body size → 413), docs/http.md "Limits".
import http from 'node:http';
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Connection } from '../../actors/listener/connection.ts';
import type { SessionServices } from '../protocol.ts';
import { bearerToken, connectionAuthorizer, requireScopes, type HttpCaller } from './auth.ts';
import type { HttpMount } from '../httpMount.ts';
import type { AnyRequest } from './body.ts';
import type { ConnectionInfo, RequestContext } from './context.ts';
import {
  answerError,
  handleBatch,
  handleCall,
  handleIndex,
  handleOperation,
  handleSchema,
  handleSearch,
  handleSubscribe,
} from './gateway.ts';
import { h2SessionMemoryMb, type HttpLimits } from './limits.ts';
import { HttpProblem, httpProblem } from './problem.ts';
import { hasErrorShape } from '../../operations/errors.ts';
import type { AnyResponse } from './respond.ts';
import { createMetrics } from './metrics.ts';
import { handleOpenApi } from './openapi.ts';
import { handleMcp } from './mcp.ts';
import { debugCookieToken, debugRoutes } from './debug.ts';
import { createRequire } from 'node:module';

const VERSION: string = createRequire(import.meta.url)('../../package.json').version;

export const H2_ALPN = 'h2';
export const HTTP1_ALPN = 'http/1.1';
export const QUIC_HTTP_ALPN = 'alknet/http';

/** A route: the method(s) it answers and its handler; `rest` is the path after a prefix route. */
export interface Route {
  methods: readonly string[];
  handle(ctx: RequestContext, rest: string): Promise<void>;
}

/** Extra routes (OpenAPI, MCP, metrics, /debug) plugged in by protocol.ts; exact paths or prefixes ending in "/". */
export type RouteTable = Map<string, Route>;

export interface HttpFrontEnd {
  /** Serves one stream of an accepted connection (TLS: the socket; QUIC: one stream). */
  serve(stream: Duplex, conn: Connection): void;
  readonly routes: RouteTable;
  close(): Promise<void>;
}

function decodePath(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw httpProblem(400, 'INVALID_INPUT', 'the path is not valid percent-encoded UTF-8');
  }
}

/** Paths longer than this are refused with 414 before routing. */
const MAX_PATH_CHARS = 8 * 1024;

/** The mount that serves `path`, and the rest of the path after a prefix mount. */
function findMount(mounts: readonly HttpMount[], path: string): { mount: HttpMount; rest: string } | undefined {
  for (const mount of mounts) {
    if (typeof mount.path === 'function') {
      if (mount.path(path)) return { mount, rest: path };
    } else if (mount.path === path) {
      return { mount, rest: '' };
    } else if (mount.path.endsWith('/') && path.startsWith(mount.path) && path.length > mount.path.length) {
      return { mount, rest: path.slice(mount.path.length) };
    }
  }
  return undefined;
}

export function createHttpFrontEnd(services: SessionServices, options: { alpn: string; limits: HttpLimits; mounts?: readonly HttpMount[] }): HttpFrontEnd {
  const { alpn, limits } = options;
  const mounts = options.mounts ?? [];
  const routes: RouteTable = new Map<string, Route>([
    ['/', { methods: ['GET'], handle: (ctx) => handleIndex(ctx, mounts) }],
    ['/search', { methods: ['GET'], handle: (ctx) => handleSearch(ctx) }],
    ['/schema/', { methods: ['GET'], handle: (ctx, rest) => handleSchema(ctx, decodePath(rest)) }],
    ['/call', { methods: ['POST'], handle: (ctx) => handleCall(ctx) }],
    ['/batch', { methods: ['POST'], handle: (ctx) => handleBatch(ctx) }],
    ['/subscribe', { methods: ['GET'], handle: (ctx) => handleSubscribe(ctx) }],
    ['/ops/', { methods: ['POST'], handle: (ctx, rest) => handleOperation(ctx, decodePath(rest)) }],
  ]);
  const metrics = createMetrics(services);
  routes.set('/openapi.json', { methods: ['GET'], handle: (ctx) => handleOpenApi(ctx, VERSION) });
  routes.set('/mcp', { methods: ['POST', 'GET', 'DELETE'], handle: (ctx) => handleMcp(ctx, VERSION) });
  routes.set('/metrics', { methods: ['GET'], handle: (ctx) => metrics.handle(ctx) });
  for (const [path, route] of debugRoutes()) routes.set(path, route);

  const byConnection = new WeakMap<Connection, ConnectionInfo>();
  const bySocket = new WeakMap<object, ConnectionInfo>();
  const sessions = new Set<http2.ServerHttp2Session>();
  let pendingSession: ConnectionInfo | null = null;

  function infoOf(conn: Connection): ConnectionInfo {
    let info = byConnection.get(conn);
    if (!info) {
      info = { conn, alpn: conn.alpn, authorize: connectionAuthorizer(services, conn.peer?.nodeId ?? null, conn.alpn), eventStreams: 0 };
      byConnection.set(conn, info);
    }
    return info;
  }

  const onRequest = (req: AnyRequest, res: AnyResponse): void => {
    const info = 'stream' in req && req.stream ? bySocket.get(req.stream.session as object) : bySocket.get(req.socket);
    if (!info) {
      res.writeHead(500).end();
      return;
    }
    void dispatch(req, res, info);
  };

  async function dispatch(req: AnyRequest, res: AnyResponse, info: ConnectionInfo): Promise<void> {
    const controller = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) controller.abort(new Error('the client went away'));
    });
    let caller: Promise<HttpCaller> | undefined;
    let authenticated = false;
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'https://node.invalid');
    } catch {
      url = new URL('https://node.invalid/');
    }
    const ctx: RequestContext = {
      req,
      res,
      url,
      info,
      services,
      limits,
      signal: controller.signal,
      caller: () => {
        const token = () => bearerToken(req.headers.authorization) ?? debugCookieToken(url.pathname, req.headers.cookie);
        caller ??= Promise.resolve().then(() => info.authorize(token())).then((c) => {
          authenticated = c.authenticated;
          return c;
        });
        return caller;
      },
    };
    try {
      if ((req.url ?? '').length > MAX_PATH_CHARS) throw httpProblem(414, 'INVALID_INPUT', `the request target is above ${MAX_PATH_CHARS} characters`);
      const path = url.pathname;
      let route = routes.get(path);
      let rest = '';
      if (!route) {
        for (const [prefix, candidate] of routes) {
          if (prefix.endsWith('/') && prefix !== '/' && path.startsWith(prefix) && path.length > prefix.length) {
            route = candidate;
            rest = path.slice(prefix.length);
            break;
          }
        }
      }
      if (!route) {
        // Routes of other protocols (git, DoH, the pkarr relay), plugged in by protocols/builtin.ts.
        const found = findMount(mounts, path);
        if (found) {
          const { mount, rest: mountRest } = found;
          route = {
            methods: mount.methods,
            handle: (c) =>
              mount.handle({
                req: c.req,
                res: c.res,
                url: c.url,
                remote: c.info.conn.remote,
                rest: mountRest,
                services: c.services,
                signal: c.signal,
                caller: () => c.caller(),
                requireScopes: async (scopes, what) => {
                  const caller = await c.caller();
                  requireScopes(caller, scopes, what);
                  return caller;
                },
              }),
          };
        }
      }
      if (!route) throw httpProblem(404, 'NOT_FOUND', `no route ${JSON.stringify(path.slice(0, 200))}; GET / lists them`);
      const method = req.method ?? 'GET';
      if (!route.methods.includes(method)) {
        throw httpProblem(405, 'INVALID_INPUT', `${method} is not allowed on ${path.slice(0, 200)}`, { headers: { allow: route.methods.join(', ') } });
      }
      await route.handle(ctx, rest);
    } catch (err) {
      if (res.headersSent) {
        if (!res.writableEnded) res.end();
        return;
      }
      // An HTTP/1.1 body we stopped reading (413) leaves the connection unusable: close it after the answer.
      if (!req.complete && req.httpVersionMajor === 1) res.setHeader('connection', 'close');
      if (!(err instanceof HttpProblem) && !hasErrorShape(err)) {
        // A bug of ours, not the client's: the client gets a generic INTERNAL, the log gets the message.
        services.log.warn({ alpn: info.alpn, connId: info.conn.id, path: url.pathname.slice(0, 200), error: err instanceof Error ? err.message.slice(0, 300) : String(err) }, 'http request failed');
      }
      answerError(ctx, err, authenticated);
    }
  }

  const h2server = http2.createServer(
    {
      settings: { maxConcurrentStreams: limits.maxConcurrentStreams, maxHeaderListSize: limits.maxHeaderBytes },
      maxSessionMemory: h2SessionMemoryMb(limits),
      maxHeaderListPairs: 128,
      // Pings and settings a client may send without reading our answers.
      maxOutstandingPings: 10,
      maxSettings: 32,
    },
    onRequest,
  );
  h2server.on('session', (session: http2.ServerHttp2Session) => {
    if (pendingSession) bySocket.set(session, pendingSession);
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
    session.on('error', () => {});
  });
  h2server.on('sessionError', () => {});

  const h1server = http.createServer(
    {
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: 5_000,
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(limits.headersTimeoutMs / 4))),
      // Strict parsing (the default): a request with both Content-Length and Transfer-Encoding, or
      // any other ambiguity that could smuggle a second request, is refused with 400.
      insecureHTTPParser: false,
    },
    onRequest,
  );
  // Node checks header and request timeouts (408) once its server is "listening"; this one never
  // listens (the listener owns the sockets), so start those checks here.
  h1server.emit('listening');

  return {
    routes,
    serve(stream, conn) {
      const info = infoOf(conn);
      stream.on('error', () => {});
      if (alpn === H2_ALPN) {
        pendingSession = info;
        try {
          h2server.emit('connection', stream);
        } finally {
          pendingSession = null;
        }
      } else {
        bySocket.set(stream, info);
        h1server.emit('connection', stream);
      }
    },
    async close() {
      metrics.close();
      for (const session of sessions) session.destroy();
      h1server.closeAllConnections();
      // Stops the timeout checks; the server never listened, so its close callback reports that.
      h1server.close(() => {});
      h2server.close(() => {});
    },
  };
}
