// The HTTP front end's protocols: `h2` and `http/1.1` on TLS, `alknet/http` on QUIC (each QUIC
// stream carries HTTP/1.1). One ProtocolSpec per ALPN; each protocol actor makes its own front end
// (servers, metrics, MCP) when it starts and closes it when it stops, so a restart starts fresh.
import type { ProtocolSpec, SessionServices } from '../protocol.ts';
import { sessionFromHandler } from '../protocol.ts';
import { createHttpFrontEnd, H2_ALPN, HTTP1_ALPN, QUIC_HTTP_ALPN, type HttpFrontEnd } from './frontEnd.ts';
import { DEFAULT_HTTP_LIMITS, type HttpLimits } from './limits.ts';
import type { HttpMount } from '../httpMount.ts';

export interface HttpProtocolOptions {
  limits?: Partial<HttpLimits>;
  /** Routes of other protocols (git smart HTTP, DoH, the pkarr relay); see protocols/httpMount.ts. */
  mounts?: readonly HttpMount[];
}

function httpProtocol(alpn: string, limits: HttpLimits, mounts: readonly HttpMount[]): ProtocolSpec<HttpFrontEnd> {
  return {
    alpn,
    start: (services: SessionServices) => createHttpFrontEnd(services, { alpn, limits, mounts }),
    stop: (frontEnd) => frontEnd.close(),
    session: sessionFromHandler<HttpFrontEnd>(({ conn, shared }) => {
      conn.onStream((stream) => shared.serve(stream, conn));
    }),
  };
}

/** h2, http/1.1 (TLS) and alknet/http (QUIC). */
export function httpProtocols(options: HttpProtocolOptions = {}): ProtocolSpec[] {
  const limits = { ...DEFAULT_HTTP_LIMITS, ...options.limits };
  const mounts = options.mounts ?? [];
  return [H2_ALPN, HTTP1_ALPN, QUIC_HTTP_ALPN].map((alpn) => httpProtocol(alpn, limits, mounts));
}
