// The git actor: ready → draining (on shutdown, while requests finish) → stopped. It is the only
// owner of the GitStore (HOME/git) and serves the git.* bus messages: each request runs as a plain
// promise started by the transition that accepts it, answers through event.replyTo exactly once and
// then tells the actor (git.served). At most `maxInFlight` requests run at once; more are answered
// BUSY. Writes to one repository are serialized inside the store. Other nodes may only list
// repositories and read refs (the rest is for this node's protocols).
import { assign, fromCallback, setup, type ActorRefFrom, type AnyActorRef } from 'xstate';
import { validate } from '../../bus/catalogue.ts';
import { BusError } from '../../bus/errors.ts';
import { failWith, type BusRequestEvent } from '../../bus/events.ts';
import { isGitMessageType, MAX_PACK_WINDOW, type GitMessageType } from './messages.ts';
import { GitStore, GitStoreError, type GitStoreOptions } from './store.ts';
import type { Command } from './store.ts';

export type GitRequestEvent = BusRequestEvent<GitMessageType>;

const REMOTE_ALLOWED: ReadonlySet<GitMessageType> = new Set(['git.list', 'git.refs']);

export interface GitInput extends GitStoreOptions {
  home: string;
  /** Our own node id: a request from it is local. */
  nodeId?: string;
  /** Requests served at once (default 256). */
  maxInFlight?: number;
  /** On shutdown, requests still running get this long to finish (default 10 s). */
  drainMs?: number;
}

/** The store in the context, shown in snapshots by its folder only. */
export class GitStoreRef {
  constructor(readonly store: GitStore) {}
  toJSON(): { root: string } {
    return { root: this.store.root };
  }
}

interface GitContext {
  store: GitStoreRef;
  nodeId: string | undefined;
  inFlight: number;
  maxInFlight: number;
  drainMs: number;
  served: number;
}

type GitEvent = GitRequestEvent | { type: 'git.served' } | { type: 'shutdown' };

function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // a requester's reply port failing is its problem
  }
}

function isRemote(event: GitRequestEvent, nodeId: string | undefined): boolean {
  const from = event.meta?.from;
  return typeof from === 'object' && from !== null && from.node !== nodeId;
}

/** Runs one git.* request against the store; throws BusError (or GitStoreError) for the caller. */
export async function handleGitRequest(store: GitStore, type: GitMessageType, payload: unknown): Promise<unknown> {
  const checked = validate(type, 'request', payload);
  if (checked instanceof BusError) throw checked;
  const p = checked as Record<string, any>;
  switch (type) {
    case 'git.init':
      return store.init(p.name, p.allowForcePush === undefined ? {} : { allowForcePush: p.allowForcePush });
    case 'git.list':
      return { repos: store.list() };
    case 'git.refs':
      return store.refs(p.name);
    case 'git.negotiate':
      return store.negotiate(p.name, p.wants, p.commons, p.haves);
    case 'git.unreachable':
      return { oids: store.unreachable(p.name, p.oids) };
    case 'git.shallow':
      return store.shallow(p.name, p.wants, p.depth, p.clientShallow);
    case 'git.packStart':
      return store.packStart(p.name, p as Parameters<GitStore['packStart']>[1]);
    case 'git.packNext':
      return store.packNext(p.packId, Math.min(p.maxBytes ?? 1024 * 1024, MAX_PACK_WINDOW));
    case 'git.packAbort':
      return { aborted: store.packAbort(p.packId) };
    case 'git.receive':
      return store.receive(p.name, p.commands as Command[], p.pack, p.atomic);
  }
}

async function serveRequest(store: GitStore, event: GitRequestEvent, parent: AnyActorRef): Promise<void> {
  try {
    if (event.meta?.deadline !== undefined && Date.now() > event.meta.deadline) {
      safely(() => event.replyTo.fail('TIMEOUT', `${event.type}: the deadline passed before the git actor served it`));
      return;
    }
    const result = await handleGitRequest(store, event.type, event.payload);
    safely(() => event.replyTo.reply(result as never));
  } catch (err) {
    if (err instanceof GitStoreError) safely(() => event.replyTo.fail(err.code, err.message));
    else safely(() => failWith(event, err));
  } finally {
    parent.send({ type: 'git.served' });
  }
}

