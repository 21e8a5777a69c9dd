// Dialing another node: `NODEID@host:port` pins the server's key; a bare `host:port` is trust on
// first use through known_nodes (first contact records the key, a later different key is refused
// loudly). The client shows its own certificate when it has an identity, so the server learns
// its node id.
import { connect as tlsConnect } from 'node:tls';
import { isIP } from 'node:net';
import { QUICClient, errors as quicErrors } from '@matrixai/quic';
import { isNodeId } from '../vault/nodeId.ts';
import type { NodeId } from '../vault/nodeId.ts';
import { knownNodeKey, lookupKnownNode, recordKnownNode } from '../peers/knownNodes.ts';
import { ephemeralKeyPair, makeCertificate } from './tlsIdentity.ts';
import type { NodeKeyPair, TlsIdentity, VerifiedPeer } from './tlsIdentity.ts';
import type { Connection, TransportKind } from './connection.ts';
import { QUIC_APP_CLOSE_CODE, quicConfigOf, quicTuningFor, wrapQuicConnection } from './quicConnection.ts';
import type { QuicTuning } from './quicConnection.ts';
import { wrapTlsSocket } from './tlsConnection.ts';
import { peerFromTlsSocket, quicVerifyCallback } from './peerCertificate.ts';
import { quicClientCrypto } from './quicCrypto.ts';
import { quicLogger, silentLogger } from './logger.ts';
import type { TransportLogger } from './logger.ts';

export interface ParsedAddress {
  /** Present when the address pins the server's key. */
  nodeId?: NodeId;
  host: string;
  port: number;
}

/**
 * ALPNs that move bulk data over one long stream (blobs, sftp, git). For these, `transport:
 * 'auto'` takes the TLS/TCP path of the same node: on this stack it is several times faster
 * than QUIC for one stream (bench/transport, docs/transport.md "Path choice").
 */
export const BULK_ALPNS: ReadonlySet<string> = new Set(['alknet/blobs', 'alknet/sftp', 'alknet/git']);

/** The path `transport: 'auto'` tries first for an ALPN: TLS/TCP for bulk ALPNs, else QUIC. */
export function preferredTransport(alpn: string): TransportKind {
  return BULK_ALPNS.has(alpn) ? 'tls' : 'quic';
}

export interface DialOptions {
  alpn: string;
  /**
   * 'auto': the preferred path for the ALPN (`preferredTransport`), then the other one if the
   * first cannot connect (never after the server's key was refused). `Connection.transport`
   * says which path was used.
   */
  transport: TransportKind | 'auto';
  /** Our key: shown to the server as a certificate. Without it QUIC shows a throwaway key, TLS none. */
  identity?: NodeKeyPair;
  /** Needed for a bare host:port (trust on first use). */
  knownNodesPath?: string;
  /** Handshake deadline (default 10000). */
  timeoutMs?: number;
  /** QUIC: idle timeout (default 30000; 0 = never). TLS: none (TCP keep-alive instead). */
  idleTimeoutMs?: number;
  /** QUIC: ping interval that keeps an idle connection open (default 10000; 0 = off). */
  keepAliveMs?: number;
  /** QUIC settings over the node's choice for the target host (see quicTuningFor). */
  quic?: Partial<QuicTuning>;
  logger?: TransportLogger;
}

const MAX_ADDRESS_LENGTH = 512;

/**
 * Our certificate per identity, made once: building and signing it was ~12 % of a QUIC dial's
 * CPU (bench/transport handshakes). Keyed by the key-pair object, so it goes when the caller
 * drops the identity. A throwaway identity (none given) still gets a fresh key per dial.
 */
const certificates = new WeakMap<NodeKeyPair, TlsIdentity>();

function certificateFor(identity: NodeKeyPair): TlsIdentity {
  let cert = certificates.get(identity);
  if (cert === undefined) {
    cert = makeCertificate(identity);
    certificates.set(identity, cert);
  }
  return cert;
}

/** Parses `[NODEID@]HOST:PORT` (IPv6 hosts in brackets); throws a one-line reason. */
export function parseAddress(text: string): ParsedAddress {
  const shown = JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
  if (text.length === 0) throw new Error('empty address: expected [NODEID@]HOST:PORT');
  if (text.length > MAX_ADDRESS_LENGTH) throw new Error(`address ${shown} is too long`);
  let rest = text;
  let nodeId: string | undefined;
  const at = text.lastIndexOf('@');
  if (at !== -1) {
    nodeId = text.slice(0, at);
    rest = text.slice(at + 1);
    if (!isNodeId(nodeId)) throw new Error(`address ${shown}: "${nodeId.slice(0, 60)}" is not a node id (52 z-base-32 characters)`);
  }
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d+)$/.exec(rest);
  if (m === null) throw new Error(`address ${shown}: expected [NODEID@]HOST:PORT (IPv6 as [::1]:PORT)`);
  const host = m[1] ?? m[2]!;
  if (m[1] !== undefined && isIP(host) !== 6) throw new Error(`address ${shown}: "${host}" is not an IPv6 address`);
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`address ${shown}: port must be 1 to 65535`);
  return nodeId === undefined ? { host, port } : { nodeId, host, port };
}

