// The node's network edge: a QUIC server (UDP) and a TLS server (TCP) on the same host and port
// number, both offering exactly the registered ALPNs, both asking for the client's certificate
// (self-signed Ed25519, no CA) and handing each accepted connection over as a Connection.
import { createServer as createTlsServer } from 'node:tls';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { QUICServer, events } from '@matrixai/quic';
import type { QUICConnection } from '@matrixai/quic';
import { browserCertificate, makeCertificate } from './tlsIdentity.ts';

/** Ed25519 first (the node certificate), then what browsers verify (the P-256 browser certificate). */
const TLS_SIGALGS = 'ed25519:ecdsa_secp256r1_sha256:ecdsa_secp384r1_sha384:ecdsa_secp521r1_sha512:rsa_pss_rsae_sha256:rsa_pss_rsae_sha384:rsa_pss_rsae_sha512:rsa_pss_pss_sha256:rsa_pkcs1_sha256:rsa_pkcs1_sha384:rsa_pkcs1_sha512';
import type { NodeKeyPair } from './tlsIdentity.ts';
import { nodeIdFromPublicKey } from '../vault/nodeId.ts';
import type { NodeId } from '../vault/nodeId.ts';
import { normalizeHost, sanitizeReason } from './connection.ts';
import type { Connection } from './connection.ts';
import { negotiatedAlpn, QUIC_APP_CLOSE_CODE, quicConfigOf, quicServerConnectionCount, quicTuningFor, watchQuicAccepts,
  wrapQuicConnection } from './quicConnection.ts';
import type { QuicTuning } from './quicConnection.ts';
import { wrapTlsSocket } from './tlsConnection.ts';
import { peerFromChain, peerFromTlsSocket, quicVerifyCallback } from './peerCertificate.ts';
import { quicServerCrypto } from './quicCrypto.ts';
import { DEFAULT_REFUSAL_LOGS_PER_SECOND, quicLogger, RefusalLog, silentLogger } from './logger.ts';
import type { TransportLogger } from './logger.ts';

export interface ListenerLimits {
  /** Open connections per remote IP, both transports together (default 100). */
  perIp?: number;
  /** A connection with no traffic for this long is closed (default 30000; 0 = never). */
  idleTimeoutMs?: number;
  /** Streams the peer may have open at once on one QUIC connection (default 100). */
  maxStreamsPerConnection?: number;
  /**
   * A handshake not finished within this is dropped (default 10000). TLS: counted from the TCP
   * accept, however the client dribbles its bytes (a slow ClientHello does not extend it).
   */
  handshakeTimeoutMs?: number;
  /**
   * Connections at once, TLS and QUIC together, handshakes in progress included; past it new
   * ones are refused. 0 (the default) derives it from the process's open-file limit:
   * see `defaultMaxConnections`.
   */
  maxConnections?: number;
  /** Refusal log lines per kind of refusal per second; the rest are counted (default 10). */
  refusalLogsPerSecond?: number;
  /**
   * QUIC: once this many handshakes are in progress, new clients must first prove their address
   * with a Stateless Retry (one more round trip); below it they are accepted at once (default 16;
   * 0 = always retry, js-quic's own behaviour). See docs/transport.md.
   */
  quicRetryAbove?: number;
}

export interface ListenerOptions {
  host: string;
  /** 0 picks a port free on both UDP and TCP. */
  port: number;
  alpns: string[];
  identity: NodeKeyPair;
  onConnection(conn: Connection): void;
  limits?: ListenerLimits;
  /** QUIC settings over the node's choice for the listening host (see quicTuningFor). */
  quic?: Partial<QuicTuning>;
  logger?: TransportLogger;
}

export interface Listener {
  quicPort: number;
  tcpPort: number;
  /** host:port (IPv6 hosts in brackets). */
  address: string;
  nodeId: NodeId;
  /** Replaces the offered ALPNs for connections from now on. */
  setAlpns(alpns: string[]): void;
  /** Connections open now (both transports). */
  connectionCount(): number;
  /** What counts against maxConnections now: TCP sockets (TLS handshakes included) and QUIC connections js-quic holds. */
  liveConnections(): number;
  /** The connection cap in force (limits.maxConnections, or the one derived from the open-file limit). */
  maxConnections: number;
  /** Refuses new connections; open ones keep working. */
  stopAccepting(): Promise<void>;
  /** Closes every connection and both servers. */
  close(reason?: string): Promise<void>;
}

