// The node's network edge: a QUIC server (UDP) and a TLS server (TCP) on the same host and port
// number, both offering exactly the registered ALPNs, both asking for the client's certificate
// (self-signed Ed25519, no CA) and handing each accepted connection over as a Connection.
import { createServer as createTlsServer } from 'node:tls';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import { QUICServer, events } from '@matrixai/quic';
import type { QUICConnection } from '@matrixai/quic';
import { makeCertificate } from './tlsIdentity.ts';
import type { NodeKeyPair } from './tlsIdentity.ts';
import { nodeIdFromPublicKey } from '../vault/nodeId.ts';
import type { NodeId } from '../vault/nodeId.ts';
import { normalizeHost, sanitizeReason } from './connection.ts';
import type { Connection } from './connection.ts';
import { negotiatedAlpn, QUIC_APP_CLOSE_CODE, quicConfigOf, quicTuningFor, wrapQuicConnection } from './quicConnection.ts';
import type { QuicTuning } from './quicConnection.ts';
import { wrapTlsSocket } from './tlsConnection.ts';
import { peerFromChain, peerFromTlsSocket, quicVerifyCallback } from './peerCertificate.ts';
import { quicServerCrypto } from './quicCrypto.ts';
import { quicLogger, silentLogger } from './logger.ts';
import type { TransportLogger } from './logger.ts';

export interface ListenerLimits {
  /** Open connections per remote IP, both transports together (default 100). */
  perIp?: number;
  /** A connection with no traffic for this long is closed (default 30000; 0 = never). */
  idleTimeoutMs?: number;
  /** Streams the peer may have open at once on one QUIC connection (default 100). */
  maxStreamsPerConnection?: number;
  /** A handshake not finished within this is dropped (default 10000). */
  handshakeTimeoutMs?: number;
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
};

export const REASON_TOO_MANY_FROM_IP = 'too many connections from IP';
export const REASON_NOT_ACCEPTING = 'not accepting new connections';

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
  let alpns = validateAlpns(opts.alpns);
  // The server's send size is per listener (js-quic has one config per server): a loopback
  // listener sends big datagrams, any other sends ones that cross the internet.
  const quicConfig = quicConfigOf(quicTuningFor(opts.host, opts.quic));
  const identity = makeCertificate(opts.identity);
  const nodeId = nodeIdFromPublicKey(opts.identity.publicKey);
  const perIp = new IpCounter(limits.perIp);
  const open = new Set<Connection>();
  const rawTcpSockets = new Set<Socket>();
  let accepting = true;
  let closing: Promise<void> | undefined;

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
      key: identity.keyPem,
      cert: identity.certPem,
      requestCert: true, // optional: a client may show none
      rejectUnauthorized: false, // no CA: the certificate is checked by peerFromTlsSocket
      handshakeTimeout: limits.handshakeTimeoutMs,
      // Returning undefined aborts the handshake with a no_application_protocol alert.
      ALPNCallback: ({ protocols }) => protocols.find((p) => alpns.includes(p)),
    });
    server.on('connection', (socket: Socket) => {
      const host = normalizeHost(socket.remoteAddress ?? '');
      if (!accepting) {
        socket.destroy();
        return;
      }
      if (!perIp.tryAdd(host)) {
        logger.warn({ remote: host, reason: REASON_TOO_MANY_FROM_IP }, 'tls connection refused');
        socket.destroy();
        return;
      }
      rawTcpSockets.add(socket);
      socket.once('close', () => {
        rawTcpSockets.delete(socket);
        perIp.remove(host);
      });
    });
    server.on('secureConnection', (socket: TLSSocket) => {
      const refuse = (reason: string): void => {
        logger.warn({ remote: socket.remoteAddress, reason }, 'tls connection refused');
        socket.destroy();
      };
      socket.on('error', (err: Error) => logger.debug({ err: err.message }, 'tls socket error'));
      if (!accepting) return refuse(REASON_NOT_ACCEPTING);
      const alpn = socket.alpnProtocol;
      if (typeof alpn !== 'string' || !alpns.includes(alpn)) return refuse('client offered no ALPN');
      let peer;
      try {
        peer = peerFromTlsSocket(socket);
      } catch (err) {
        return refuse(`bad client certificate: ${(err as Error).message}`);
      }
      hand(wrapTlsSocket(socket, { alpn, peer, side: 'accepted', logger, idleTimeoutMs: limits.idleTimeoutMs }));
    });
    server.on('tlsClientError', (err: Error) => logger.debug({ err: err.message }, 'tls handshake failed'));
    server.on('error', (err: Error) => logger.error({ err: err.message }, 'tls server error'));
    return server;
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
        verifyCallback: quicVerifyCallback(() => undefined, (reason) => logger.warn({ reason }, 'quic client certificate refused')),
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
    return server;
  }

  function onQuicConnection(quic: QUICConnection): void {
    const host = normalizeHost(quic.remoteHost);
    const stopWith = (reason: string): Promise<void> =>
      quic.stop({ isApp: true, errorCode: QUIC_APP_CLOSE_CODE, reason: Buffer.from(reason), force: true });
    const refuse = (reason: string): void => {
      logger.warn({ remote: host, reason }, 'quic connection refused');
      stopWith(reason).catch(() => {});
    };
    if (!accepting) return refuse(REASON_NOT_ACCEPTING);
    let alpn: string;
    let peer;
    try {
      alpn = negotiatedAlpn(quic);
      peer = peerFromChain(quic.getRemoteCertsChain());
    } catch (err) {
      return refuse(sanitizeReason((err as Error).message));
    }
    if (!perIp.tryAdd(host)) return refuse(REASON_TOO_MANY_FROM_IP);
    const conn = wrapQuicConnection(quic, { alpn, peer, logger, stop: (reason) =>
      quic.stop({ isApp: true, errorCode: QUIC_APP_CLOSE_CODE, reason, force: true }) });
    void conn.closed.then(() => perIp.remove(host));
    hand(conn);
  }

  // ---- bind both on one port number ----
  const bound = await bindSamePort(opts.host, opts.port, makeTls, makeQuic);
  const { tls, quic, port } = bound;
  logger.info({ address: formatAddress(opts.host, port), alpns }, 'listening on QUIC and TLS');

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