export function formatAddress(address: ParsedAddress): string {
  const hostPort = knownNodeKey(address.host, address.port);
  return address.nodeId === undefined ? hostPort : `${address.nodeId}@${hostPort}`;
}

/** Decides whether the server's key is acceptable for this address, before any byte is sent. */
interface ServerCheck {
  check(peer: VerifiedPeer | null): string | undefined;
  /** After a successful handshake: records a first contact in known_nodes. */
  accepted(peer: VerifiedPeer): Promise<void>;
}

async function serverCheck(address: ParsedAddress, knownNodesPath: string | undefined): Promise<ServerCheck> {
  const where = knownNodeKey(address.host, address.port);
  if (address.nodeId !== undefined) {
    const expected = address.nodeId;
    return {
      check: (peer) => {
        if (peer === null) return `server at ${where} showed no certificate`;
        if (peer.nodeId !== expected) return `server at ${where} is not the pinned node: expected ${expected}, got ${peer.nodeId}`;
        return undefined;
      },
      accepted: async () => {},
    };
  }
  if (knownNodesPath === undefined) {
    throw new Error(`${where} has no node id: give NODEID@${where}, or a known_nodes file for trust on first use`);
  }
  const known = await lookupKnownNode(knownNodesPath, address.host, address.port);
  return {
    check: (peer) => {
      if (peer === null) return `server at ${where} showed no certificate`;
      if (known !== undefined && peer.nodeId !== known) {
        return `NODE KEY CHANGED at ${where}: known_nodes has ${known}, the server showed ${peer.nodeId}; ` +
          `this may be an impostor. If the change is expected, remove the line for ${where} from ${knownNodesPath}`;
      }
      return undefined;
    },
    accepted: async (peer) => {
      if (known === undefined) await recordKnownNode(knownNodesPath, address.host, address.port, peer.nodeId);
    },
  };
}

export async function dial(address: string | ParsedAddress, opts: DialOptions): Promise<Connection> {
  const target = typeof address === 'string' ? parseAddress(address) : address;
  const check = await serverCheck(target, opts.knownNodesPath);
  const conn = opts.transport === 'auto' ? await dialAuto(target, check, opts)
    : opts.transport === 'quic' ? await dialQuic(target, check, opts) : await dialTls(target, check, opts);
  if (conn.peer === null) throw new Error('unreachable: accepted a server without a key');
  try {
    await check.accepted(conn.peer);
  } catch (err) {
    await conn.close('client could not record the server key');
    throw new Error(`connected, but could not record the server key: ${(err as Error).message}`);
  }
  return conn;
}

/** Thrown when the server's key was refused: never worth retrying on another path. */
class KeyRefusedError extends Error {}

async function dialAuto(target: ParsedAddress, check: ServerCheck, opts: DialOptions): Promise<Connection> {
  const logger = opts.logger ?? silentLogger;
  const first = preferredTransport(opts.alpn);
  const second: TransportKind = first === 'quic' ? 'tls' : 'quic';
  const over = (t: TransportKind): Promise<Connection> => (t === 'quic' ? dialQuic(target, check, opts) : dialTls(target, check, opts));
  let conn: Connection;
  try {
    conn = await over(first);
  } catch (err) {
    if (err instanceof KeyRefusedError) throw err;
    logger.info({ alpn: opts.alpn, transport: first, err: (err as Error).message }, `${first} path failed; trying ${second}`);
    try {
      conn = await over(second);
    } catch (err2) {
      if (err2 instanceof KeyRefusedError) throw err2;
      throw new Error(`${(err as Error).message}; over ${second}: ${(err2 as Error).message}`);
    }
  }
  logger.info({ alpn: opts.alpn, transport: conn.transport }, `connected over ${conn.transport === 'quic' ? 'QUIC' : 'TLS/TCP'}`);
  return conn;
}

