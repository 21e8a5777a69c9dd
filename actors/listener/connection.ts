// The one connection shape every protocol sees, whatever carried it (a QUIC connection or a
// TLS-over-TCP socket). Protocols speak over node:stream Duplexes and never touch js-quic or tls.
import type { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';
import type { VerifiedPeer } from './tlsIdentity.ts';

export type TransportKind = 'quic' | 'tls';

export interface Connection {
  id: string;
  alpn: string;
  transport: TransportKind;
  /** The other side's verified key, if it showed a certificate. */
  peer: VerifiedPeer | null;
  remote: { host: string; port: number };
  /** QUIC: a new bidirectional stream. TLS: the socket itself, once. */
  openStream(): Promise<Duplex>;
  /** Streams the other side opens. TLS: the accepted socket, once (never on the dialing side). */
  onStream(handler: (stream: Duplex) => void): void;
  /** Closes with a reason the other side sees where the transport allows (QUIC: yes; TLS: no). */
  close(reason?: string): Promise<void>;
  /** Resolves (never rejects) once the connection is closed, with why. */
  readonly closed: Promise<{ reason: string }>;
}

/** Close reasons travel in QUIC CONNECTION_CLOSE frames; keep them short and printable. */
export const MAX_CLOSE_REASON_BYTES = 256;

export function newConnectionId(transport: TransportKind): string {
  return `${transport}-${randomBytes(8).toString('hex')}`;
}

/** A reason safe to send and to log: one line, printable, at most MAX_CLOSE_REASON_BYTES bytes. */
export function sanitizeReason(text: string): string {
  let clean = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  while (Buffer.byteLength(clean) > MAX_CLOSE_REASON_BYTES) clean = clean.slice(0, -1);
  return clean;
}

/** IPv4 peers on a dual-stack socket show up as ::ffff:a.b.c.d; count them as a.b.c.d. */
export function normalizeHost(host: string): string {
  return host.startsWith('::ffff:') && host.includes('.') ? host.slice(7) : host;
}
