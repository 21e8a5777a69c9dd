// The HTTP front end: REST gateway, OpenAPI, MCP, metrics and the /debug live view over h2,
// http/1.1 (TLS) and alknet/http (QUIC). Wire and decisions: docs/http.md.
export { httpProtocols, type HttpProtocolOptions } from './protocol.ts';
export { H2_ALPN, HTTP1_ALPN, QUIC_HTTP_ALPN } from './frontEnd.ts';
export { DEFAULT_HTTP_LIMITS, type HttpLimits } from './limits.ts';
