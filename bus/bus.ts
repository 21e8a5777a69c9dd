// The typed bus: request/reply with deadlines, bounded mailboxes, fire-and-forget sends,
// publish/subscribe, and routing to remote nodes through a RemoteTransport.
//
// Guarantees (see docs/bus.md): a request settles exactly once, at the latest at its deadline;
// a request to an actor that is not registered right now waits for it (up to the deadline);
// a full mailbox answers BUSY at once; an actor that stops fails its in-flight requests with
// UNAVAILABLE at once. The bus never throws into the calling actor: `request` rejects, `send`
// returns the error.
import { randomBytes } from 'node:crypto';
import type { AnyActorRef } from 'xstate';
import { hasReply, isKnownMessageType, validate, type EventType, type MessageType, type ReplyOf, type RequestOf, type RequestType } from './catalogue.ts';
import { BusError, fromErrorShape, isErrorCode, type ErrorCode } from './errors.ts';
import type { EventHandler, EventMeta, NodeId, OnBehalfOf, ReplyPort, RequestMeta, Sender } from './events.ts';
import './coreMessages.ts';

/** A local actor by systemId, or an actor on another node. */
export type Address = string | { node: NodeId; actor: string };

export interface RequestOptions {
  /** Relative deadline; default the bus's defaultDeadlineMs (5000). */
  deadlineMs?: number;
  /** Absolute deadline (epoch ms), e.g. the parent request's; the earlier of the two wins. */
  deadline?: number;
  signal?: AbortSignal;
  /** Pass the parent's id when this request is made while handling another one. */
  correlationId?: string;
  from?: Sender;
  /** On whose behalf (set by the operation catalogue after authorization); delivered in meta.caller. */
  caller?: OnBehalfOf;
}

export interface RemoteRequestOptions {
  deadlineMs: number;
  correlationId: string;
  signal?: AbortSignal;
}

/** Implemented by the call protocol: carries a request to `actor` on `node` and returns its reply. */
export interface RemoteTransport {
  request(node: NodeId, actor: string, type: string, payload: unknown, opts: RemoteRequestOptions): Promise<unknown>;
}

export interface TraceRecord {
  correlationId: string;
  /** The address as text: "systemId" or "systemId@nodeId". */
  to: string;
  type: string;
  phase: 'request' | 'reply' | 'error';
  /** Milliseconds since the request was made (0 for phase "request"). */
  ms: number;
  /** The error code, for phase "error". */
  code?: ErrorCode;
}

/** pino-compatible subset. Only codes, names and ids are logged, never payloads. */
export interface BusLogger {
  warn(obj: object, msg: string): void;
}

export interface BusOptions {
  /** This node's id: requests to `{node: nodeId, actor}` are served locally. */
  nodeId?: NodeId;
  /** Default mailbox capacity of a registered actor (1024). */
  defaultMailbox?: number;
  /** Default request deadline in ms (5000). */
  defaultDeadlineMs?: number;
  trace?: (record: TraceRecord) => void;
  logger?: BusLogger;
  remote?: RemoteTransport;
  /** Also validate local requests and replies against the catalogue (slower; for tests and development). */
  validateLocal?: boolean;
}

/** The meta a plain-async handler gets: the request's meta plus a signal aborted when nobody waits any more. */
export interface HandlerMeta extends RequestMeta {
  signal: AbortSignal;
}

export type BusHandler = (type: string, payload: unknown, meta: HandlerMeta) => unknown;

/** A typed handler per request type; other types are answered NOT_FOUND. */
export type HandlerMap<K extends RequestType = RequestType> = {
  [P in K]: (payload: RequestOf<P>, meta: HandlerMeta) => ReplyOf<P> | Promise<ReplyOf<P>>;
};

export interface RegisterOptions {
  /** Capacity: requests delivered and not answered, plus requests waiting for the actor. */
  mailbox?: number;
}

/** The outcome of `send`: undefined when delivered, else why not (BUSY / UNAVAILABLE / INVALID_INPUT). */
export type SendResult = BusError | undefined;

