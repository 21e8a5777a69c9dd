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
import type { Connection } from '../actors/listener/connection.ts';

/** Everything a session may use besides its connection. Services are reached by message on the bus. */
export interface SessionServices {
  nodeId: string;
  log: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
  [name: string]: unknown;
}

export interface SessionInput {
  conn: Connection;
  services: SessionServices;
}

export type SessionLogic = ActorLogic<any, any, SessionInput, any, any>;

export interface ProtocolSpec {
  alpn: string;
  /** Logic of one connection's session; its input is SessionInput. The session ends when the connection closes. */
  session: SessionLogic;
}

/** A session written as a plain function of its connection; it may return a cleanup. */
export function sessionFromHandler(handler: (input: SessionInput) => void | (() => void)): SessionLogic {
  return fromCallback<EventObject, SessionInput>(({ input }) => handler(input) ?? undefined);
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
  /** Live connections by id, owned by the listener; a protocol actor only looks up its own. */
  connections: Pick<Map<string, Connection>, 'get'>;
  services: SessionServices;
  /** Graceful drain on shutdown before sessions are stopped (default 2 s). */
  drainMs?: number;
}

interface ProtocolContext {
  connections: ProtocolActorInput['connections'];
  services: SessionServices;
  drainMs: number;
  sessions: string[];
}

export type ProtocolEvent =
  /** Sent by the listener through the bus (payload as in bus/coreMessages.ts). */
  | { type: 'connection.accepted'; payload: { connId: string } }
  | { type: 'shutdown' }
  | SessionFatal;

/**
 * The protocol actor of one ALPN: one temporary child per connection (never restarted). It drains
 * on `shutdown` (waits for sessions to end, up to drainMs) and fails on `session.fatal`, so that its
 * supervisor restarts it with fresh state.
 */
export function protocolActorLogic(spec: ProtocolSpec): AnyActorLogic {
  const sessionLogic = connectionSessionLogic(spec);
  return setup({
    types: { input: {} as ProtocolActorInput, context: {} as ProtocolContext, events: {} as ProtocolEvent },
    actors: { connectionSession: sessionLogic },
    guards: {
      knownConnection: ({ context, event }) =>
        event.type === 'connection.accepted' && context.connections.get(event.payload.connId) !== undefined,
      noSessions: ({ context }) => context.sessions.length === 0,
    },
    delays: { drain: ({ context }) => context.drainMs },
    actions: {
      startSession: assign(({ context, event, spawn }) => {
        if (event.type !== 'connection.accepted') return {};
        const { connId } = event.payload;
        const conn = context.connections.get(connId)!;
        spawn('connectionSession', { id: connId, input: { conn, services: context.services } });
        return { sessions: [...context.sessions, connId] };
      }),
      forgetSession: assign(({ context, event }) => {
        const id = event.type.replace(/^xstate\.(done|error)\.actor\./, '');
        return { sessions: context.sessions.filter((s) => s !== id) };
      }),
      fail: ({ context, event, self }) => {
        const reason = (event as { reason?: string }).reason ?? 'fatal session error';
        // xstate v5 does not stop the children of an actor that fails: close this actor's
        // connections (with the reason) and stop its sessions here, so that none outlives it.
        for (const connId of context.sessions) {
          context.connections.get(connId)?.close(`${spec.alpn} is restarting: ${reason}`).catch(() => {});
        }
        for (const child of Object.values(self.getSnapshot().children) as AnyActorRef[]) child.stop();
        throw new Error(`${spec.alpn} protocol actor failed: ${reason}`);
      },
      refuseWhileDraining: ({ context, event }) => {
        if (event.type !== 'connection.accepted') return;
        context.connections.get(event.payload.connId)?.close('node is shutting down').catch(() => {});
      },
    },
  }).createMachine({
    id: `protocol:${spec.alpn}`,
    context: ({ input }) => ({
      connections: input.connections,
      services: input.services,
      drainMs: input.drainMs ?? 2_000,
      sessions: [],
    }),
    initial: 'serving',
    on: {
      'xstate.done.actor.*': { actions: 'forgetSession' },
      'xstate.error.actor.*': { actions: 'forgetSession' },
      'session.fatal': { actions: 'fail' },
    },
    states: {
      serving: {
        on: {
          'connection.accepted': { guard: 'knownConnection', actions: 'startSession' },
          shutdown: 'draining',
        },
      },
      draining: {
        on: { 'connection.accepted': { actions: 'refuseWhileDraining' } },
        always: { guard: 'noSessions', target: 'stopped' },
        after: { drain: 'stopped' },
      },
      stopped: { type: 'final' },
    },
  });
}
