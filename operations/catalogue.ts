// The node's one catalogue of operations. An operation is declared once, as data: its schemas,
// scopes, visibility, description and the actor that owns it (a systemId and the bus message that
// serves it). Invoking it is a bus request to that actor, so a remote caller gets the same mailbox
// bound (BUSY), deadline and restart behaviour as a local one. The call, HTTP and MCP front ends
// are views on this catalogue: they translate their wire format into `invoke`/`subscribe`, and
// existence, visibility, scopes, input validation, deadlines, aborts and error mapping are enforced
// here, in exactly one place.
//
// A few operations are the node's own views rather than a service's (discovery, node info, the
// remote bus): those carry a `handler` instead of an owner. A subscription is always such a
// handler, since a bus request has exactly one reply.
import { randomUUID } from 'node:crypto';
import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { Bus } from '../bus/bus.ts';
import { messageSpec, type Catalogue, type RequestType } from '../bus/catalogue.ts';
import { CallError, hasErrorShape, type ErrorCode } from './errors.ts';
import { missingScopes } from '../actors/peers/scopes.ts';
import './messages.ts';

export type OperationType = 'query' | 'mutation' | 'subscription';
export type Visibility = 'external' | 'internal';

export interface Caller {
  /** The peer's node id from its certificate; null for a caller without one (e.g. HTTP with a token). */
  nodeId: string | null;
  scopes: ReadonlySet<string>;
}

export interface CallContext {
  caller: Caller;
  /** Aborted when the caller aborts, the deadline passes or a parent call is aborted. */
  signal: AbortSignal;
  /** Absolute time (ms since epoch) by which the call must finish; Infinity when none. */
  deadline: number;
  correlationId: string;
  /** A nested call as the same caller; it inherits this call's signal and remaining deadline. */
  call(operation: string, input: unknown): Promise<unknown>;
}

interface OperationSpecBase<I extends TSchema, O extends TSchema> {
  /** "ns/op" (a leading "/" is accepted and removed). */
  name: string;
  input: I;
  output: O;
  /** The codes this operation may answer with, for documentation and discovery. */
  errors?: ErrorCode[];
  /** Every one of these is required; an empty list makes the operation public. */
  scopes: string[];
  /** Internal operations are invisible to remote callers and only reachable through ctx.call. */
  visibility: Visibility;
  description?: string;
}

/** An operation a service actor owns: invoking it is `bus.request(actor, message, input)`. */
export interface ServedOperationSpec<I extends TSchema = TSchema, O extends TSchema = TSchema> extends OperationSpecBase<I, O> {
  type: 'query' | 'mutation';
  /** The owning actor's systemId. */
  actor: string;
  /** The bus message it answers; its request and reply schemas are the operation's input and output. */
  message: RequestType;
}

/** One of the node's own views (discovery, node info), answered in place. */
export interface QueryOperationSpec<I extends TSchema = TSchema, O extends TSchema = TSchema> extends OperationSpecBase<I, O> {
  type: 'query' | 'mutation';
  handler(input: Static<I>, ctx: CallContext): Promise<Static<O>>;
}

export interface SubscriptionOperationSpec<I extends TSchema = TSchema, O extends TSchema = TSchema>
  extends OperationSpecBase<I, O> {
  type: 'subscription';
  handler(input: Static<I>, ctx: CallContext): AsyncIterable<Static<O>>;
}

export type OperationSpec<I extends TSchema = TSchema, O extends TSchema = TSchema> =
  | ServedOperationSpec<I, O>
  | QueryOperationSpec<I, O>
  | SubscriptionOperationSpec<I, O>;

type RequestSchema<K extends RequestType> = Catalogue[K] extends { request: infer S extends TSchema } ? S : never;
type ReplySchema<K extends RequestType> = Catalogue[K] extends { reply: infer S extends TSchema } ? S : never;

