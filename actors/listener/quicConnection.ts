// A js-quic connection seen as a transport-neutral Connection: its bidirectional streams become
// node:stream Duplexes, its CONNECTION_CLOSE (or idle timeout) becomes `closed`'s reason.
import { Duplex } from 'node:stream';
import { errors, events, native } from '@matrixai/quic';
import type { QUICConnection, QUICServer, QUICStream } from '@matrixai/quic';
import { newConnectionId, normalizeHost, sanitizeReason } from './connection.ts';
import type { Connection } from './connection.ts';
import type { VerifiedPeer } from './tlsIdentity.ts';
import type { TransportLogger } from './logger.ts';

/** Application error code we close with; the reason text carries the meaning. */
export const QUIC_APP_CLOSE_CODE = 0;

/**
 * The js-quic settings that decide throughput; the node picks them per path (`quicTuningFor`),
 * a caller may override any of them. See docs/transport.md "Configuration" for the numbers.
 */
export interface QuicTuning {
  /** Largest UDP payload we send (quiche also caps it at the peer's advertised receive size). */
  maxSendUdpPayloadSize: number;
  /** Largest UDP payload we accept; advertised to the peer as max_udp_payload_size. */
  maxRecvUdpPayloadSize: number;
  /** Connection-level flow-control credit given to the peer at the start. */
  initialMaxData: number;
  /** Per-stream flow-control credit, both for streams we open and streams the peer opens. */
  initialMaxStreamData: number;
  /** Bytes read from quiche per pull of a stream's readable side. */
  readableChunkSize: number;
}

/** A payload that fits any path that carries IPv6's minimum MTU plus typical tunnels (RFC 9000 §14). */
export const INTERNET_UDP_PAYLOAD = 1350;
/** Loopback has a 64 KiB MTU: one datagram can carry a whole 64 KiB write. */
export const LOOPBACK_UDP_PAYLOAD = 65_000;
/** The largest UDP payload (quiche accepts at most this). */
export const MAX_UDP_PAYLOAD = 65_527;