/** The code of a QUIC connection error, looking through the `cause` chain js-quic builds. */
function quicErrorCode(err: unknown): number | undefined {
  for (let e: unknown = err, depth = 0; e != null && depth < 8; depth++) {
    const code = (e as { data?: { errorCode?: unknown } }).data?.errorCode;
    if (typeof code === 'number') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

const NO_APPLICATION_PROTOCOL = 0x100 + 120;

async function dialQuic(target: ParsedAddress, check: ServerCheck, opts: DialOptions): Promise<Connection> {
  const logger = opts.logger ?? silentLogger;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const where = knownNodeKey(target.host, target.port);
  const cert = opts.identity === undefined ? makeCertificate(ephemeralKeyPair()) : certificateFor(opts.identity);
  let refusal: string | undefined;
  let serverPeer: VerifiedPeer | null = null;
  let client: QUICClient;
  try {
    client = await QUICClient.createQUICClient({
      host: target.host,
      port: target.port,
      crypto: quicClientCrypto(),
      logger: quicLogger(opts.logger, 'quic-client'),
      config: {
        key: cert.keyPem,
        cert: cert.certPem,
        verifyPeer: true,
        verifyCallback: quicVerifyCallback((peer) => {
          serverPeer = peer;
          return check.check(peer);
        }, (reason) => { refusal = reason; }),
        applicationProtos: [opts.alpn],
        maxIdleTimeout: opts.idleTimeoutMs ?? 30_000,
        keepAliveIntervalTime: (opts.keepAliveMs ?? 10_000) || undefined,
        ...quicConfigOf(quicTuningFor(target.host, opts.quic)),
        initialMaxStreamsBidi: 100,
        initialMaxStreamsUni: 0,
      },
    }, { timer: timeoutMs });
  } catch (err) {
    if (refusal !== undefined) throw new KeyRefusedError(refusal);
    if (quicErrorCode(err) === NO_APPLICATION_PROTOCOL) throw new Error(`${where} refused ALPN "${opts.alpn}" over QUIC`);
    if (err instanceof quicErrors.ErrorQUICClientCreateTimeout || err instanceof quicErrors.ErrorQUICConnectionStartTimeout) {
      throw new Error(`no QUIC answer from ${where} within ${timeoutMs} ms`);
    }
    throw new Error(`QUIC connection to ${where} failed: ${(err as Error).message}`);
  }
  const quicClient = client;
  const conn = wrapQuicConnection(quicClient.connection, {
    alpn: opts.alpn,
    peer: serverPeer,
    logger,
    stop: (reason) => quicClient.destroy({ isApp: true, errorCode: QUIC_APP_CLOSE_CODE, reason, force: true }),
    // The caller of close() is not held for the draining period (alknet/call: dial + close).
    drainInBackground: true,
  });
  // Once the connection is over, its UDP socket (this client's own) goes too. js-quic stops it
  // itself, except when our close() crosses the peer's CONNECTION_CLOSE: then the socket stayed
  // open and kept the process alive (test/listener/dialClose.test.ts). Stopping it twice is a no-op.
  const socket = (quicClient as unknown as { socket: { stop(opts: { force: boolean }): Promise<void> } }).socket;
  void conn.closed.then(() => socket.stop({ force: true })).catch((err: Error) => logger.debug({ err: err.message }, 'quic socket stop failed'));
  return conn;
}

async function dialTls(target: ParsedAddress, check: ServerCheck, opts: DialOptions): Promise<Connection> {
  const logger = opts.logger ?? silentLogger;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const where = knownNodeKey(target.host, target.port);
  const cert = opts.identity === undefined ? undefined : certificateFor(opts.identity);
  return new Promise<Connection>((resolve, reject) => {
    const socket = tlsConnect({
      host: target.host,
      port: target.port,
      ALPNProtocols: [opts.alpn],
      // No CA: the server's certificate is judged by `check` on its key alone.
      rejectUnauthorized: false,
      ...(isIP(target.host) === 0 ? { servername: target.host } : {}),
      ...(cert === undefined ? {} : { key: cert.keyPem, cert: cert.certPem }),
    });
    let settled = false;
    const fail = (message: string, keyRefused = false): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(keyRefused ? new KeyRefusedError(message) : new Error(message));
    };
    const timer = setTimeout(() => fail(`no TLS answer from ${where} within ${timeoutMs} ms`), timeoutMs);
    socket.on('error', (err: Error) => {
      if (/no application protocol/i.test(err.message)) fail(`${where} refused ALPN "${opts.alpn}" over TLS`);
      else fail(`TLS connection to ${where} failed: ${err.message}`);
    });
    socket.once('close', () => fail(`${where} closed the connection during the TLS handshake`));
    socket.once('secureConnect', () => {
      if (settled) return;
      if (socket.alpnProtocol !== opts.alpn) return fail(`${where} did not agree to ALPN "${opts.alpn}" over TLS`);
      let peer: VerifiedPeer | null;
      try {
        peer = peerFromTlsSocket(socket);
      } catch (err) {
        return fail(`server at ${where}: ${(err as Error).message}`);
      }
      const refusal = check.check(peer);
      if (refusal !== undefined) return fail(refusal, true);
      settled = true;
      clearTimeout(timer);
      socket.setKeepAlive(true, opts.keepAliveMs ?? 10_000);
      resolve(wrapTlsSocket(socket, { alpn: opts.alpn, peer, side: 'dialed', logger }));
    });
  });
}