export const DEFAULT_LIMITS: Required<ListenerLimits> = {
  perIp: 100,
  idleTimeoutMs: 30_000,
  maxStreamsPerConnection: 100,
  handshakeTimeoutMs: 10_000,
  quicRetryAbove: 16,
  maxConnections: 0,
  refusalLogsPerSecond: DEFAULT_REFUSAL_LOGS_PER_SECOND,
};

export const REASON_TOO_MANY_FROM_IP = 'too many connections from IP';
export const REASON_NOT_ACCEPTING = 'not accepting new connections';
export const REASON_AT_CONNECTION_LIMIT = 'server is at its connection limit';

/** The `refusal` field of the listener's refusal log lines: one rate limit per kind. */
export const REFUSAL = {
  perIp: 'per-IP limit',
  connectionLimit: 'connection limit',
  notAccepting: 'not accepting',
  handshakeTimeout: 'handshake timeout',
  handshakeFailed: 'handshake failed',
  badCertificate: 'bad client certificate',
  unknownAlpn: 'unknown ALPN',
  noAlpn: 'no ALPN',
  acceptFailed: 'accept failed',
} as const;

/** Descriptors kept free for the node's own files (stores, logs, outgoing dials) when the cap is derived. */
export const FD_HEADROOM = 256;
/** The derived cap never goes above this: past it memory, not descriptors, is what runs out. */
export const MAX_DERIVED_CONNECTIONS = 16_384;
/** The cap where the open-file limit cannot be read (no /proc: macOS, Windows). */
export const FALLBACK_MAX_CONNECTIONS = 1_024;

/**
 * The soft RLIMIT_NOFILE of this process from /proc/self/limits ("Max open files"), Infinity for
 * "unlimited", null where it cannot be read. Node raises the soft limit to the hard one at
 * start, so this is what the process really has.
 */
export function openFileLimit(procLimits?: string): number | null {
  let text = procLimits;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return null;
    }
  }
  const match = /^Max open files\s+(\S+)/m.exec(text);
  if (match === null) return null;
  if (match[1] === 'unlimited') return Infinity;
  const soft = Number(match[1]);
  return Number.isInteger(soft) && soft > 0 ? soft : null;
}

/**
 * The default connection cap: the open-file limit less FD_HEADROOM (but at least half the limit,
 * so a small limit still leaves room for connections), at most MAX_DERIVED_CONNECTIONS.
 * Each TCP connection holds a descriptor; refusing at this cap keeps accept() from failing with
 * EMFILE and the node's own files from failing to open.
 */
export function defaultMaxConnections(softLimit: number | null = openFileLimit()): number {
  if (softLimit === null) return FALLBACK_MAX_CONNECTIONS;
  const derived = Math.max(softLimit - FD_HEADROOM, Math.floor(softLimit / 2));
  return Math.max(1, Math.min(derived, MAX_DERIVED_CONNECTIONS));
}

/** How often the listener checks that the process can still open a descriptor (see watchDescriptors). */
export const DESCRIPTOR_CHECK_MS = 1_000;

/**
 * Calls `onExhausted(code)` each time a check finds the process out of descriptors (EMFILE, or
 * ENFILE for the whole system). accept() failing for want of descriptors is invisible to the
 * program: libuv accepts and closes the waiting clients itself and reports nothing, so the
 * listener would drop clients without a word. Opening /dev/null once a second is the cheapest
 * way to notice. Returns the stop function; stops by itself where /dev/null cannot be opened.
 */