/** True for 127.0.0.0/8, ::1 and their IPv4-mapped forms: traffic never leaves the machine. */
export function isLoopbackHost(host: string): boolean {
  const h = normalizeHost(host.replace(/^\[|\]$/g, '')).toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/**
 * The settings for a path to or from `host`. Loopback: 65,000-byte datagrams (one syscall and
 * one AEAD call per 64 KiB instead of ~50). Elsewhere: 1350-byte datagrams, which cross real
 * networks without IP fragmentation. We always accept the largest datagrams, so the peer's own
 * choice decides what it sends us.
 */
export function quicTuningFor(host: string, override: Partial<QuicTuning> = {}): QuicTuning {
  const loopback = isLoopbackHost(host);
  return {
    maxSendUdpPayloadSize: loopback ? LOOPBACK_UDP_PAYLOAD : INTERNET_UDP_PAYLOAD,
    maxRecvUdpPayloadSize: MAX_UDP_PAYLOAD,
    initialMaxData: 16 * 1024 * 1024,
    initialMaxStreamData: 4 * 1024 * 1024,
    readableChunkSize: loopback ? 64 * 1024 : 16 * 1024,
    ...override,
  };
}

/** The js-quic config fields for a tuning. */
export function quicConfigOf(tuning: QuicTuning): {
  maxSendUdpPayloadSize: number; maxRecvUdpPayloadSize: number; initialMaxData: number;
  initialMaxStreamDataBidiLocal: number; initialMaxStreamDataBidiRemote: number; readableChunkSize: number;
} {
  for (const [name, value] of Object.entries(tuning)) {
    if (!Number.isInteger(value) || value <= 0) throw new Error(`QUIC setting ${name} must be a positive integer`);
  }
  if (tuning.maxSendUdpPayloadSize < 1200 || tuning.maxSendUdpPayloadSize > MAX_UDP_PAYLOAD) {
    throw new Error(`QUIC maxSendUdpPayloadSize must be 1200 to ${MAX_UDP_PAYLOAD}`);
  }
  if (tuning.maxRecvUdpPayloadSize < 1200 || tuning.maxRecvUdpPayloadSize > MAX_UDP_PAYLOAD) {
    throw new Error(`QUIC maxRecvUdpPayloadSize must be 1200 to ${MAX_UDP_PAYLOAD}`);
  }
  return {
    maxSendUdpPayloadSize: tuning.maxSendUdpPayloadSize,
    maxRecvUdpPayloadSize: tuning.maxRecvUdpPayloadSize,
    initialMaxData: tuning.initialMaxData,
    initialMaxStreamDataBidiLocal: tuning.initialMaxStreamData,
    initialMaxStreamDataBidiRemote: tuning.initialMaxStreamData,
    readableChunkSize: tuning.readableChunkSize,
  };
}

/**
 * The ALPN that the handshake settled on. js-quic keeps it only on its internal quiche
 * connection (`conn.applicationProto()`, not in its typings): this is the one place that reaches it.
 */
export function negotiatedAlpn(connection: QUICConnection): string {
  const inner = (connection as unknown as { conn?: { applicationProto?: () => Uint8Array } }).conn;
  if (inner === undefined || typeof inner.applicationProto !== 'function') {
    throw new Error('this js-quic version exposes no negotiated ALPN (conn.applicationProto)');
  }
  return Buffer.from(inner.applicationProto()).toString('utf8');
}

/**
 * How many more bidirectional streams the peer lets us open now (its MAX_STREAMS credit).
 * js-quic's newStream() must not be called without credit: a failed call burns the stream id
 * and every later newStream() on that connection fails ("never repeat streamIds").
 */
export function peerStreamsLeft(connection: QUICConnection): number {
  const inner = (connection as unknown as { conn?: { peerStreamsLeftBidi?: () => number } }).conn;
  if (inner === undefined || typeof inner.peerStreamsLeftBidi !== 'function') {
    throw new Error('this js-quic version exposes no stream credit (conn.peerStreamsLeftBidi)');
  }
  return inner.peerStreamsLeftBidi();
}

/**
 * A QUIC stream as a Duplex: end() sends FIN, the peer's FIN ends the readable side,
 * destroy(err) resets both directions, and a peer reset errors the Duplex.
 */
export function quicStreamToDuplex(stream: QUICStream, logger: TransportLogger): Duplex {
  const duplex = Duplex.fromWeb({ readable: stream.readable, writable: stream.writable });
  // A stream error (peer reset, connection gone) must never become an uncaught 'error' event
  // and crash the node: protocols add their own listeners; this one only notes it.
  duplex.on('error', (err: Error) => logger.debug({ streamId: stream.streamId, err: err.message }, 'quic stream error'));
  return duplex;
}

const TLS_ALERT_START = 0x100;
const TLS_ALERT_END = 0x1ff;

function decodeReason(bytes: Uint8Array | undefined): string {
  if (bytes === undefined || bytes.length === 0) return '';
  return sanitizeReason(Buffer.from(bytes.subarray(0, 1024)).toString('utf8'));
}

function describeCode(code: number): string {
  if (code >= TLS_ALERT_START && code <= TLS_ALERT_END) {
    const name = native.CryptoError[code];
    return `TLS alert ${name ?? code - TLS_ALERT_START}`;
  }
  return `code ${code}`;
}

/** Why a QUIC connection ended, in one line, from the error js-quic reported. */
export function quicCloseReason(error: unknown, localReason: string | undefined): string {
  if (error instanceof errors.ErrorQUICConnectionIdleTimeout) return 'idle timeout';
  const data = (error as { data?: { errorCode?: number; reason?: Uint8Array } } | undefined)?.data;
  const code = data?.errorCode ?? 0;
  if (error instanceof errors.ErrorQUICConnectionPeerTLS) return `peer refused the handshake (${describeCode(code)})`;
  if (error instanceof errors.ErrorQUICConnectionPeer) {
    return decodeReason(data?.reason) || `closed by peer (${describeCode(code)})`;
  }
  if (localReason !== undefined) return localReason;
  if (error instanceof errors.ErrorQUICConnectionLocalTLS) return `handshake refused (${describeCode(code)})`;
  if (error instanceof errors.ErrorQUICConnectionLocal) return decodeReason(data?.reason) || 'closed';
  if (error instanceof Error) return sanitizeReason(error.message);
  return 'closed';
}

export interface QuicConnectionOptions {
  alpn: string;
  peer: VerifiedPeer | null;
  logger: TransportLogger;
  /** Stops the underlying connection (server: connection.stop; client: QUICClient.destroy). */
  stop(reason: Uint8Array): Promise<void>;
  /**
   * close() returns once CONNECTION_CLOSE has been handed to the socket, and the draining period
   * (3 PTO, 25–80 ms on loopback) runs in the background; `closed` still resolves at its end, and its
   * timers keep the process alive only that long. Without it, close() waits for the drain.
   */
  drainInBackground?: boolean;
}

export function wrapQuicConnection(quic: QUICConnection, opts: QuicConnectionOptions): Connection {
  const { logger } = opts;
  let lastError: unknown;
  let localReason: string | undefined;
  let streamHandler: ((stream: Duplex) => void) | undefined;
  const pending: Duplex[] = [];
  // Resolves at the first connection error: for a local close, js-quic's own listener (added at
  // start, so called before this one) has by then sent CONNECTION_CLOSE, synchronously.
  let closing!: () => void;
  const closeSent = new Promise<void>((resolve) => (closing = resolve));

  quic.addEventListener(events.EventQUICConnectionError.name, (evt: Event) => {
    // The first error is the cause; later ones are consequences of the close.
    if (lastError === undefined) lastError = (evt as events.EventQUICConnectionError).detail;
    closing();
  });
  quic.addEventListener(events.EventQUICConnectionStream.name, (evt: Event) => {
    const stream = (evt as events.EventQUICConnectionStream).detail;
    const duplex = quicStreamToDuplex(stream, logger);
    if (streamHandler !== undefined) deliver(streamHandler, duplex);
    else pending.push(duplex); // bounded by the peer's stream credit (initialMaxStreamsBidi)
  });

  function deliver(handler: (s: Duplex) => void, duplex: Duplex): void {
    try {
      handler(duplex);
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'stream handler threw; resetting that stream');
      duplex.destroy(err as Error);
    }
  }

  const closed = quic.closedP.then(
    () => ({ reason: quicCloseReason(lastError, localReason) }),
    () => ({ reason: quicCloseReason(lastError, localReason) }),
  );

  return {
    id: newConnectionId('quic'),
    alpn: opts.alpn,
    transport: 'quic',
    peer: opts.peer,
    remote: { host: normalizeHost(quic.remoteHost), port: quic.remotePort },
    async openStream(): Promise<Duplex> {
      if (quic.closed || localReason !== undefined || lastError !== undefined) {
        throw new Error('connection is closed');
      }
      if (peerStreamsLeft(quic) <= 0) throw new Error('the peer allows no more streams right now');
      try {
        return quicStreamToDuplex(quic.newStream('bidi'), logger);
      } catch (err) {
        if (err instanceof errors.ErrorQUICStreamLimit) throw new Error('the peer allows no more streams right now');
        throw new Error(`cannot open a stream: ${(err as Error).message}`);
      }
    },
    onStream(handler: (stream: Duplex) => void): void {
      streamHandler = handler;
      for (const duplex of pending.splice(0)) deliver(handler, duplex);
    },
    async close(reason = 'closed'): Promise<void> {
      if (localReason === undefined && lastError === undefined) localReason = sanitizeReason(reason);
      const stopped = opts.stop(Buffer.from(localReason ?? 'closed', 'utf8')).catch((err: Error) => {
        logger.debug({ err: err.message }, 'quic stop failed');
      });
      if (opts.drainInBackground) {
        await Promise.race([closeSent, stopped, closed]);
        return;
      }
      await stopped;
      await closed;
    },
    closed,
  };
}