/**
 * Declares an operation served by a bus message of an actor: the message's schemas become the
 * operation's input and output, so the two can never disagree.
 *
 *   servedBy('fs', 'fs.stat', { name: 'blobs/stat', type: 'query', scopes: [], visibility: 'external' })
 */
export function servedBy<K extends RequestType>(
  actor: string,
  message: K,
  spec: Omit<ServedOperationSpec, 'actor' | 'message' | 'input' | 'output'>,
): ServedOperationSpec<RequestSchema<K>, ReplySchema<K>> {
  const schemas = messageSpec(message);
  if (!schemas?.reply) throw new Error(`servedBy: "${message}" is not a request message of the bus catalogue`);
  return { ...spec, actor, message, input: schemas.request as RequestSchema<K>, output: schemas.reply as ReplySchema<K> };
}

export function isServed(spec: OperationSpec): spec is ServedOperationSpec {
  return 'actor' in spec && typeof spec.actor === 'string';
}

/** Identity function that lets TypeScript infer the handler's input/output types from the schemas. */
export function defineOperation<I extends TSchema, O extends TSchema>(spec: QueryOperationSpec<I, O>): QueryOperationSpec<I, O>;
export function defineOperation<I extends TSchema, O extends TSchema>(
  spec: SubscriptionOperationSpec<I, O>,
): SubscriptionOperationSpec<I, O>;
export function defineOperation(spec: OperationSpec): OperationSpec {
  return spec;
}

export interface OperationInfo {
  name: string;
  type: OperationType;
  visibility: Visibility;
  scopes: string[];
  errors: ErrorCode[];
  description?: string;
  /** The owning actor's systemId, for a served operation. */
  actor?: string;
}

export interface InvokeOptions {
  signal?: AbortSignal;
  /** Relative deadline; defaults to the registry's defaultDeadlineMs for queries and mutations. */
  deadlineMs?: number;
  correlationId?: string;
  /** Set for nested calls from a handler: internal operations become reachable. */
  internal?: boolean;
  /** The front end the call came through (its ALPN); the call is then counted in `operations.called`. */
  via?: string;
}

export interface RegistryOptions {
  /** Where served operations are sent. Without a bus, only handler operations can be declared. */
  bus?: Bus;
  /** Check every output against the operation's output schema (INTERNAL on mismatch). Default false. */
  validateOutput?: boolean;
  /** Deadline for a query/mutation whose caller gave none. Default 30 s. Subscriptions have none by default. */
  defaultDeadlineMs?: number;
  /** Longer deadlines are shortened to this. Default 24 h. */
  maxDeadlineMs?: number;
  /** Told about every error that was hidden behind a generic INTERNAL, so the node can log it. */
  onInternalError?(err: unknown, info: { operation: string; correlationId: string }): void;
}

interface Entry {
  spec: OperationSpec;
  owner: unknown;
  inputCheck: TypeCheck<TSchema>;
  outputCheck: TypeCheck<TSchema>;
}

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)+$/;
const MAX_TIMER_MS = 2 ** 31 - 1;

/** "/ns/op" or "ns/op" → "ns/op". */
export function normalizeOperationName(operation: string): string {
  return operation.startsWith('/') ? operation.slice(1) : operation;
}

