// A route another protocol serves on the HTTP front end: git's smart HTTP, DoH, the pkarr relay.
// The HTTP folder does not know them and they do not know its internals: protocols/builtin.ts hands
// each protocol's mounts to `httpProtocols({ mounts })`, as it hands the sftp subsystem to SSH.
// A mount gets Node's own request and response (node:http or the node:http2 compatibility API) and
// the caller as the peers service decided it. Errors thrown with a code (CallError from
// operations/errors.ts) are answered as problem+json with the matching status, as the gateway does.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { SessionServices } from './protocol.ts';

export interface HttpMountCaller {
  /** The client's node identity (mutual TLS or its QUIC certificate), or null when anonymous. */
  nodeId: string | null;
  scopes: ReadonlySet<string>;
  /** A token was accepted, or the certificate is the node itself or a listed, enabled peer. */
  authenticated: boolean;
}

export interface HttpMountRequest {
  req: IncomingMessage | Http2ServerRequest;
  res: ServerResponse | Http2ServerResponse;
  url: URL;
  /** The client's address as the connection saw it (over QUIC too, where `req.socket` is no socket). */
  remote: { host: string; port: number };
  /** For a prefix mount, the path after the prefix (still percent-encoded); otherwise the whole path. */
  rest: string;
  services: SessionServices;
  /** Aborted when the client goes away before the answer is complete. */
  signal: AbortSignal;
  /** The caller, asked of the peers service once per request (bearer token or client certificate). */
  caller(): Promise<HttpMountCaller>;
  /**
   * The caller, if it has every one of `scopes`; otherwise throws the front end's 401 (no
   * credentials, with WWW-Authenticate) or 403 (credentials without the scope). `what` names the
   * thing refused, for the message.
   */
  requireScopes(scopes: readonly string[], what: string): Promise<HttpMountCaller>;
}

export interface HttpMount {
  /** An exact path ("/dns-query"), a prefix ending in "/" ("/git/"), or a test of the whole path. */
  path: string | ((pathname: string) => boolean);
  methods: readonly string[];
  /** One line for GET / (the front end's index of routes). */
  description: string;
  handle(request: HttpMountRequest): Promise<void>;
}