/** What the listener decides about, and hears of, the connections js-quic starts on its own. */
export interface QuicAcceptHooks {
  /**
   * Asked for a packet that would make js-quic create a connection (a client's first Initial),
   * before any state is made for it; false drops the packet (the client gets no answer).
   */
  admit(remoteHost: string): boolean;
  /** A handshake js-quic started did not finish (wrong ALPN, refused certificate, timeout): why, in one line. */
  failed(remoteHost: string, reason: string): void;
}

type AcceptConnection = (remoteInfo: { host: string; port: number }, header: { ty: number }, ...rest: unknown[]) => Promise<unknown>;

/**
 * Hooks into js-quic's server-side connection creation. js-quic creates a connection for every
 * new client Initial (QUICSocket → QUICServer.acceptConnection, internal and not in its typings)
 * and swallows the error of a handshake that fails, so without this the listener can neither
 * count a new connection against its cap before the handshake nor log why one was refused.
 * This is the one place that wraps that method; a js-quic without it fails here, loudly.
 */
export function watchQuicAccepts(server: QUICServer, hooks: QuicAcceptHooks): void {
  const target = server as unknown as { acceptConnection?: AcceptConnection };
  const original = target.acceptConnection;
  if (typeof original !== 'function') throw new Error('this js-quic version has no QUICServer.acceptConnection to watch');
  target.acceptConnection = async function watchedAccept(this: unknown, remoteInfo, header, ...rest) {
    const host = normalizeHost(remoteInfo.host);
    const creates = header.ty === native.Type.Initial || header.ty === native.Type.ZeroRTT;
    if (creates && !hooks.admit(host)) return undefined;
    try {
      return await original.call(this, remoteInfo, header, ...rest);
    } catch (err) {
      if (err instanceof errors.ErrorQUICServerNewConnection) hooks.failed(host, quicHandshakeFailure(err));
      throw err; // js-quic's socket ignores this error kind itself
    }
  };
}

/** js-quic's count of server connections it holds state for: handshakes in progress, open and closing. */
export function quicServerConnectionCount(server: QUICServer): number {
  const map = (server as unknown as { socket?: { connectionMap?: { serverConnections?: Map<string, unknown> } } })
    .socket?.connectionMap?.serverConnections;
  if (!(map instanceof Map)) throw new Error('this js-quic version exposes no server connection map (socket.connectionMap)');
  return map.size;
}

/** Why a server-side handshake failed, from js-quic's ErrorQUICServerNewConnection and its cause. */
export function quicHandshakeFailure(error: Error): string {
  const cause = (error as { cause?: unknown }).cause;
  const code = (cause as { data?: { errorCode?: number } } | undefined)?.data?.errorCode;
  if (code === native.CryptoError.NoApplicationProtocol) return 'no offered ALPN is served';
  if (cause instanceof errors.ErrorQUICConnectionStartTimeout) return 'handshake timeout';
  if (cause instanceof errors.ErrorQUICConnectionLocalTLS || cause instanceof errors.ErrorQUICConnectionPeerTLS) {
    return `handshake refused (${describeCode(code ?? 0)})`;
  }
  return sanitizeReason(cause instanceof Error ? cause.message : error.message) || 'handshake failed';
}
