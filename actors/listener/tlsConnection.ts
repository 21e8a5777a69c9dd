// A TLS socket seen as a transport-neutral Connection. TLS over TCP carries exactly one stream:
// the socket itself, handed out once (to openStream() or, on the accepting side, to onStream).
// TLS has no close reason on the wire, so the reason is only known locally.
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { newConnectionId, normalizeHost, sanitizeReason } from './connection.ts';
import type { Connection } from './connection.ts';
import type { VerifiedPeer } from './tlsIdentity.ts';
import type { TransportLogger } from './logger.ts';

export interface TlsConnectionOptions {
  alpn: string;
  peer: VerifiedPeer | null;
  /** 'accepted': the socket is delivered to onStream; 'dialed': to openStream(). */
  side: 'accepted' | 'dialed';
  logger: TransportLogger;
  /** No bytes either way for this long closes the connection (0 = never). */
  idleTimeoutMs?: number;
}

export function wrapTlsSocket(socket: TLSSocket, opts: TlsConnectionOptions): Connection {
  const { logger } = opts;
  let handedOut = false;
  let localReason: string | undefined;
  let lastError: Error | undefined;

  // Keep an 'error' listener for the socket's whole life: an error on one connection must not
  // become an uncaught exception. Protocols that want errors add their own listener too.
  socket.on('error', (err: Error) => {
    lastError ??= err;
    logger.debug({ err: err.message }, 'tls socket error');
  });
  if (opts.idleTimeoutMs !== undefined && opts.idleTimeoutMs > 0) {
    socket.setTimeout(opts.idleTimeoutMs, () => {
      localReason ??= 'idle timeout';
      socket.destroy();
    });
  }

  const closed = new Promise<{ reason: string }>((resolve) => {
    const finish = (): void => {
      resolve({ reason: localReason ?? (lastError ? `connection error: ${sanitizeReason(lastError.message)}` : 'closed by peer') });
    };
    if (socket.destroyed) finish();
    else socket.once('close', finish);
  });

  function takeSocket(): Duplex | undefined {
    if (handedOut) return undefined;
    handedOut = true;
    return socket;
  }

  return {
    id: newConnectionId('tls'),
    alpn: opts.alpn,
    transport: 'tls',
    peer: opts.peer,
    remote: { host: normalizeHost(socket.remoteAddress ?? ''), port: socket.remotePort ?? 0 },
    async openStream(): Promise<Duplex> {
      if (handedOut) throw new Error('a TLS connection carries one stream, and it is already in use');
      if (socket.destroyed) throw new Error('connection is closed');
      return takeSocket()!;
    },
    onStream(handler: (stream: Duplex) => void): void {
      if (opts.side !== 'accepted') return;
      queueMicrotask(() => {
        const stream = takeSocket();
        if (stream === undefined) return;
        try {
          handler(stream);
        } catch (err) {
          logger.warn({ err: (err as Error).message }, 'stream handler threw; closing the connection');
          localReason ??= 'stream handler failed';
          socket.destroy();
        }
      });
    },
    async close(reason = 'closed'): Promise<void> {
      localReason ??= sanitizeReason(reason);
      if (!socket.destroyed) {
        // end() flushes what was written and sends close_notify; destroy if the peer lingers.
        socket.end();
        const timer = setTimeout(() => socket.destroy(), 2000);
        timer.unref();
        await closed;
        clearTimeout(timer);
      }
      await closed;
    },
    closed,
  };
}
