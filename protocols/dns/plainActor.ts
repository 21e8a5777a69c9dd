// The plain DNS listener as a child of the node's tree (beside the QUIC/TLS listener): it binds UDP
// and TCP on [dns] listen (or `alknet node --dns`), answers with its own DnsCore, and closes both
// sockets when it stops, restarts or fails. startNode adds it only when a DNS address is configured.
import { fromCallback, fromPromise, setup, assign, type EventObject } from 'xstate';
import type { Bus } from '../../bus/index.ts';
import { dnsCoreFromConfig, type DnsCore } from './core.ts';
import { parseDnsListen, type DnsConfig } from './config.ts';
import { busPkarrLookup } from './pkarrLookup.ts';
import { startPlainDns, type PlainDnsServer } from './server.ts';

export interface PlainDnsActorInput {
  bus: Bus;
  /** HOST:PORT (port 0 picks a free one). */
  listen: string;
  config: DnsConfig;
  log: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
  /** Called once the sockets are bound. */
  onListening?: (server: PlainDnsServer) => void;
}

interface Running {
  server: PlainDnsServer;
  core: DnsCore;
}

export const plainDnsActorLogic = setup({
  types: { input: {} as PlainDnsActorInput, context: {} as { input: PlainDnsActorInput; running: Running | null } },
  actors: {
    start: fromPromise<Running, PlainDnsActorInput>(async ({ input }) => {
      const { host, port } = parseDnsListen(input.listen);
      const core = dnsCoreFromConfig(input.config, busPkarrLookup(input.bus), input.log);
      const c = input.config;
      try {
        const server = await startPlainDns({
          host,
          port,
          core,
          maxQueryBytes: c.maxQueryBytes,
          tcpIdleMs: c.tcpIdleMs,
          maxTcpConnections: c.maxTcpConnections,
          maxTcpConnectionsPerIp: c.maxTcpConnectionsPerIp,
          log: input.log,
        });
        return { server, core };
      } catch (err) {
        core.close();
        throw err;
      }
    }),
    /** Owns the sockets: its cleanup (shutdown, restart, crash) closes them. */
    own: fromCallback<EventObject, Running>(({ input }) => () => {
      input.core.close();
      void input.server.close();
    }),
  },
  actions: {
    announce: ({ context }) => context.input.onListening?.(context.running!.server),
    fail: ({ event }) => {
      const error = (event as { error?: unknown }).error;
      throw new Error(`DNS listener could not start: ${error instanceof Error ? error.message : String(error)}`);
    },
  },
}).createMachine({
  id: 'dns',
  context: ({ input }) => ({ input, running: null }),
  initial: 'starting',
  states: {
    starting: {
      invoke: {
        src: 'start',
        input: ({ context }) => context.input,
        onDone: { target: 'listening', actions: [assign({ running: ({ event }) => event.output }), 'announce'] },
        onError: { actions: 'fail' },
      },
    },
    listening: {
      invoke: { src: 'own', input: ({ context }) => context.running! },
      on: { shutdown: 'stopped' },
    },
    stopped: { type: 'final' },
  },
});