function watchDescriptors(onExhausted: (code: string) => void): () => void {
  const timer = setInterval(() => {
    try {
      closeSync(openSync('/dev/null', 'r'));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EMFILE' || code === 'ENFILE') onExhausted(code);
      else clearInterval(timer); // no /dev/null here: nothing to watch with
    }
  }, DESCRIPTOR_CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/** A refused TLS client gets this long to take our close_notify before its socket is destroyed. */
const REFUSED_TLS_GRACE_MS = 1_000;
/** At most this many of the ALPNs a refused client offered are logged, each cut to 64 characters. */
const LOGGED_ALPNS = 4;

const PORT_ATTEMPTS = 20;

export function validateAlpns(alpns: readonly string[]): string[] {
  if (alpns.length === 0) throw new Error('a listener needs at least one ALPN');
  for (const alpn of alpns) {
    const size = Buffer.byteLength(alpn);
    if (size < 1 || size > 255) throw new Error(`ALPN "${alpn}" must be 1 to 255 bytes`);
  }
  return [...new Set(alpns)];
}

function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Open connections per remote IP, shared by both transports. */
class IpCounter {
  private readonly counts = new Map<string, number>();
  constructor(private readonly limit: number) {}
  /** Counts one more from host; false (and not counted) if that would pass the limit. */
  tryAdd(host: string): boolean {
    const n = this.counts.get(host) ?? 0;
    if (n >= this.limit) return false;
    this.counts.set(host, n + 1);
    return true;
  }
  remove(host: string): void {
    const n = (this.counts.get(host) ?? 1) - 1;
    if (n <= 0) this.counts.delete(host);
    else this.counts.set(host, n);
  }
}

export async function startListener(opts: ListenerOptions): Promise<Listener> {
  const logger = opts.logger ?? silentLogger;
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  if (!(limits.handshakeTimeoutMs > 0)) throw new Error('limits.handshakeTimeoutMs must be a positive number of ms');
  const maxConnections = limits.maxConnections > 0 ? limits.maxConnections : defaultMaxConnections();
  const refusals = new RefusalLog(logger, { perWindow: limits.refusalLogsPerSecond });
  let alpns = validateAlpns(opts.alpns);
  // The server's send size is per listener (js-quic has one config per server): a loopback
  // listener sends big datagrams, any other sends ones that cross the internet.
  const quicConfig = quicConfigOf(quicTuningFor(opts.host, opts.quic));
  const identity = makeCertificate(opts.identity);
  const browserIdentity = browserCertificate(opts.identity);
  const nodeId = nodeIdFromPublicKey(opts.identity.publicKey);
  const perIp = new IpCounter(limits.perIp);
  const open = new Set<Connection>();
  const rawTcpSockets = new Set<Socket>();
  /** TLS handshake deadlines by `remoteAddress|remotePort` (the raw socket and its TLSSocket share it). */
  const handshakeDeadlines = new Map<string, NodeJS.Timeout>();
  /** The ALPNs a client offered when none was served, for the refusal line (set by ALPNCallback). */
  const offeredAlpns = new WeakMap<object, string[]>();
  let quicServer: QUICServer | undefined;
  let accepting = true;
  let closing: Promise<void> | undefined;

  /** Connections the node holds now: TCP sockets (TLS handshakes included) and js-quic's connections. */
  function liveConnections(): number {
    return rawTcpSockets.size + (quicServer === undefined ? 0 : quicServerConnectionCount(quicServer));
  }

  function hand(conn: Connection): void {
    open.add(conn);
    void conn.closed.then(({ reason }) => {
      open.delete(conn);
      logger.debug({ connId: conn.id, reason }, 'connection closed');
    });
    logger.debug({ connId: conn.id, alpn: conn.alpn, transport: conn.transport, peer: conn.peer?.nodeId ?? null,
      remote: conn.remote }, 'connection accepted');
    try {
      opts.onConnection(conn);
    } catch (err) {
      logger.error({ connId: conn.id, err: (err as Error).message }, 'onConnection threw; closing that connection');
      void conn.close('internal error');
    }
  }

  // ---- TLS over TCP ----
  function makeTls(): TlsServer {
    const server = createTlsServer({
      // The node certificate (Ed25519) first; a client that cannot verify Ed25519 (a web browser)
      // gets the P-256 one the node key signed (tlsIdentity.ts browserCertificate). The server's
      // signature-algorithm order decides, so every client that can use Ed25519 gets it.
      key: [identity.keyPem, browserIdentity.keyPem],
      cert: [identity.certPem, browserIdentity.certPem],
      sigalgs: TLS_SIGALGS,
      honorCipherOrder: true,
      requestCert: true, // optional: a client may show none
      rejectUnauthorized: false, // no CA: the certificate is checked by peerFromTlsSocket
      // Off: Node's timer only measures inactivity (a byte every few seconds resets it). The
      // absolute deadline set on accept below is what bounds a handshake.
      handshakeTimeout: 0,
      // Returning undefined aborts the handshake with a no_application_protocol alert; what the
      // client offered is kept for the refusal line (`this` is the TLSSocket).
      ALPNCallback(this: TLSSocket, { protocols }) {
        const chosen = protocols.find((p) => alpns.includes(p));
        if (chosen === undefined) offeredAlpns.set(this, protocols.slice(0, LOGGED_ALPNS).map((p) => sanitizeReason(p).slice(0, 64)));
        return chosen;
      },
    });
    server.on('connection', (socket: Socket) => {
      const host = normalizeHost(socket.remoteAddress ?? '');
      const remote = { remote: host, transport: 'tls' };
      if (!accepting) {
        refusals.refused(REFUSAL.notAccepting, remote, 'tls connection refused');
        socket.destroy();
        return;
      }
      // Before the per-IP count, so a refused socket is counted nowhere. rawTcpSockets holds
      // every TCP socket from accept to close: handshakes in progress count against the cap.
      if (liveConnections() >= maxConnections) {
        refusals.refused(REFUSAL.connectionLimit, { ...remote, maxConnections }, 'tls connection refused');
        socket.destroy();
        return;
      }
      if (!perIp.tryAdd(host)) {
        refusals.refused(REFUSAL.perIp, { ...remote, reason: REASON_TOO_MANY_FROM_IP }, 'tls connection refused');
        socket.destroy();
        return;
      }
      rawTcpSockets.add(socket);
      const key = `${socket.remoteAddress}|${socket.remotePort}`;
      const deadline = setTimeout(() => {
        refusals.refused(REFUSAL.handshakeTimeout, remote, 'tls handshake not finished in time; closed');
        socket.destroy();
      }, limits.handshakeTimeoutMs);
      handshakeDeadlines.set(key, deadline);
      socket.once('close', () => {
        clearTimeout(deadline);
        if (handshakeDeadlines.get(key) === deadline) handshakeDeadlines.delete(key);
        rawTcpSockets.delete(socket);
        perIp.remove(host);
      });
    });
    server.on('secureConnection', (socket: TLSSocket) => {
      const key = `${socket.remoteAddress}|${socket.remotePort}`;
      clearTimeout(handshakeDeadlines.get(key));
      handshakeDeadlines.delete(key);
      const remote = { remote: normalizeHost(socket.remoteAddress ?? ''), transport: 'tls' };
      const refuse = (kind: string, reason: string): void => {
        refusals.refused(kind, { ...remote, reason }, 'tls connection refused');
        closeRefusedTls(socket);
      };
      socket.on('error', (err: Error) => logger.debug({ err: err.message }, 'tls socket error'));
      if (!accepting) return refuse(REFUSAL.notAccepting, REASON_NOT_ACCEPTING);
      const alpn = socket.alpnProtocol;
      if (typeof alpn !== 'string' || !alpns.includes(alpn)) return refuse(REFUSAL.noAlpn, 'client offered no ALPN');
      let peer;
      try {
        peer = peerFromTlsSocket(socket);
      } catch (err) {
        return refuse(REFUSAL.badCertificate, `bad client certificate: ${sanitizeReason((err as Error).message)}`);
      }
      hand(wrapTlsSocket(socket, { alpn, peer, side: 'accepted', logger, idleTimeoutMs: limits.idleTimeoutMs }));
    });
    server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
      const remote = { remote: normalizeHost(socket.remoteAddress ?? ''), transport: 'tls' };
      // Node leaves the socket open once this event has a listener: close it here, or a client
      // whose handshake failed keeps its descriptor.
      socket.destroy();
      if (err.code === 'ERR_SSL_NO_APPLICATION_PROTOCOL') {
        refusals.refused(REFUSAL.unknownAlpn, { ...remote, offered: offeredAlpns.get(socket) ?? [] },
          'tls connection refused: no offered ALPN is served');
      } else if (err.code === 'ECONNRESET') {
        // The TCP connection ended mid-handshake: the client left, or our deadline (logged) cut it.
        logger.debug(remote, 'tls handshake cut short');
      } else {
        refusals.refused(REFUSAL.handshakeFailed, { ...remote, code: err.code ?? 'unknown' }, 'tls handshake failed');
      }
    });
    server.on('error', (err: NodeJS.ErrnoException) => {
      // accept() failing drops that one client; the server keeps listening. (EMFILE rarely gets
      // here: libuv handles it itself, see watchDescriptors.) Logged, rate-limited, never thrown.
      if (err.syscall === 'accept') {
        refusals.refused(REFUSAL.acceptFailed, { code: err.code ?? 'unknown', maxConnections },
          `cannot accept a TCP connection (${err.code ?? err.message}); that client was dropped`, 'error');
        return;
      }
      logger.error({ err: err.message }, 'tls server error');
    });
    return server;
  }

  /**
   * Ends a refused TLS connection with close_notify rather than a reset: the client reads an
   * orderly close. TLS has no field for a reason (the refusal is in our log); a client that
   * does not close its side in time is destroyed.
   */
  function closeRefusedTls(socket: TLSSocket): void {
    socket.resume(); // discard what the client sends meanwhile, so our close is not answered by a reset
    socket.end();
    const timer = setTimeout(() => socket.destroy(), Math.min(REFUSED_TLS_GRACE_MS, limits.handshakeTimeoutMs));
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  }

  // ---- QUIC over UDP ----
  function makeQuic(): QUICServer {
    const server = new QUICServer({
      crypto: quicServerCrypto(),
      minIdleTimeout: limits.handshakeTimeoutMs,
      statelessRetryAbove: limits.quicRetryAbove,
      logger: quicLogger(opts.logger, 'quic-server'),
      config: {
        key: identity.keyPem,
        cert: identity.certPem,
        // js-quic then asks for the client's certificate (and requires one: see docs/transport.md).
        verifyPeer: true,
          verifyCallback: quicVerifyCallback(() => undefined, (reason) =>
          refusals.refused(REFUSAL.badCertificate, { transport: 'quic', reason: `bad client certificate: ${sanitizeReason(reason)}` },
            'quic connection refused')),
        applicationProtos: alpns,
        maxIdleTimeout: limits.idleTimeoutMs,
        initialMaxStreamsBidi: limits.maxStreamsPerConnection,
        initialMaxStreamsUni: 0, // the Connection interface only has bidirectional streams
        ...quicConfig,
      },
    });
    server.addEventListener(events.EventQUICServerConnection.name, (evt: Event) => {
      onQuicConnection((evt as events.EventQUICServerConnection).detail);
    });
    watchQuicAccepts(server, {
      // A client's first Initial at the cap is dropped before js-quic keeps any state for it;
      // its dial gets no answer (answering would mean holding a connection for it).
      admit: (host) => {
        if (liveConnections() < maxConnections) return true;
        refusals.refused(REFUSAL.connectionLimit, { remote: host, transport: 'quic', maxConnections }, 'quic connection refused');
        return false;
      },
      failed: (host, reason) => {
        const fields = { remote: host, transport: 'quic', reason };
        if (reason === 'no offered ALPN is served') refusals.refused(REFUSAL.unknownAlpn, fields, 'quic connection refused: no offered ALPN is served');
        else if (reason === 'handshake timeout') refusals.refused(REFUSAL.handshakeTimeout, fields, 'quic handshake not finished in time');
        // A certificate we refused was logged by the verify callback with its real reason.
        else if (!/BadCertificate/.test(reason)) refusals.refused(REFUSAL.handshakeFailed, fields, 'quic handshake failed');
      },
    });
    quicServerConnectionCount(server); // a js-quic without the connection map fails here, at start, not per connection
    quicServer = server;
    return server;
  }

  function onQuicConnection(quic: QUICConnection): void {
    const host = normalizeHost(quic.remoteHost);
    const stopWith = (reason: string): Promise<void> =>
      quic.stop({ isApp: true, errorCode: QUIC_APP_CLOSE_CODE, reason: Buffer.from(reason), force: true });
    const refuse = (kind: string, reason: string): void => {
      refusals.refused(kind, { remote: host, transport: 'quic', reason }, 'quic connection refused');
      stopWith(reason).catch(() => {});
    };
    if (!accepting) return refuse(REFUSAL.notAccepting, REASON_NOT_ACCEPTING);
    // This connection is in js-quic's count already; TCP may have filled the cap during its handshake.
    if (liveConnections() > maxConnections) return refuse(REFUSAL.connectionLimit, REASON_AT_CONNECTION_LIMIT);
    let alpn: string;
    let peer;
    try {
      alpn = negotiatedAlpn(quic);
      peer = peerFromChain(quic.getRemoteCertsChain());
    } catch (err) {
      return refuse(REFUSAL.badCertificate, sanitizeReason((err as Error).message));
    }
    if (!perIp.tryAdd(host)) return refuse(REFUSAL.perIp, REASON_TOO_MANY_FROM_IP);
    const conn = wrapQuicConnection(quic, { alpn, peer, logger, stop: (reason) =>
      quic.stop({ isApp: true, errorCode: QUIC_APP_CLOSE_CODE, reason, force: true }) });
    void conn.closed.then(() => perIp.remove(host));
    hand(conn);
  }

  // ---- bind both on one port number ----
  const bound = await bindSamePort(opts.host, opts.port, makeTls, makeQuic);
  const stopWatchingDescriptors = watchDescriptors((code) => refusals.refused(REFUSAL.acceptFailed, { code, maxConnections, tcp: rawTcpSockets.size },
    `the process is out of file descriptors (${code}): new TCP clients are dropped until some close`, 'error'));
  const { tls, quic, port } = bound;
  logger.info({ address: formatAddress(opts.host, port), alpns, maxConnections }, 'listening on QUIC and TLS');

  async function stopAccepting(): Promise<void> {
    if (!accepting) return;
    accepting = false;
    // TCP: stop listening (new connects are refused by the OS); open sockets stay. close()'s
    // callback waits for every socket to end, so it is not awaited here.
    if (tls.listening) tls.close();
  }

  async function close(reason = 'listener closed'): Promise<void> {
    closing ??= (async () => {
      await stopAccepting();
      const text = sanitizeReason(reason);
      const conns = [...open];
      await Promise.all(conns.map((c) => c.close(text)));
      // Connections still in their handshake are not in `open`: the server stop ends them.
      await quic.stop({ isApp: true, errorCode: QUIC_APP_CLOSE_CODE, reason: Buffer.from(text), force: true })
        .catch((err: Error) => logger.debug({ err: err.message }, 'quic server stop failed'));
      for (const socket of rawTcpSockets) socket.destroy();
      stopWatchingDescriptors();
      for (const timer of handshakeDeadlines.values()) clearTimeout(timer);
      handshakeDeadlines.clear();
      refusals.close();
      logger.info({ address: formatAddress(opts.host, port) }, 'listener closed');
    })();
    return closing;
  }

  return {
    quicPort: port,
    tcpPort: port,
    address: formatAddress(opts.host, port),
    nodeId,
    setAlpns(next: string[]): void {
      alpns = validateAlpns(next);
      quic.updateConfig({ applicationProtos: alpns });
    },
    connectionCount: () => open.size,
    liveConnections,
    maxConnections,
    stopAccepting,
    close,
  };
}

