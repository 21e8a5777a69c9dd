// What a protocol is: an ALPN and the actor logic of one connection's session. The generic
// protocol actor below spawns one temporary session per accepted connection; a protocol folder
// only writes its session logic (and its wire code).
import {
  assign,
  fromCallback,
  fromPromise,
  sendParent,
  setup,
  type ActorLogic,
  type AnyActorLogic,
  type AnyActorRef,
  type EventObject,
} from 'xstate';
import type { Bus } from '../bus/bus.ts';
import type { Connection } from '../actors/listener/connection.ts';
import type { ConnectionClaims } from '../actors/listener/handoff.ts';
import type { OperationCatalogue } from '../operations/catalogue.ts';
import type { BytesBudget } from '../lib/byteBudget.ts';

export interface SessionLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/** Limits a protocol applies to what a client can make it hold (config.toml [limits]). */
export interface ProtocolLimits {
  /** Largest first frame a connection may send before its caller is known (default 64 KiB). */
  maxFirstFrameBytes: number;
  /** Largest frame once the caller is known (default 16 MiB). */
  maxFrameBytes: number;
}

export const DEFAULT_PROTOCOL_LIMITS: ProtocolLimits = { maxFirstFrameBytes: 64 * 1024, maxFrameBytes: 16 * 1024 * 1024 };

/**
 * What a session may use besides its connection. Services (vault, fs, tensor, peers) are reached by
 * message on `bus`; `operations` is the node's one catalogue, for front ends that translate a wire
 * format into operations. Nothing here is another protocol's or a service's state.
 */
export interface SessionServices {
  readonly nodeId: string;
  log: SessionLog;
  bus: Bus;
  operations: OperationCatalogue;
  limits: ProtocolLimits;
  /** The node-wide budget of bytes buffered on behalf of clients (config limits.clientBufferBytes). */
  buffers: BytesBudget;
}

export interface SessionInput<S = unknown> {
  conn: Connection;
  services: SessionServices;
  /** The protocol's shared state (from `start`), the same object for every session of one protocol actor. */
  shared: S;
}

export type SessionLogic<S = unknown> = ActorLogic<any, any, SessionInput<S>, any, any>;

/**
 * A protocol: an ALPN and the actor logic of one connection's session, and optionally shared state
 * made when its actor starts and released when it stops (iroh's ProtocolHandler accept/shutdown).
 * A restart of the protocol actor (after `escalate`) releases the old state and makes a fresh one.
 */
export interface ProtocolSpec<S = any> {
  alpn: string;
  /** Logic of one connection's session; its input is SessionInput. The session ends when the connection closes. */
  session: SessionLogic<S>;
  /** Makes the shared state; runs before the actor takes connections. A throw fails the actor. */
  start?(services: SessionServices): S | Promise<S>;
  /** Releases the shared state: on stop, on restart, and when the actor fails. */
  stop?(shared: S): void | Promise<void>;
}

/** A session written as a plain function of its connection; it may return a cleanup. */
export function sessionFromHandler<S = unknown>(handler: (input: SessionInput<S>) => void | (() => void)): SessionLogic<S> {
  return fromCallback<EventObject, SessionInput<S>>(({ input }) => handler(input) ?? undefined);
}

/**
 * From inside a session: this protocol's shared state is broken. The protocol actor fails, its
 * supervisor restarts it, and its live connections are closed with a reason.
 */
export const escalate = (reason: string) => sendParent({ type: 'session.fatal', reason });

/** What `escalate` sends: the session wrapper passes it on to the protocol actor. */
export interface SessionFatal {
  type: 'session.fatal';
  reason: string;
}

function errorMessage(event: EventObject): string {
  const error = (event as { error?: unknown }).error;
  return error instanceof Error ? error.message : 'session failed';
}

/**
 * One connection's session wrapper: runs the protocol's session logic, ends when the connection
 * closes or the session fails (closing the connection with the reason), and closes the connection
 * when it is stopped from above (protocol actor restarting, node shutting down).
 */
