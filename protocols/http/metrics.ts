// GET /metrics (scope "admin"): Prometheus text format from prom-client. Everything is learnt by
// message: connections from the listener's `connection.accepted`/`connection.closed` events, calls
// from the catalogue's `operations.called` events (every front end: alknet/call, REST, MCP), restarts from the inspection feed
// (`inspection.snapshot`), mailbox depths from the bus. Counts start when this protocol actor
// starts (Prometheus takes a counter reset as a restart).
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Counter, Gauge, Registry } from 'prom-client';
import type { SessionServices } from '../protocol.ts';
import { INSPECTION_SYSTEM_ID } from '../../supervisors/inspector.ts';
import { requireScopes } from './auth.ts';
import { sendBody } from './respond.ts';
import type { RequestContext } from './context.ts';

export interface HttpMetrics {
  handle(ctx: RequestContext): Promise<void>;
  close(): void;
}

/** Distinct label values kept per metric; beyond it they count under "other" (a client cannot grow the registry). */
const MAX_SERIES = 1_000;

export function createMetrics(services: SessionServices): HttpMetrics {
  const registry = new Registry();
  const connections = new Gauge({ name: 'alknet_connections', help: 'Open connections per ALPN', labelNames: ['alpn'], registers: [registry] });
  const accepted = new Counter({ name: 'alknet_connections_accepted_total', help: 'Connections accepted per ALPN', labelNames: ['alpn'], registers: [registry] });
  const calls = new Counter({
    name: 'alknet_calls_total',
    help: 'Calls per operation, result code and the front end (ALPN) they came through: alknet/call, REST, batch, subscribe, MCP',
    labelNames: ['operation', 'code', 'via'],
    registers: [registry],
  });
  const restarts = new Counter({ name: 'alknet_supervisor_restarts_total', help: 'Child restarts per supervisor since the node started', labelNames: ['supervisor'], registers: [registry] });
  const mailbox = new Gauge({ name: 'alknet_bus_mailbox_depth', help: 'Requests in flight plus waiting per bus address', labelNames: ['actor'], registers: [registry] });
  const lagMean = new Gauge({ name: 'nodejs_eventloop_lag_mean_seconds', help: 'Mean event-loop delay since the last scrape', registers: [registry] });
  const lagP99 = new Gauge({ name: 'nodejs_eventloop_lag_p99_seconds', help: '99th percentile event-loop delay since the last scrape', registers: [registry] });
  const lagMax = new Gauge({ name: 'nodejs_eventloop_lag_max_seconds', help: 'Largest event-loop delay since the last scrape', registers: [registry] });
  const memory = new Gauge({ name: 'process_resident_memory_bytes', help: 'Resident memory size in bytes', registers: [registry] });

  const alpnOf = new Map<string, string>();
  const seen = new Set<string>();
  const bounded = (label: string): string => {
    if (seen.has(label)) return label;
    if (seen.size >= MAX_SERIES) return 'other';
    seen.add(label);
    return label;
  };
  const unsubscribe = [
    services.bus.subscribe('connection.accepted', ({ connId, alpn }) => {
      if (alpnOf.size < 1_000_000) alpnOf.set(connId, alpn);
      connections.inc({ alpn });
      accepted.inc({ alpn });
    }),
    services.bus.subscribe('connection.closed', ({ connId }) => {
      const alpn = alpnOf.get(connId);
      if (alpn === undefined) return;
      alpnOf.delete(connId);
      connections.dec({ alpn });
    }),
    services.bus.subscribe('operations.called', ({ operation, code, via }) => calls.inc({ operation: bounded(operation), code, via })),
  ];
  const lag: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();

  async function refresh(): Promise<void> {
    lagMean.set(Number.isFinite(lag.mean) ? lag.mean / 1e9 : 0);
    lagP99.set(lag.percentile(99) / 1e9);
    lagMax.set(lag.max / 1e9);
    lag.reset();
    memory.set(process.memoryUsage().rss);
    mailbox.reset();
    restarts.reset();
    try {
      const snapshot = await services.bus.request(INSPECTION_SYSTEM_ID, 'inspection.snapshot', {}, { deadlineMs: 2_000 });
      for (const [supervisor, n] of Object.entries(snapshot.restarts)) restarts.inc({ supervisor }, n);
      const addresses = new Set(snapshot.actors.map((a) => a.systemId).filter((s): s is string => s !== undefined));
      for (const systemId of addresses) mailbox.set({ actor: systemId }, services.bus.pendingCount(systemId));
    } catch {
      // No inspection feed (startNode({inspectionFeed: false})): the rest still answers.
    }
  }

  return {
    async handle(ctx) {
      requireScopes(await ctx.caller(), ['admin'], 'GET /metrics');
      await refresh();
      sendBody(ctx.res, 200, registry.contentType, await registry.metrics());
    },
    close() {
      for (const off of unsubscribe) off();
      lag.disable();
      registry.clear();
    },
  };
}