async function listenTcp(server: TlsServer, host: string, port: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', onError);
      const address = server.address();
      if (address === null || typeof address === 'string') return reject(new Error('TCP server has no port'));
      resolve(address.port);
    });
  });
}

/**
 * TCP first (port 0 lets the OS choose), then UDP on that same number; if the UDP port is taken,
 * try again with another TCP port (only when the caller asked for any port).
 */
async function bindSamePort(host: string, port: number, makeTls: () => TlsServer, makeQuic: () => QUICServer):
  Promise<{ tls: TlsServer; quic: QUICServer; port: number }> {
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < (port === 0 ? PORT_ATTEMPTS : 1); attempt++) {
    const tls = makeTls();
    let chosen: number;
    try {
      chosen = await listenTcp(tls, host, port);
    } catch (err) {
      throw new Error(`cannot listen on TCP ${formatAddress(host, port)}: ${(err as Error).message}`);
    }
    const quic = makeQuic();
    try {
      await quic.start({ host, port: chosen });
      return { tls, quic, port: chosen };
    } catch (err) {
      lastError = err as Error;
      await new Promise<void>((resolve) => tls.close(() => resolve()));
    }
  }
  throw new Error(`cannot listen on UDP ${formatAddress(host, port)}: ${lastError?.message ?? 'unknown error'}`);
}
