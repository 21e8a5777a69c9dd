// What a route handler gets: the request, its answer, who is calling, and the node's services.
import type { SessionServices } from '../protocol.ts';
import type { Connection } from '../../actors/listener/connection.ts';
import type { AnyRequest } from './body.ts';
import type { AnyResponse } from './respond.ts';
import type { Authorizer, HttpCaller } from './auth.ts';
import type { HttpLimits } from './limits.ts';

/** One connection as the front end tracks it (a QUIC connection's streams share one). */
export interface ConnectionInfo {
  conn: Connection;
  alpn: string;
  authorize: Authorizer;
  /** Server-Sent Event streams open now on this connection. */
  eventStreams: number;
}

export interface RequestContext {
  req: AnyRequest;
  res: AnyResponse;
  url: URL;
  info: ConnectionInfo;
  services: SessionServices;
  limits: HttpLimits;
  /** Resolves the caller once per request (peers.authorize by message). */
  caller(): Promise<HttpCaller>;
  /** Aborted when the client goes away before the answer is complete. */
  signal: AbortSignal;
}
