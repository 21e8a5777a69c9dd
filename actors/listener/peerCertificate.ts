// Reading and checking the other side's certificate on either transport. No CA: a certificate
// is acceptable when it is self-signed with an Ed25519 key; what that key is worth (pinned,
// known, or an unknown peer) is decided by the caller's check.
import type { TLSSocket } from 'node:tls';
import { native } from '@matrixai/quic';
import type { TLSVerifyCallback } from '@matrixai/quic';
import { peerFromCertificate } from './tlsIdentity.ts';
import type { VerifiedPeer } from './tlsIdentity.ts';

/** The leaf of a DER chain as a verified peer; null if the chain is empty; throws if it is bad. */
export function peerFromChain(chain: readonly Uint8Array[] | null | undefined): VerifiedPeer | null {
  const leaf = chain?.[0];
  return leaf === undefined ? null : peerFromCertificate(leaf);
}

/** The verified peer of a TLS socket after its handshake; null if it showed no certificate. */
export function peerFromTlsSocket(socket: TLSSocket): VerifiedPeer | null {
  const cert = socket.getPeerCertificate(true) as { raw?: Buffer } | null;
  const raw = cert?.raw;
  return raw === undefined || raw.length === 0 ? null : peerFromCertificate(new Uint8Array(raw));
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