function connectionSessionLogic(spec: ProtocolSpec) {
  return setup({
    types: { input: {} as SessionInput, context: {} as SessionInput, events: {} as SessionFatal },
    actors: {
      session: spec.session,
      connectionClosed: fromPromise<{ reason: string }, Connection>(({ input }) => input.closed),
      closeWhenStopped: fromCallback<EventObject, Connection>(({ input }) => () => {
        input.close('closed: the node is shutting down or the protocol is restarting').catch(() => {});
      }),
    },
    actions: {
      // The session's parent is this wrapper; the protocol actor above it is the one that must fail.
      forwardFatal: sendParent(({ event }) => event),
      closeForError: ({ context, event }) => {
        context.conn.close(`${spec.alpn} session failed: ${errorMessage(event)}`).catch(() => {});
      },
    },
  }).createMachine({
    id: 'connection',
    context: ({ input }) => input,
    invoke: { src: 'closeWhenStopped', input: ({ context }) => context.conn },
    on: { 'session.fatal': { actions: 'forwardFatal' } },
    initial: 'open',
    states: {
      open: {
        invoke: [
          { src: 'session', input: ({ context }: { context: SessionInput }) => context, onDone: 'done', onError: { target: 'done', actions: 'closeForError' } },
          { src: 'connectionClosed', input: ({ context }: { context: SessionInput }) => context.conn, onDone: 'done', onError: 'done' },
        ],
      },
      done: { type: 'final' },
    },
  });
}

export interface ProtocolActorInput {
  /** Where the listener's accepted connections are claimed, once each. */
  connections: ConnectionClaims;
  services: SessionServices;
  /** Graceful drain on shutdown before sessions are stopped (default 2 s). */
  drainMs?: number;
  /** Connections held while the shared state is made (default 256); more are closed. */
  maxPending?: number;
}