/** Closes the store when the actor stops, whichever way. */
const storeCloser = fromCallback<{ type: string }, { store: GitStore }>(({ input }) => () => input.store.close());

export const gitMachine = setup({
  types: { context: {} as GitContext, input: {} as GitInput, events: {} as GitEvent },
  actors: { storeCloser },
  guards: {
    isGitRequest: ({ event }) => isGitMessageType(event.type),
    forbiddenRemote: ({ context, event }) => isGitMessageType(event.type) && isRemote(event as GitRequestEvent, context.nodeId) && !REMOTE_ALLOWED.has(event.type),
    full: ({ context, event }) => isGitMessageType(event.type) && context.inFlight >= context.maxInFlight,
    isUnknownRequest: ({ event }) => !isGitMessageType(event.type) && typeof (event as { replyTo?: unknown }).replyTo === 'object',
    idle: ({ context }) => context.inFlight === 0,
  },
  delays: { drain: ({ context }) => context.drainMs },
  actions: {
    rejectForbidden: ({ event }) => {
      if ('replyTo' in event) safely(() => event.replyTo.fail('FORBIDDEN', `${event.type} is not served to other nodes`));
    },
    rejectBusy: ({ event }) => {
      if ('replyTo' in event) safely(() => event.replyTo.fail('BUSY', 'git: too many requests in flight; retry later'));
    },
    rejectUnknown: ({ event }) => {
      const port = (event as { replyTo?: { fail?: unknown } }).replyTo;
      if (port && typeof port.fail === 'function') safely(() => (event as GitRequestEvent).replyTo.fail('INVALID_INPUT', `git: unknown message "${String(event.type).slice(0, 64)}"`));
    },
    rejectClosing: ({ event }) => {
      const port = (event as { replyTo?: { fail?: unknown } }).replyTo;
      if (port && typeof port.fail === 'function') safely(() => (event as GitRequestEvent).replyTo.fail('UNAVAILABLE', 'git: the service is stopping'));
    },
    serve: ({ context, event, self }) => {
      if ('replyTo' in event) void serveRequest(context.store.store, event, self);
    },
    countServing: assign({ inFlight: ({ context }) => context.inFlight + 1 }),
    served: assign({ inFlight: ({ context }) => Math.max(0, context.inFlight - 1), served: ({ context }) => context.served + 1 }),
  },
}).createMachine({
  id: 'git',
  context: ({ input }) => ({
    store: new GitStoreRef(new GitStore(input.home, input)),
    nodeId: input.nodeId,
    inFlight: 0,
    maxInFlight: input.maxInFlight ?? 256,
    drainMs: input.drainMs ?? 10_000,
    served: 0,
  }),
  invoke: { src: 'storeCloser', input: ({ context }) => ({ store: context.store.store }) },
  initial: 'ready',
  states: {
    ready: {
      on: {
        'git.served': { actions: 'served' },
        shutdown: 'draining',
        '*': [
          { guard: 'forbiddenRemote', actions: 'rejectForbidden' },
          { guard: 'full', actions: 'rejectBusy' },
          { guard: 'isGitRequest', actions: ['serve', 'countServing'] },
          { guard: 'isUnknownRequest', actions: 'rejectUnknown' },
        ],
      },
    },
    draining: {
      always: { guard: 'idle', target: 'stopped' },
      after: { drain: 'stopped' },
      on: {
        'git.served': { actions: 'served' },
        '*': { actions: 'rejectClosing' },
      },
    },
    stopped: { type: 'final' },
  },
});

export type GitActorRef = ActorRefFrom<typeof gitMachine>;
