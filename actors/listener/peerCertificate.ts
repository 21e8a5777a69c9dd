// Reading and checking the other side's certificate on either transport. No CA: a certificate
// is acceptable when it is self-signed with an Ed25519 key; what that key is worth (pinned,
// known, or an unknown peer) is decided by the caller's check.
import type { TLSSocket } from 'node:tls';
import { native } from '@matrixai/quic';
import type { TLSVerifyCallback } from '@matrixai/quic';
import { MAX_CERTIFICATE_BYTES, peerFromCertificate } from './tlsIdentity.ts';
import type { VerifiedPeer } from './tlsIdentity.ts';

/** Certificates verified lately (DER → peer). Bounded: the oldest entry goes first. */
const VERIFIED_CACHE_SIZE = 256;
const verified = new Map<string, VerifiedPeer>();

/**
 * `peerFromCertificate` with a small cache of successes. Parsing and verifying an X.509
 * certificate is a large part of a handshake's JavaScript time (bench/transport), and the same
 * peers come back again and again; the result depends only on the DER bytes, so a hit is exactly
 * as trustworthy as a fresh check. Failures are never cached (each gets its fresh one-line reason).
 */
export function verifiedPeer(der: Uint8Array): VerifiedPeer {
  if (der.length > MAX_CERTIFICATE_BYTES) return peerFromCertificate(der); // throws the size reason
  const key = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  let peer = verified.get(key);
  if (peer === undefined) {
    peer = peerFromCertificate(der);
    if (verified.size >= VERIFIED_CACHE_SIZE) verified.delete(verified.keys().next().value as string);
    verified.set(key, peer);
  }
  // A copy: a caller that changes its publicKey bytes must not change what the cache holds.
  return { nodeId: peer.nodeId, publicKey: new Uint8Array(peer.publicKey) };
}

/** The leaf of a DER chain as a verified peer; null if the chain is empty; throws if it is bad. */
export function peerFromChain(chain: readonly Uint8Array[] | null | undefined): VerifiedPeer | null {
  const leaf = chain?.[0];
  return leaf === undefined ? null : verifiedPeer(leaf);
}

/** The verified peer of a TLS socket after its handshake; null if it showed no certificate. */
export function peerFromTlsSocket(socket: TLSSocket): VerifiedPeer | null {
  const cert = socket.getPeerCertificate(true) as { raw?: Buffer } | null;
  const raw = cert?.raw;
  return raw === undefined || raw.length === 0 ? null : verifiedPeer(new Uint8Array(raw));
}

/**
 * A js-quic verify callback: the leaf must be a valid self-signed Ed25519 certificate and pass
 * `check` (which returns a refusal reason, or undefined to accept). The refusal reason goes to
 * `onRefuse` (js-quic can only send a TLS alert code, not text).
 */
export function quicVerifyCallback(
  check: (peer: VerifiedPeer | null) => string | undefined,
  onRefuse: (reason: string) => void = () => {},
): TLSVerifyCallback {
  return async (certs) => {
    let refusal: string | undefined;
    try {
      refusal = check(peerFromChain(certs));
    } catch (err) {
      refusal = (err as Error).message;
    }
    if (refusal === undefined) return undefined;
    onRefuse(refusal);
    return native.CryptoError.BadCertificate;
  };
}
