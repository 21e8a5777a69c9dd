// Who a caller is and what it may do: the scopes of a call are the anonymous grant, plus the peer's
// grant when its node id is listed and enabled, plus a bearer token's grant when the request carries
// a known, enabled token. Pure over a parsed PeersConfig; PeerList keeps that config fresh.
import { CallError } from '../../operations/errors.ts';
import { hashToken, looksLikeToken, type AlpnGrant, type PeerEntry, type PeersConfig, type TokenEntry } from './peersFile.ts';
import type { Caller } from '../../operations/catalogue.ts';

export { hasScope, missingScopes, isScope } from './scopes.ts';

/** A PeersConfig indexed for lookups on every call. */
export interface PeerIndex {
  anonymous: ReadonlySet<string>;
  anonymousAlpns: AlpnGrant;
  peers: ReadonlyMap<string, PeerEntry>;
  tokensByHash: ReadonlyMap<string, TokenEntry>;
}

export function indexPeers(config: PeersConfig): PeerIndex {
  return {
    anonymous: new Set(config.anonymous),
    anonymousAlpns: config.anonymousAlpns,
    peers: new Map(config.peers.map((p) => [p.nodeId, p])),
    tokensByHash: new Map(config.tokens.map((t) => [t.hash, t])),
  };
}

/**
 * The caller of one call. An unknown or disabled token is FORBIDDEN rather than silently anonymous,
 * so a client with a revoked or mistyped token learns why. The token never appears in the message.
 */
export function callerFor(index: PeerIndex, nodeId: string | null, authToken?: string, now: number = Date.now()): Caller {
  const scopes = new Set(index.anonymous);
  if (nodeId !== null) {
    const peer = index.peers.get(nodeId);
    if (peer?.enabled) for (const s of peer.scopes) scopes.add(s);
  }
  if (authToken !== undefined) {
    const token = looksLikeToken(authToken) ? index.tokensByHash.get(hashToken(authToken)) : undefined;
    if (!token || !token.enabled) throw new CallError('FORBIDDEN', 'auth token not recognised (unknown, revoked or disabled)');
    if (token.expires !== undefined && now >= token.expires.getTime()) {
      throw new CallError('FORBIDDEN', `token expired (token "${token.name}" expired at ${token.expires.toISOString()})`);
    }
    for (const s of token.scopes) scopes.add(s);
  }
  return { nodeId, scopes };
}

/** Anything that can name the caller of a call: a PeerList, or a fixed grant in tests. */
export interface CallerResolver {
  callerFor(nodeId: string | null, authToken?: string): Caller;
}

/** Why a caller may not use this ALPN, or undefined when it may. Listed, enabled peers have their own rules. */
export function alpnRefusal(index: PeerIndex, nodeId: string | null, alpn: string): string | undefined {
  const peer = nodeId !== null ? index.peers.get(nodeId) : undefined;
  const grant = peer?.enabled ? peer : index.anonymousAlpns;
  const who = peer?.enabled ? 'this peer' : 'callers that are not listed peers';
  if (grant.denyAlpns?.includes(alpn)) return `${alpn} is refused to ${who} (peers.toml denyAlpns)`;
  if (grant.alpns && !grant.alpns.includes(alpn)) return `${alpn} is not among the ALPNs allowed to ${who} (peers.toml alpns)`;
  return undefined;
}