const DEFAULT_MAILBOX = 1024;
const DEFAULT_DEADLINE_MS = 5000;
/** A correlation id from elsewhere is kept only if it is this short. */
const MAX_CORRELATION_ID = 128;
const MAX_TIMER_MS = 2 ** 31 - 1;
/** The signal of a sent message: nobody waits, so nobody cancels. */
const NEVER_ABORTED = new AbortController().signal;

function finiteOr(value: number | undefined, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

const stderrLogger: BusLogger = {
  warn(obj, msg) {
    process.stderr.write(`alknet bus: ${msg} ${JSON.stringify(obj)}\n`);
  },
};

interface Registration {
  readonly systemId: string;
  readonly capacity: number;
  readonly inFlight: Set<Pending>;
  deliver(p: Pending): void;
  deliverOneWay(type: string, payload: unknown, meta: RequestMeta): void;
  detach(): void;
}

type Settle = (ok: boolean, value: unknown) => void;

/** One request from creation to its single settlement. */
class Pending {
  settled = false;
  timer: ReturnType<typeof setTimeout> | undefined;
  registration: Registration | undefined;
  waitSet: Set<Pending> | undefined;
  controller: AbortController | undefined;
  cleanupSignal: (() => void) | undefined;

  constructor(
    readonly type: string,
    readonly payload: unknown,
    readonly meta: RequestMeta,
    readonly to: string,
    readonly startedAt: number,
    private readonly onSettle: (p: Pending, ok: boolean, value: unknown) => void,
    private readonly settleOuter: Settle,
  ) {}

  settle(ok: boolean, value: unknown): void {
    if (this.settled) return;
    this.settled = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.cleanupSignal?.();
    this.registration?.inFlight.delete(this);
    this.waitSet?.delete(this);
    // Tell a handler (or a remote transport) that nobody waits for this answer any more.
    this.controller?.abort();
    this.onSettle(this, ok, value);
    this.settleOuter(ok, value);
  }

  fail(code: ErrorCode, message: string, details?: unknown): void {
    this.settle(false, new BusError(code, message, { details }));
  }
}

/** The replyTo of a delivered request; also the inspector-friendly form (toJSON) of it. */
class Port implements ReplyPort<unknown> {
  constructor(private readonly pending: Pending, private readonly validateReply: boolean) {}

  get settled(): boolean {
    return this.pending.settled;
  }

  reply(payload: unknown): void {
    if (this.pending.settled) return;
    if (this.validateReply) {
      const checked = validate(this.pending.type, 'reply', payload);
      if (checked instanceof BusError) {
        this.pending.fail('INTERNAL', `${this.pending.to} answered with an ${checked.message}`, checked.details);
        return;
      }
    }
    this.pending.settle(true, payload);
  }

  fail(code: ErrorCode, message: string, details?: unknown): void {
    this.pending.fail(isErrorCode(code) ? code : 'INTERNAL', String(message), details);
  }

  toJSON(): { correlationId: string } {
    return { correlationId: this.pending.meta.correlationId };
  }
}

/** A replyTo for `send`: the sender does not wait, answers go nowhere. */
const DISCARD_PORT: ReplyPort<unknown> = {
  reply() {},
  fail() {},
  get settled() {
    return true;
  },
};

function addressText(to: Address): string {
  return typeof to === 'string' ? to : `${to.actor}@${to.node}`;
}

function checkCapacity(value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new Error(`mailbox capacity must be a positive integer, got ${value}`);
  return value;
}

export class Bus {
  readonly nodeId: NodeId | undefined;
  private readonly defaultMailbox: number;
  private readonly defaultDeadlineMs: number;
  private readonly traceHook: ((record: TraceRecord) => void) | undefined;
  private readonly logger: BusLogger;
  private readonly validateLocal: boolean;
  private remote: RemoteTransport | undefined;
  private readonly registrations = new Map<string, Registration>();
  /** Requests for actors not registered right now, by systemId, oldest first. */
  private readonly waiting = new Map<string, Set<Pending>>();
  /** Capacity last registered under a systemId: bounds its waiting list while it restarts. */
  private readonly lastCapacity = new Map<string, number>();
  private readonly subscribers = new Map<string, Set<EventHandler>>();
  private readonly idPrefix = randomBytes(4).toString('hex');
  private idCounter = 0;
  private closed = false;

  constructor(options: BusOptions = {}) {
    this.nodeId = options.nodeId;
    this.defaultMailbox = checkCapacity(options.defaultMailbox, DEFAULT_MAILBOX);
    this.defaultDeadlineMs = options.defaultDeadlineMs ?? DEFAULT_DEADLINE_MS;
    this.traceHook = options.trace;
    this.logger = options.logger ?? stderrLogger;
    this.validateLocal = options.validateLocal ?? false;
    this.remote = options.remote;
  }

  /** A new correlation id: a per-bus random prefix and a counter (cheaper than a UUID, unique enough). */
  newCorrelationId(): string {
    return `${this.idPrefix}-${(this.idCounter++).toString(36)}`;
  }

  setRemote(remote: RemoteTransport | undefined): void {
    this.remote = remote;
  }

  isRegistered(systemId: string): boolean {
    return this.registrations.has(systemId);
  }

  /** Requests delivered and not answered plus requests waiting, for one systemId. */
  pendingCount(systemId: string): number {
    return (this.registrations.get(systemId)?.inFlight.size ?? 0) + (this.waiting.get(systemId)?.size ?? 0);
  }

  // ---- registration -------------------------------------------------------------------------

  /**
   * Makes an xstate actor reachable as `systemId`. The bus watches it: when it stops, finishes or
   * fails, it is unregistered and its unanswered requests fail with UNAVAILABLE. Returns unregister().
   */
  register(systemId: string, actorRef: AnyActorRef, options: RegisterOptions = {}): () => void {
    const status = actorRef.getSnapshot()?.status as string | undefined;
    if (status !== undefined && status !== 'active') {
      throw new Error(`cannot register "${systemId}": the actor is ${status}`);
    }
    let subscription: { unsubscribe(): void } | undefined;
    const reg = this.addRegistration(systemId, options, {
      deliver: (p) => {
        actorRef.send({ type: p.type, payload: p.payload, meta: p.meta, replyTo: new Port(p, this.validateLocal) });
      },
      deliverOneWay: (type, payload, meta) => {
        actorRef.send({ type, payload, meta, replyTo: DISCARD_PORT });
      },
      detach: () => subscription?.unsubscribe(),
    });
    const gone = (how: string, err?: unknown) => {
      if (err !== undefined) {
        // The operator needs the reason a service crashed; our errors never carry secrets (one line, capped).
        const reason = err instanceof Error ? err.message.split('\n')[0]!.slice(0, 300) : typeof err;
        this.logger.warn({ systemId, error: err instanceof Error ? err.name : typeof err, reason }, `actor "${systemId}" ${how}`);
      }
      this.removeRegistration(reg, `actor "${systemId}" stopped before replying`);
    };
    // Subscribing after addRegistration: subscribe() reports an already-finished actor at once.
    subscription = actorRef.subscribe({
      error: (err: unknown) => gone('failed', err),
      complete: () => gone('stopped'),
    });
    this.flushWaiting(reg);
    return () => this.removeRegistration(reg, `actor "${systemId}" stopped before replying`);
  }

  /**
   * Serves `systemId` with a plain async function (or a map of typed functions) instead of an
   * actor. Same mailbox and deadline rules; a throw becomes the caller's error (BusError as is,
   * anything else INTERNAL). Returns unregister().
   */
  registerHandler(systemId: string, handler: BusHandler | Partial<HandlerMap>, options: RegisterOptions = {}): () => void {
    const fn: BusHandler = typeof handler === 'function' ? (handler as BusHandler) : dispatchMap(handler as Record<string, MapEntry>);
    const reg = this.addRegistration(systemId, options, {
      deliver: (p) => {
        const meta = handlerMeta(p);
        let result: unknown;
        try {
          result = fn(p.type, p.payload, meta);
        } catch (err) {
          this.failFromThrow(p, err, systemId);
          return;
        }
        Promise.resolve(result).then(
          (value) => {
            if (this.validateLocal && !p.settled) {
              const checked = validate(p.type, 'reply', value);
              if (checked instanceof BusError) return p.fail('INTERNAL', `${systemId} answered with an ${checked.message}`, checked.details);
            }
            p.settle(true, value);
          },
          (err: unknown) => this.failFromThrow(p, err, systemId),
        );
      },
      deliverOneWay: (type, payload, meta) => {
        const log = (err: unknown) =>
          this.logger.warn({ systemId, type, error: err instanceof BusError ? err.code : 'thrown' }, `handler "${systemId}" failed a sent message`);
        try {
          Promise.resolve(fn(type, payload, { ...meta, signal: NEVER_ABORTED })).catch(log);
        } catch (err) {
          log(err);
        }
      },
      detach: () => {},
    });
    this.flushWaiting(reg);
    return () => this.removeRegistration(reg, `actor "${systemId}" stopped before replying`);
  }

  private addRegistration(
    systemId: string,
    options: RegisterOptions,
    parts: Pick<Registration, 'deliver' | 'deliverOneWay' | 'detach'>,
  ): Registration {
    if (this.closed) throw new Error('the bus is closed');
    if (typeof systemId !== 'string' || systemId.length === 0) throw new Error('systemId must be a non-empty string');
    if (this.registrations.has(systemId)) throw new Error(`"${systemId}" is already registered on the bus`);
    const capacity = checkCapacity(options.mailbox, this.defaultMailbox);
    const reg: Registration = { systemId, capacity, inFlight: new Set(), ...parts };
    this.registrations.set(systemId, reg);
    this.lastCapacity.set(systemId, capacity);
    return reg;
  }

  private removeRegistration(reg: Registration, reason: string): void {
    if (this.registrations.get(reg.systemId) !== reg) return; // already gone, or replaced by a restart
    this.registrations.delete(reg.systemId);
    reg.detach();
    for (const p of [...reg.inFlight]) p.fail('UNAVAILABLE', reason);
  }

  /** Delivers what waited for this systemId, oldest first, as far as the new capacity allows. */
  private flushWaiting(reg: Registration): void {
    const queue = this.waiting.get(reg.systemId);
    if (!queue) return;
    this.waiting.delete(reg.systemId);
    for (const p of queue) {
      p.waitSet = undefined;
      if (p.settled) continue;
      if (this.registrations.get(reg.systemId) !== reg) {
        // The actor stopped while its backlog was delivered: the rest wait for the next one.
        this.enqueueWaiting(reg.systemId, p);
      } else if (reg.inFlight.size >= reg.capacity) {
        p.fail('BUSY', `mailbox of "${reg.systemId}" is full (${reg.capacity})`);
      } else {
        this.dispatch(reg, p);
      }
    }
  }

  private enqueueWaiting(systemId: string, p: Pending): void {
    let queue = this.waiting.get(systemId);
    if (!queue) this.waiting.set(systemId, (queue = new Set()));
    queue.add(p);
    p.waitSet = queue;
  }

  private dispatch(reg: Registration, p: Pending): void {
    reg.inFlight.add(p);
    p.registration = reg;
    try {
      reg.deliver(p);
    } catch (err) {
      this.logger.warn({ systemId: reg.systemId, error: err instanceof Error ? err.name : typeof err }, 'delivery failed');
      p.fail('UNAVAILABLE', `actor "${reg.systemId}" could not take the request`);
    }
  }

  private failFromThrow(p: Pending, err: unknown, systemId: string): void {
    if (err instanceof BusError) return p.settle(false, err);
    if (!p.settled) {
      this.logger.warn({ systemId, type: p.type, error: err instanceof Error ? err.name : typeof err }, `handler "${systemId}" threw`);
    }
    p.fail('INTERNAL', `internal error in "${systemId}"`);
  }

  // ---- request / reply ----------------------------------------------------------------------

  /**
   * Asks `to` and resolves with its reply, or rejects with a BusError: TIMEOUT at the deadline,
   * UNAVAILABLE (not registered by the deadline, stopped, aborted, no remote transport), BUSY
   * (mailbox full, at once), INVALID_INPUT (payload fails its schema; checked for remote targets),
   * or the code the actor failed with.
   */
  request<K extends RequestType>(to: Address, type: K, payload: RequestOf<K>, options: RequestOptions = {}): Promise<ReplyOf<K>> {
    return this.requestUntyped(to, type, payload, options) as Promise<ReplyOf<K>>;
  }

  /** `request` for a type only known at run time (bridges, tests); the payload is not checked unless remote. */
  requestUntyped(to: Address, type: string, payload: unknown, options: RequestOptions = {}): Promise<unknown> {
    return new Promise<unknown>((resolve, reject) => {
      const startedAt = performance.now();
      const now = Date.now();
      const relative = finiteOr(options.deadlineMs, this.defaultDeadlineMs);
      const deadline = Math.min(now + relative, finiteOr(options.deadline, Infinity));
      const local = typeof to === 'string' ? to : this.nodeId !== undefined && to.node === this.nodeId ? to.actor : undefined;
      const meta: RequestMeta = { correlationId: options.correlationId ?? this.newCorrelationId(), deadline };
      if (options.from !== undefined) meta.from = options.from;
      if (options.caller !== undefined) meta.caller = options.caller;
      const toText = local ?? addressText(to);
      const p = new Pending(type, payload, meta, toText, startedAt, this.onSettle, (ok, value) => (ok ? resolve(value) : reject(value)));
      this.trace(p, 'request');

      if (this.closed) return p.fail('UNAVAILABLE', 'the bus is closed');
      if (options.signal?.aborted) return p.settle(false, abortError(options.signal, toText));
      if (this.validateLocal || local === undefined) {
        const checked = validate(type, 'request', payload);
        if (checked instanceof BusError) return p.settle(false, checked);
      }
      if (local !== undefined) this.routeLocal(p, local);
      else this.routeRemote(p, to as { node: NodeId; actor: string });
      if (p.settled) return;

      const remaining = deadline - now;
      const expire = () => {
        if (p.registration || local === undefined) p.fail('TIMEOUT', `${toText} did not answer ${type} within ${Math.round(performance.now() - startedAt)} ms`);
        else p.fail('UNAVAILABLE', `actor "${local}" is not registered (waited ${Math.round(performance.now() - startedAt)} ms)`);
      };
      if (remaining <= 0) return expire();
      // setTimeout overflows past 2^31-1 ms (~24.8 days) and would fire at once: cap it there instead.
      p.timer = setTimeout(expire, Math.min(remaining, MAX_TIMER_MS));
      const signal = options.signal;
      if (signal) {
        const onAbort = () => p.settle(false, abortError(signal, toText));
        signal.addEventListener('abort', onAbort, { once: true });
        p.cleanupSignal = () => signal.removeEventListener('abort', onAbort);
      }
    });
  }

  private routeLocal(p: Pending, systemId: string): void {
    const reg = this.registrations.get(systemId);
    if (reg) {
      if (reg.inFlight.size >= reg.capacity) return p.fail('BUSY', `mailbox of "${systemId}" is full (${reg.capacity})`);
      this.dispatch(reg, p);
      return;
    }
    const capacity = this.lastCapacity.get(systemId) ?? this.defaultMailbox;
    if ((this.waiting.get(systemId)?.size ?? 0) >= capacity) {
      return p.fail('BUSY', `too many requests waiting for "${systemId}" (${capacity})`);
    }
    this.enqueueWaiting(systemId, p);
  }

  private routeRemote(p: Pending, to: { node: NodeId; actor: string }): void {
    const remote = this.remote;
    if (!remote) return p.fail('UNAVAILABLE', `no remote transport for node ${to.node}`);
    const controller = new AbortController();
    p.controller = controller;
    let sent: Promise<unknown>;
    try {
      sent = remote.request(to.node, to.actor, p.type, p.payload, {
        deadlineMs: Math.max(0, p.meta.deadline - Date.now()),
        correlationId: p.meta.correlationId,
        signal: controller.signal,
      });
    } catch (err) {
      sent = Promise.reject(err);
    }
    sent.then(
      (reply) => {
        if (p.settled) return;
        const checked = validate(p.type, 'reply', reply);
        if (checked instanceof BusError) {
          this.logger.warn({ node: to.node, type: p.type }, 'remote reply failed validation');
          return p.fail('INTERNAL', `${p.to} answered with an ${checked.message}`, checked.details);
        }
        p.settle(true, reply);
      },
      (err: unknown) => {
        if (p.settled) return;
        if (err instanceof BusError) return p.settle(false, err);
        // An error shape decoded from the wire, or a transport failure (not the callee's answer).
        if (typeof err === 'object' && err !== null && isErrorCode((err as { code?: unknown }).code) && 'retryable' in err) {
          return p.settle(false, fromErrorShape(err));
        }
        this.logger.warn({ node: to.node, error: err instanceof Error ? err.name : typeof err }, 'remote transport failed');
        p.fail('UNAVAILABLE', `node ${to.node} could not be reached`);
      },
    );
  }

  private readonly onSettle = (p: Pending, ok: boolean, value: unknown): void => {
    if (ok) this.trace(p, 'reply');
    else this.trace(p, 'error', value instanceof BusError ? value.code : 'INTERNAL');
  };

  private trace(p: Pending, phase: TraceRecord['phase'], code?: ErrorCode): void {
    if (!this.traceHook) return;
    const record: TraceRecord = {
      correlationId: p.meta.correlationId,
      to: p.to,
      type: p.type,
      phase,
      ms: phase === 'request' ? 0 : performance.now() - p.startedAt,
    };
    if (code !== undefined) record.code = code;
    try {
      this.traceHook(record);
    } catch {
      // A broken trace hook must not break a request.
    }
  }

  /**
   * Serves a request that arrived from another node (the call protocol's side of RemoteTransport):
   * checks the type and payload against the catalogue, asks the local actor, checks its reply.
   * Rejects with a BusError only; turn it into `call.error` with toErrorShape.
   */
  async serveRemote(req: {
    from: NodeId;
    actor: string;
    type: string;
    payload: unknown;
    deadlineMs?: number;
    correlationId?: string;
    signal?: AbortSignal;
  }): Promise<unknown> {
    if (typeof req.type !== 'string' || !isKnownMessageType(req.type)) {
      throw new BusError('INVALID_INPUT', `unknown message type "${String(req.type).slice(0, 100)}"`);
    }
    if (!hasReply(req.type)) throw new BusError('INVALID_INPUT', `"${req.type}" is an event, not a request`);
    const checked = validate(req.type, 'request', req.payload);
    if (checked instanceof BusError) throw checked;
    const correlationId =
      typeof req.correlationId === 'string' && req.correlationId.length > 0 && req.correlationId.length <= MAX_CORRELATION_ID
        ? req.correlationId
        : undefined;
    const reply = await this.requestUntyped(
      req.actor,
      req.type,
      checked,
      { deadlineMs: req.deadlineMs, correlationId, signal: req.signal, from: { node: req.from } },
    );
    if (!this.validateLocal) {
      const replyChecked = validate(req.type, 'reply', reply);
      if (replyChecked instanceof BusError) {
        this.logger.warn({ actor: req.actor, type: req.type }, 'local reply failed validation');
        throw new BusError('INTERNAL', `internal error in "${req.actor}"`);
      }
    }
    return reply;
  }

  // ---- fire-and-forget ----------------------------------------------------------------------

  /**
   * Delivers a message without waiting for an answer. Never throws (safe in an xstate action):
   * returns undefined when delivered, else the BusError (BUSY, UNAVAILABLE, INVALID_INPUT).
   * To a remote node it is a request whose answer is dropped (failures are logged).
   */
  send<K extends MessageType>(to: Address, type: K, payload: RequestOf<K>, options?: { correlationId?: string; from?: Sender }): SendResult;
  send(to: Address, type: string, payload: unknown, options: { correlationId?: string; from?: Sender } = {}): SendResult {
    if (this.closed) return new BusError('UNAVAILABLE', 'the bus is closed');
    const local = typeof to === 'string' ? to : this.nodeId !== undefined && to.node === this.nodeId ? to.actor : undefined;
    if (local === undefined) {
      if (!this.remote) return new BusError('UNAVAILABLE', `no remote transport for node ${(to as { node: string }).node}`);
      const checked = validate(type, 'request', payload);
      if (checked instanceof BusError) return checked;
      this.requestUntyped(to, type, payload, options).catch(
        (err: unknown) => this.logger.warn({ to: addressText(to), type, error: err instanceof BusError ? err.code : 'thrown' }, 'remote send failed'),
      );
      return undefined;
    }
    const reg = this.registrations.get(local);
    if (!reg) return new BusError('UNAVAILABLE', `actor "${local}" is not registered`);
    if (reg.inFlight.size >= reg.capacity) return new BusError('BUSY', `mailbox of "${local}" is full (${reg.capacity})`);
    if (this.validateLocal) {
      const checked = validate(type, 'request', payload);
      if (checked instanceof BusError) return checked;
    }
    const meta: RequestMeta = { correlationId: options.correlationId ?? this.newCorrelationId(), deadline: Date.now() + this.defaultDeadlineMs };
    if (options.from !== undefined) meta.from = options.from;
    try {
      reg.deliverOneWay(type, payload, meta);
    } catch (err) {
      this.logger.warn({ systemId: local, error: err instanceof Error ? err.name : typeof err }, 'delivery failed');
      return new BusError('UNAVAILABLE', `actor "${local}" could not take the message`);
    }
    return undefined;
  }

  // ---- publish / subscribe ------------------------------------------------------------------

  /** Calls every subscriber of `type`. A subscriber that throws (or rejects) is logged and skipped. */
  publish<K extends EventType>(type: K, payload: RequestOf<K>, options?: { correlationId?: string }): void;
  publish<K extends MessageType>(type: K, payload: RequestOf<K>, options?: { correlationId?: string }): void;
  publish(type: string, payload: unknown, options: { correlationId?: string } = {}): void {
    const handlers = this.subscribers.get(type);
    if (!handlers || handlers.size === 0) return;
    const meta: EventMeta = { correlationId: options.correlationId ?? this.newCorrelationId() };
    const log = (err: unknown) =>
      this.logger.warn({ type, correlationId: meta.correlationId, error: err instanceof Error ? err.name : typeof err }, 'subscriber failed');
    // A copy: a handler may (un)subscribe while we iterate.
    for (const handler of [...handlers]) {
      try {
        const result = (handler as (payload: unknown, meta: EventMeta) => unknown)(payload, meta);
        if (result instanceof Promise) result.catch(log);
      } catch (err) {
        log(err);
      }
    }
  }

  subscribe<K extends MessageType>(type: K, handler: EventHandler<K>): () => void {
    let set = this.subscribers.get(type);
    if (!set) this.subscribers.set(type, (set = new Set()));
    const h = handler as unknown as EventHandler;
    set.add(h);
    return () => {
      const current = this.subscribers.get(type);
      current?.delete(h);
      if (current && current.size === 0) this.subscribers.delete(type);
    };
  }

  // ---- shutdown -----------------------------------------------------------------------------

  /** Fails every pending request with UNAVAILABLE, drops registrations and subscribers. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const reg of [...this.registrations.values()]) this.removeRegistration(reg, 'the bus is closed');
    for (const queue of [...this.waiting.values()]) for (const p of [...queue]) p.fail('UNAVAILABLE', 'the bus is closed');
    this.waiting.clear();
    this.subscribers.clear();
  }
}

/**
 * The handler's meta. Its signal is made on first use: an AbortController costs more than the
 * rest of a request, and most handlers never look at it.
 */
function handlerMeta(p: Pending): HandlerMeta {
  const meta = { ...p.meta } as HandlerMeta;
  Object.defineProperty(meta, 'signal', {
    enumerable: true,
    get(): AbortSignal {
      if (!p.controller) {
        p.controller = new AbortController();
        if (p.settled) p.controller.abort();
      }
      return p.controller.signal;
    },
  });
  return meta;
}

type MapEntry = (payload: unknown, meta: HandlerMeta) => unknown;

function dispatchMap(map: Record<string, MapEntry>): BusHandler {
  return (type, payload, meta) => {
    const fn = Object.prototype.hasOwnProperty.call(map, type) ? map[type] : undefined;
    if (!fn) throw new BusError('NOT_FOUND', `no handler for "${type}"`);
    return fn(payload, meta);
  };
}

function abortError(signal: AbortSignal, to: string): BusError {
  const reason: unknown = signal.reason;
  const timedOut = reason instanceof Error && reason.name === 'TimeoutError';
  return timedOut
    ? new BusError('TIMEOUT', `request to ${to} timed out (signal)`, { cause: reason })
    : new BusError('UNAVAILABLE', `request to ${to} was aborted`, { retryable: false, cause: reason });
}

export function createBus(options: BusOptions = {}): Bus {
  return new Bus(options);
}