/** The shared state in the context: released once, whichever way the actor ends. Snapshots show only whether it is held. */
class SharedState {
  #released = false;
  constructor(readonly value: unknown, private readonly release: ((shared: any) => void | Promise<void>) | undefined, private readonly log: SessionLog) {}
  dispose(alpn: string): void {
    if (this.#released) return;
    this.#released = true;
    Promise.resolve()
      .then(() => this.release?.(this.value))
      .catch((err: unknown) => this.log.warn({ alpn, error: err instanceof Error ? err.message : String(err) }, 'protocol stop failed'));
  }
  toJSON(): { released: boolean } {
    return { released: this.#released };
  }
}

interface ProtocolContext {
  connections: ConnectionClaims;
  services: SessionServices;
  drainMs: number;
  maxPending: number;
  sessions: string[];
  /** Connections accepted while the shared state is made; claimed once it is. */
  pending: string[];
  shared: SharedState | null;
}

export type ProtocolEvent =
  /** Sent by the listener through the bus (payload as in bus/coreMessages.ts). */
  | { type: 'connection.accepted'; payload: { connId: string } }
  | { type: 'shutdown' }
  | SessionFatal;

/**
 * The protocol actor of one ALPN: makes the protocol's shared state, then spawns one temporary
 * child per connection (never restarted). It drains on `shutdown` (waits for sessions to end, up to
 * drainMs) and fails on `session.fatal`, so that its supervisor restarts it with fresh state.
 */
export function protocolActorLogic(spec: ProtocolSpec): AnyActorLogic {
  const sessionLogic = connectionSessionLogic(spec);
  return setup({
    types: { input: {} as ProtocolActorInput, context: {} as ProtocolContext, events: {} as ProtocolEvent },
    actors: {
      connectionSession: sessionLogic,
      startShared: fromPromise<SharedState, SessionServices>(async ({ input }) =>
        new SharedState(spec.start ? await spec.start(input) : undefined, spec.stop, input.log)),
      /** Lives while the actor runs; its cleanup releases the shared state on stop and restart. */
      holdShared: fromCallback<EventObject, SharedState>(({ input }) => () => input.dispose(spec.alpn)),
    },
    guards: {
      pendingFull: ({ context }) => context.pending.length >= context.maxPending,
      noSessions: ({ context }) => context.sessions.length === 0,
    },
    delays: { drain: ({ context }) => context.drainMs },
    actions: {
      startSession: assign(({ context, event, spawn }) => {
        if (event.type !== 'connection.accepted') return {};
        const { connId } = event.payload;
        const conn = context.connections.claim(connId);
        if (!conn) return {}; // closed before we got to it
        spawn('connectionSession', { id: connId, input: { conn, services: context.services, shared: context.shared?.value } });
        return { sessions: [...context.sessions, connId] };
      }),
      hold: assign({
        pending: ({ context, event }) => (event.type === 'connection.accepted' ? [...context.pending, event.payload.connId] : context.pending),
      }),
      keepShared: assign({ shared: (_, shared: SharedState) => shared }),
      startPending: assign(({ context, spawn }) => {
        const sessions = [...context.sessions];
        for (const connId of context.pending) {
          const conn = context.connections.claim(connId);
          if (!conn) continue;
          spawn('connectionSession', { id: connId, input: { conn, services: context.services, shared: context.shared?.value } });
          sessions.push(connId);
        }
        return { sessions, pending: [] };
      }),
      forgetSession: assign(({ context, event }) => {
        const id = event.type.replace(/^xstate\.(done|error)\.actor\./, '');
        return { sessions: context.sessions.filter((s) => s !== id) };
      }),
      refuse: ({ context, event }) => {
        if (event.type !== 'connection.accepted') return;
        context.connections.claim(event.payload.connId)?.close(`${spec.alpn} is starting: too many connections waiting`).catch(() => {});
      },
      fail: ({ context, event, self }) => {
        const reason = (event as { reason?: string; error?: unknown }).reason ?? errorMessage(event);
        // xstate v5 does not stop the children of an actor that fails (and a child cannot be
        // stopped directly): close this actor's connections here, so each session ends with its
        // connection, and release the shared state, so that none outlives the actor.
        for (const child of Object.values(self.getSnapshot().children) as AnyActorRef[]) {
          const conn = (child.getSnapshot()?.context as Partial<SessionInput> | undefined)?.conn;
          conn?.close(`${spec.alpn} is restarting: ${reason}`).catch(() => {});
        }
        for (const connId of context.pending) context.connections.claim(connId)?.close(`${spec.alpn} is restarting: ${reason}`).catch(() => {});
        context.shared?.dispose(spec.alpn);
        throw new Error(`${spec.alpn} protocol actor failed: ${reason}`);
      },
      refuseWhileDraining: ({ context, event }) => {
        if (event.type !== 'connection.accepted') return;
        context.connections.claim(event.payload.connId)?.close('node is shutting down').catch(() => {});
      },
    },
  }).createMachine({
    id: `protocol:${spec.alpn}`,
    context: ({ input }) => ({
      connections: input.connections,
      services: input.services,
      drainMs: input.drainMs ?? 2_000,
      maxPending: input.maxPending ?? 256,
      sessions: [],
      pending: [],
      shared: null,
    }),
    initial: 'starting',
    on: {
      'xstate.done.actor.*': { actions: 'forgetSession' },
      'xstate.error.actor.*': { actions: 'forgetSession' },
      'session.fatal': { actions: 'fail' },
    },
    states: {
      starting: {
        invoke: {
          src: 'startShared',
          input: ({ context }) => context.services,
          onDone: { target: 'running', actions: { type: 'keepShared', params: ({ event }) => event.output } },
          onError: { actions: 'fail' },
        },
        on: {
          'connection.accepted': [{ guard: 'pendingFull', actions: 'refuse' }, { actions: 'hold' }],
          shutdown: 'stopped',
        },
      },
      running: {
        invoke: { src: 'holdShared', input: ({ context }) => context.shared! },
        initial: 'serving',
        states: {
          serving: {
            entry: 'startPending',
            on: {
              'connection.accepted': { actions: 'startSession' },
              shutdown: 'draining',
            },
          },
          draining: {
            on: { 'connection.accepted': { actions: 'refuseWhileDraining' } },
            always: { guard: 'noSessions', target: '#protocol-stopped' },
            after: { drain: '#protocol-stopped' },
          },
        },
      },
      stopped: { id: 'protocol-stopped', type: 'final' },
    },
  });
}
