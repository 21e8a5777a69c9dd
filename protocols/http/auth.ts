// Who an HTTP request comes from, decided by the peers service (`peers.authorize` by message, per
// request, so grants, revocations and expiries apply at once): the client's node identity from
// mutual TLS (or its QUIC certificate), plus an `Authorization: Bearer alk_…` token if it sends one.
// Requests of one connection that arrive while an answer for the same token is on its way share it.
//
// The status codes: no credentials where some are needed → 401 (with WWW-Authenticate); a token
// that is malformed, unknown, revoked or expired → 401 `invalid_token`; credentials that lack a
// scope → 403. The token never appears in a message or a log line.
import type { SessionServices } from '../protocol.ts';
import type { Caller } from '../../operations/catalogue.ts';
import { PEERS_SYSTEM_ID } from '../../actors/peers/messages.ts';
import { missingScopes } from '../../actors/peers/scopes.ts';
import { httpProblem } from './problem.ts';
import { shareInFlight } from '../../lib/shareInFlight.ts';

export interface HttpCaller extends Caller {
  /** A token was accepted, or the connection's certificate is the node itself or a listed, enabled peer. */
  authenticated: boolean;
}

/** The largest Authorization header value looked at (a token is 47 characters). */
const MAX_AUTHORIZATION_CHARS = 600;

export const WWW_AUTHENTICATE = 'Bearer realm="alknet"';

/**
 * The bearer token of a request, or undefined without an Authorization header. A header that is
 * there but is not `Bearer <token>` is a 401: a client that meant to authenticate should learn why.
 */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const value = Array.isArray(header) ? header[0] ?? '' : header;
  const m = value.length <= MAX_AUTHORIZATION_CHARS ? /^Bearer +([A-Za-z0-9._~+/=-]+) *$/i.exec(value) : null;
  if (!m) {
    throw httpProblem(401, 'FORBIDDEN', 'the Authorization header must be "Bearer <token>"', {
      headers: { 'www-authenticate': `${WWW_AUTHENTICATE}, error="invalid_request"` },
    });
  }
  return m[1]!;
}

export type Authorizer = (token: string | undefined) => Promise<HttpCaller>;

/** One connection's authorizer: its certificate's node id (or none) and the ALPN it came in on. */
export function connectionAuthorizer(services: SessionServices, nodeId: string | null, alpn: string): Authorizer {
  const ask = async (token: string | undefined): Promise<HttpCaller> => {
    let answer;
    try {
      answer = await services.bus.request(PEERS_SYSTEM_ID, 'peers.authorize', { nodeId, alpn, ...(token !== undefined ? { token } : {}) }, { deadlineMs: 5_000 });
    } catch (err) {
      throw httpProblem(503, 'UNAVAILABLE', `authorization unavailable: ${err instanceof Error ? err.message.slice(0, 200) : 'failed'}`);
    }
    if (!answer.allowed) {
      // With a token the refusal is about the token (the listener already checked this ALPN for this peer).
      if (token !== undefined) {
        throw httpProblem(401, 'FORBIDDEN', answer.reason, { headers: { 'www-authenticate': `${WWW_AUTHENTICATE}, error="invalid_token"` } });
      }
      throw httpProblem(403, 'FORBIDDEN', answer.reason);
    }
    return { nodeId: answer.nodeId, scopes: new Set(answer.scopes), authenticated: token !== undefined || answer.known };
  };
  return shareInFlight(ask);
}

/** 401 without credentials, 403 with credentials that lack one of `scopes`. */
export function requireScopes(caller: HttpCaller, scopes: readonly string[], what: string): void {
  const missing = missingScopes(caller.scopes, scopes);
  if (missing.length === 0) return;
  const need = missing.map((s) => `"${s}"`).join(', ');
  if (!caller.authenticated) {
    throw httpProblem(401, 'FORBIDDEN', `${what} needs credentials with scope ${need}: send "Authorization: Bearer alk_…" or a client certificate of a listed peer`, {
      details: { missingScopes: missing },
      headers: { 'www-authenticate': WWW_AUTHENTICATE },
    });
  }
  throw httpProblem(403, 'FORBIDDEN', `${what} needs scope ${need}`, { details: { missingScopes: missing } });
}

/** May this caller call this operation (every scope it needs)? Used to show only what a caller can use. */
export function mayCall(caller: Caller, scopes: readonly string[]): boolean {
  return missingScopes(caller.scopes, scopes).length === 0;
}