/** Quote a caller-supplied name in a message without letting it grow the message unboundedly. */
function quote(text: string): string {
  return JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}…` : text);
}

export class OperationCatalogue {
  readonly #entries = new Map<string, Entry>();
  readonly #options: Required<Omit<RegistryOptions, 'onInternalError' | 'bus'>> & Pick<RegistryOptions, 'onInternalError'>;
  readonly #bus: Bus | undefined;

  constructor(options: RegistryOptions = {}) {
    this.#options = {
      validateOutput: options.validateOutput ?? false,
      defaultDeadlineMs: options.defaultDeadlineMs ?? 30_000,
      maxDeadlineMs: Math.min(options.maxDeadlineMs ?? 24 * 3600_000, MAX_TIMER_MS),
      onInternalError: options.onInternalError,
    };
    this.#bus = options.bus;
  }

  /** Registers one or several operations; returns a function that removes exactly these again. */
  register(specs: OperationSpec | readonly OperationSpec[], owner?: unknown): () => void {
    const list = Array.isArray(specs) ? (specs as readonly OperationSpec[]) : [specs as OperationSpec];
    const entries: Entry[] = [];
    for (const spec of list) {
      const name = normalizeOperationName(spec.name);
      if (!NAME_PATTERN.test(name)) throw new Error(`operation name ${quote(spec.name)} is not of the form "ns/op"`);
      if (isServed(spec) && !this.#bus) throw new Error(`operation "${name}" is served by an actor, but the catalogue has no bus`);
      if (this.#entries.has(name) || entries.some((e) => e.spec.name === name)) {
        throw new Error(`operation "${name}" is already registered`);
      }
      const normalized = { ...spec, name } as OperationSpec;
      entries.push({
        spec: normalized,
        owner,
        inputCheck: TypeCompiler.Compile(spec.input),
        outputCheck: TypeCompiler.Compile(spec.output),
      });
    }
    for (const entry of entries) this.#entries.set(entry.spec.name, entry);
    return () => {
      for (const entry of entries) {
        if (this.#entries.get(entry.spec.name) === entry) this.#entries.delete(entry.spec.name);
      }
    };
  }

  /** Removes every operation registered with this owner (an actor at stop). */
  unregisterOwner(owner: unknown): void {
    for (const [name, entry] of this.#entries) if (entry.owner === owner) this.#entries.delete(name);
  }

  get(name: string): OperationSpec | undefined {
    return this.#entries.get(normalizeOperationName(name))?.spec;
  }

  list(options: { includeInternal?: boolean } = {}): OperationInfo[] {
    const out: OperationInfo[] = [];
    for (const { spec } of this.#entries.values()) {
      if (spec.visibility === 'internal' && !options.includeInternal) continue;
      const info: OperationInfo = {
        name: spec.name,
        type: spec.type,
        visibility: spec.visibility,
        scopes: [...spec.scopes],
        errors: [...(spec.errors ?? [])],
      };
      if (spec.description !== undefined) info.description = spec.description;
      if (isServed(spec)) info.actor = spec.actor;
      out.push(info);
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Runs a query or mutation. Rejects with a CallError only. */
  async invoke(name: string, input: unknown, caller: Caller, options: InvokeOptions = {}): Promise<unknown> {
    if (options.via === undefined) return this.#invoke(name, input, caller, options);
    try {
      const output = await this.#invoke(name, input, caller, options);
      this.#called(name, 'OK', options.via);
      return output;
    } catch (err) {
      this.#called(name, err instanceof CallError ? err.code : 'INTERNAL', options.via);
      throw err;
    }
  }

  /**
   * Counts a front end's call (operations.called); nobody listening costs a map lookup. Names that
   * are not in the catalogue count as "(unknown)": a client must not be able to fill a counter's
   * label set with names of its own.
   */
  #called(name: string, code: string, via: string): void {
    const operation = normalizeOperationName(name);
    this.#bus?.publish('operations.called', { operation: this.#entries.has(operation) ? operation : '(unknown)', code, via: via.slice(0, 255) });
  }

  async #invoke(name: string, input: unknown, caller: Caller, options: InvokeOptions): Promise<unknown> {
    const entry = this.#admit(name, input, caller, options);
    const { spec } = entry;
    if (spec.type === 'subscription') {
      throw new CallError('INVALID_INPUT', `${spec.name} is a subscription; subscribe to it instead`);
    }
    const run = this.#startRun(entry, caller, options);
    try {
      const pending = isServed(spec) ? this.#request(spec, input, caller, run.ctx) : Promise.resolve().then(() => spec.handler(input, run.ctx));
      pending.catch(() => {}); // it may settle after we gave up on it (abort, deadline)
      const output = await untilAborted(pending, run.ctx.signal);
      this.#checkOutput(entry, output, run.ctx.correlationId);
      return output;
    } catch (err) {
      throw this.#mapError(err, spec.name, run.ctx);
    } finally {
      run.dispose();
    }
  }

  /**
   * Runs a subscription. Checks happen on the first `next()`. Stopping the iteration early (break)
   * aborts the handler's signal.
   */
  subscribe(name: string, input: unknown, caller: Caller, options: InvokeOptions = {}): AsyncIterable<unknown> {
    return { [Symbol.asyncIterator]: () => this.#subscription(name, input, caller, options) };
  }

  async *#subscription(name: string, input: unknown, caller: Caller, options: InvokeOptions): AsyncGenerator<unknown> {
    if (options.via === undefined) return yield* this.#subscriptionRun(name, input, caller, options);
    // Counted when it ends: OK when it completed or its consumer stopped it, else the error's code.
    let code = 'OK';
    try {
      yield* this.#subscriptionRun(name, input, caller, options);
    } catch (err) {
      code = err instanceof CallError ? err.code : 'INTERNAL';
      throw err;
    } finally {
      this.#called(name, code, options.via);
    }
  }

  async *#subscriptionRun(name: string, input: unknown, caller: Caller, options: InvokeOptions): AsyncGenerator<unknown> {
    const entry = this.#admit(name, input, caller, options);
    const { spec } = entry;
    if (spec.type !== 'subscription') {
      throw new CallError('INVALID_INPUT', `${spec.name} is a ${spec.type}, not a subscription; invoke it instead`);
    }
    const run = this.#startRun(entry, caller, options);
    let iterator: AsyncIterator<unknown> | undefined;
    let done = false;
    try {
      iterator = spec.handler(input, run.ctx)[Symbol.asyncIterator]();
      for (;;) {
        const step = await untilAborted(Promise.resolve(iterator.next()), run.ctx.signal);
        if (step.done) {
          done = true;
          return;
        }
        this.#checkOutput(entry, step.value, run.ctx.correlationId);
        yield step.value;
      }
    } catch (err) {
      throw this.#mapError(err, spec.name, run.ctx);
    } finally {
      if (!done) {
        run.abort(new CallError('UNAVAILABLE', `${spec.name}: subscription stopped by its consumer`, { retryable: false }));
        // Not awaited: a handler stuck in its own await must not hold up the consumer.
        if (iterator?.return) Promise.resolve(iterator.return()).catch(() => {});
      }
      run.dispose();
    }
  }

  /** A served operation: one bus request to its owner, with the call's deadline, signal and caller. */
  #request(spec: ServedOperationSpec, input: unknown, caller: Caller, ctx: CallContext): Promise<unknown> {
    return this.#bus!.requestUntyped(spec.actor, spec.message, input, {
      deadline: ctx.deadline,
      deadlineMs: ctx.deadline === Infinity ? MAX_TIMER_MS : Math.max(0, ctx.deadline - Date.now()),
      signal: ctx.signal,
      correlationId: ctx.correlationId,
      from: 'operations',
      caller: { nodeId: caller.nodeId },
    });
  }

  /** Existence, visibility, scopes and input: the checks before any handler runs. */
  #admit(name: string, input: unknown, caller: Caller, options: InvokeOptions): Entry {
    const normalized = normalizeOperationName(name);
    const entry = this.#entries.get(normalized);
    // An internal operation looks absent from outside, so its existence does not leak.
    if (!entry || (entry.spec.visibility === 'internal' && !options.internal)) {
      throw new CallError('NOT_FOUND', `no operation ${quote(normalized)}`);
    }
    const missing = missingScopes(caller.scopes, entry.spec.scopes);
    if (missing.length > 0) {
      throw new CallError('FORBIDDEN', `${entry.spec.name} needs scope ${missing.map((s) => `"${s}"`).join(', ')}`, {
        details: { missingScopes: missing },
      });
    }
    if (!entry.inputCheck.Check(input)) {
      const errors = [...entry.inputCheck.Errors(input)].slice(0, 10).map((e) => ({ path: e.path, message: e.message }));
      const first = errors[0];
      const where = first ? `input${first.path}` : 'input';
      throw new CallError('INVALID_INPUT', `${entry.spec.name}: ${where}: ${first?.message ?? 'does not match the schema'}`, {
        details: { path: first?.path ?? '', errors },
      });
    }
    return entry;
  }

  #startRun(entry: Entry, caller: Caller, options: InvokeOptions) {
    const name = entry.spec.name;
    const controller = new AbortController();
    const correlationId = options.correlationId ?? randomUUID();
    let deadlineMs = options.deadlineMs;
    if (deadlineMs === undefined && entry.spec.type !== 'subscription') deadlineMs = this.#options.defaultDeadlineMs;
    if (deadlineMs !== undefined) deadlineMs = Math.min(Math.max(0, deadlineMs), this.#options.maxDeadlineMs);
    const deadline = deadlineMs === undefined ? Infinity : Date.now() + deadlineMs;

    const abort = (reason: CallError): void => {
      if (!controller.signal.aborted) controller.abort(reason);
    };
    const parent = options.signal;
    const onParentAbort = (): void => {
      const reason: unknown = parent?.reason;
      abort(
        hasErrorShape(reason)
          ? CallError.fromShape(reason)
          : new CallError('UNAVAILABLE', `${name}: call aborted by its caller`, { retryable: false }),
      );
    };
    if (parent?.aborted) onParentAbort();
    else parent?.addEventListener('abort', onParentAbort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    if (deadlineMs !== undefined) {
      const expire = () => abort(new CallError('TIMEOUT', `${name} did not finish within its ${deadlineMs} ms deadline`));
      if (deadlineMs <= 0) expire();
      else {
        // Referenced on purpose: a pending call keeps the process alive until its deadline answers it.
        timer = setTimeout(expire, deadlineMs);
      }
    }

    const ctx: CallContext = {
      caller,
      signal: controller.signal,
      deadline,
      correlationId,
      call: (operation, input) =>
        this.invoke(operation, input, caller, {
          signal: controller.signal,
          deadlineMs: deadline === Infinity ? undefined : Math.max(0, deadline - Date.now()),
          correlationId,
          internal: true,
        }),
    };
    return {
      ctx,
      abort,
      dispose: () => {
        if (timer) clearTimeout(timer);
        parent?.removeEventListener('abort', onParentAbort);
      },
    };
  }

  #checkOutput(entry: Entry, output: unknown, correlationId: string): void {
    if (!this.#options.validateOutput || entry.outputCheck.Check(output)) return;
    const first = entry.outputCheck.Errors(output).First();
    const problem = new Error(`output of ${entry.spec.name} does not match its schema at output${first?.path ?? ''}: ${first?.message ?? ''}`);
    this.#options.onInternalError?.(problem, { operation: entry.spec.name, correlationId });
    throw new CallError('INTERNAL', `output of ${entry.spec.name} does not match its schema`);
  }

  #mapError(err: unknown, operation: string, ctx: CallContext): CallError {
    // Once the call was aborted (deadline, caller), that is the answer, whatever the handler threw.
    if (ctx.signal.aborted && ctx.signal.reason instanceof CallError) return ctx.signal.reason;
    if (err instanceof CallError) return err;
    if (hasErrorShape(err)) return CallError.fromShape(err);
    this.#options.onInternalError?.(err, { operation, correlationId: ctx.correlationId });
    return new CallError('INTERNAL', `${operation} failed with an internal error (correlation id ${ctx.correlationId})`);
  }
}

/** Settles like `promise`, or rejects with the signal's reason as soon as it aborts (no leaked listeners). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
