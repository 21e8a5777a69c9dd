// DNS on the node's own listener: DoT (ALPN `dot`, RFC 7858) on TLS/TCP and DoQ (ALPN `doq`, RFC
// 9250) on QUIC, one ProtocolSpec per ALPN. Each protocol actor makes its DnsCore when it starts
// (records of [dns] zones, stored pkarr packets through the bus) and drops it when it stops.
import type { ProtocolSpec, SessionServices } from '../protocol.ts';
import { sessionFromHandler } from '../protocol.ts';
import { dnsCoreFromConfig, type DnsCore } from './core.ts';
import type { DnsConfig } from './config.ts';
import { busPkarrLookup } from './pkarrLookup.ts';
import { serveDnsStream, serveDoqStream } from './stream.ts';

export const DOT_ALPN = 'dot';
export const DOQ_ALPN = 'doq';

/** A DoQ stream's query must arrive within this (ms). */
const DOQ_STREAM_TIMEOUT_MS = 10_000;

function startCore(config: DnsConfig) {
  return (services: SessionServices): DnsCore => dnsCoreFromConfig(config, busPkarrLookup(services.bus), services.log);
}

export function dotProtocol(config: DnsConfig): ProtocolSpec<DnsCore> {
  return {
    alpn: DOT_ALPN,
    start: startCore(config),
    stop: (core) => core.close(),
    session: sessionFromHandler<DnsCore>(({ conn, shared }) => {
      if (conn.transport !== 'tls') {
        conn.close('dot is DNS over TLS/TCP; on QUIC use doq').catch(() => {});
        return;
      }
      conn.onStream((stream) => {
        void serveDnsStream(stream, {
          core: shared,
          client: { address: conn.remote.host, transport: 'dot' },
          maxQueryBytes: config.maxQueryBytes,
          idleMs: config.tcpIdleMs,
        });
      });
    }),
  };
}

export function doqProtocol(config: DnsConfig): ProtocolSpec<DnsCore> {
  return {
    alpn: DOQ_ALPN,
    start: startCore(config),
    stop: (core) => core.close(),
    session: sessionFromHandler<DnsCore>(({ conn, shared }) => {
      if (conn.transport !== 'quic') {
        conn.close('doq is DNS over QUIC; on TLS/TCP use dot').catch(() => {});
        return;
      }
      conn.onStream((stream) => {
        void serveDoqStream(stream, {
          core: shared,
          client: { address: conn.remote.host, transport: 'doq' },
          maxQueryBytes: config.maxQueryBytes,
          timeoutMs: DOQ_STREAM_TIMEOUT_MS,
          onProtocolError: (reason) => void conn.close(reason).catch(() => {}),
        });
      });
    }),
  };
}

/** DoT and DoQ. */
export function dnsProtocols(config: DnsConfig): ProtocolSpec[] {
  return [dotProtocol(config), doqProtocol(config)];
}
