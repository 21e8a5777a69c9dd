// The tensor service of one engine: answers tensor.* requests (create, run, read, free, info) with
// the engine's handle table. The tensor actor makes one per engine and closes it when the engine
// goes, which stops the work in flight and frees every handle.
//
// A tensor.run graph is first run on a meta engine (cost.ts): unknown ops, bad attrs, shape errors,
// missing names, the cost budget and the memory quota are all refused before any real work. Then it
// runs one op at a time, yielding to the event loop between ops, and stops between kernels once its
// deadline passes, its requester gives up or the engine stops (cancel.ts). The JS backend's matmul
// also checks the deadline inside the kernel; on WebGPU the service waits for the device after every
// `syncCost` units of work, so at most that much is queued on the GPU when a run is stopped.
import { validate } from '../../bus/catalogue.ts';
import { BusError, type ErrorCode } from '../../bus/errors.ts';
import type { BusRequestEvent, RequestMeta } from '../../bus/events.ts';
import type { Engine } from './engine.ts';
import type { Tensor } from './tensor.ts';
import { applyOp } from './graph.ts';
import { HandleTable } from './handles.ts';
import { metaEngine, metaLike, metaOf } from './cost.ts';
import { liveness, type Liveness } from './liveness.ts';
import { RunGuard, RunStopped, stoppedError, type StopReason } from './cancel.ts';
import { decodeTensorValue, encodeTensorValue, type TensorValue } from './wire.ts';
import type { DType, HostArray } from './dtype.ts';
import type { HandleInfo, RunInput, RunOutput, TensorMessageType } from './messages.ts';

export type TensorRequestEvent = BusRequestEvent<TensorMessageType>;

export interface TensorLimits {
  /** Bytes of kept handles one owner may hold; also bounds one graph's intermediates. */
  quotaBytes: number;
  /** Largest tensor accepted from the network (elements). */
  maxElements: number;
  /** Longest graph in one tensor.run. */
  maxGraphOps: number;
  /** Most handles one owner may hold. */
  maxHandles: number;
  /** Per-call cost budget of tensor.run, in units of about one multiply-add (cost.ts). */
  maxCost: number;
  /** WebGPU: wait for the device after this much work, so a stopped run leaves at most this much queued. */
  syncCost: number;
}

export const DEFAULT_TENSOR_LIMITS: Readonly<TensorLimits> = {
  quotaBytes: 256 * 1024 * 1024,
  maxElements: 16 * 1024 * 1024,
  maxGraphOps: 256,
  maxHandles: 4096,
  // ~3 s of lavapipe on 2 cores (≈3.4 G multiply-adds/s), tens of seconds on the JS backend.
  maxCost: 1e10,
  // ~20 ms of lavapipe: small graphs never wait, large ones lose little batching.
  syncCost: 2 ** 26,
};

/** How one request ended; the actor counts these, and `onRunEnd` sees every tensor.run's. */
export type Outcome = 'ok' | 'stopped' | 'failed';

export interface RunRecord {
  correlationId: string;
  outcome: Outcome;
  /** Ops executed on the real engine, of the graph's length. */
  ops: number;
  of: number;
  /** The graph's planned cost (0 when it was refused before planning finished). */
  cost: number;
  /** Why it stopped, or the code it failed with. */
  reason?: StopReason | ErrorCode;
}

/** Who owns the handles a request creates: the caller the catalogue authorized, else the sending node. */
export function ownerOf(meta: RequestMeta | undefined): string {
  if (meta?.caller) return meta.caller.nodeId ?? 'local';
  const from = meta?.from;
  if (typeof from === 'object' && from !== null) return from.node;
  return 'local';
}

/** Requests the catalogue or the remote bus already checked against the schema are not checked twice. */
function alreadyValidated(meta: RequestMeta | undefined): boolean {
  return meta?.from === 'operations' || (typeof meta?.from === 'object' && meta.from !== null);
}

function invalid(err: unknown): BusError {
  if (err instanceof BusError) return err;
  const message = err instanceof Error ? err.message : 'invalid tensor request';
  return new BusError('INVALID_INPUT', message.slice(0, 300), { retryable: false });
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Work between two turns of the event loop: well under a millisecond of JS kernels, so a run stays
 * responsive to aborts and lets other requests in, while a graph of tiny ops does not pay a turn each.
 */
const YIELD_COST = 2 ** 18;

type Source = { handle: Tensor } | { value: { shape: number[]; dtype: DType; data: HostArray } };

interface Plan {
  cost: number;
  /** Cost of each graph step, in order. */
  costs: number[];
}

export class TensorService {
  readonly handles: HandleTable;
  readonly #lifetime = new AbortController();
  readonly #inFlight = new Set<TensorRequestEvent>();
  #closedReason: string | null = null;
  /** Graph ops executed on this engine so far (all runs). */
  opsRun = 0;

  constructor(
    readonly engine: Engine,
    readonly limits: Readonly<TensorLimits> = DEFAULT_TENSOR_LIMITS,
    private readonly onRunEnd?: (record: RunRecord) => void,
  ) {
    this.handles = new HandleTable(engine, limits);
  }

  get closed(): boolean {
    return this.#closedReason !== null;
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  /**
   * Answers one request through its replyTo, exactly once, and says how it ended. Never rejects.
   * `stop` is aborted when whoever runs the request is stopped (the serving actor).
   */
  async serve(event: TensorRequestEvent, stop?: AbortSignal): Promise<Outcome> {
    if (this.closed) {
      safely(() => event.replyTo.fail('UNAVAILABLE', `the tensor engine ${this.#closedReason}; retry`));
      return 'failed';
    }
    this.#inFlight.add(event);
    const signals = stop ? [this.#lifetime.signal, stop] : [this.#lifetime.signal];
    const guard = new RunGuard({ deadline: event.meta?.deadline ?? Infinity, port: event.replyTo, signals });
    try {
      const reply = await this.#answer(event, guard);
      safely(() => event.replyTo.reply(reply as never));
      return 'ok';
    } catch (err) {
      const answer = this.#errorFor(err, event.type);
      safely(() => event.replyTo.fail(answer.code, answer.message, answer.details));
      return err instanceof RunStopped ? 'stopped' : 'failed';
    } finally {
      this.#inFlight.delete(event);
    }
  }

  /**
   * The engine goes (stop, restart, device loss): work in flight stops at its next check, its
   * requesters get a retryable UNAVAILABLE now, and every handle is freed. Destroying the engine is
   * the owner's job, after this.
   */
  close(reason: string): void {
    if (this.closed) return;
    this.#closedReason = reason;
    this.#lifetime.abort();
    for (const event of this.#inFlight) {
      safely(() => event.replyTo.fail('UNAVAILABLE', `the tensor engine ${reason}; retry`));
    }
    this.#inFlight.clear();
    this.handles.freeAll();
  }

  /** Snapshots (the inspector) show counts only. */
  toJSON(): { backend: string; inFlight: number; handles: number; opsRun: number; closed: boolean } {
    return { backend: this.engine.backend.name, inFlight: this.#inFlight.size, handles: this.handles.size, opsRun: this.opsRun, closed: this.closed };
  }

  #errorFor(err: unknown, what: string): BusError {
    if (err instanceof RunStopped) return stoppedError(err.reason, what, err.progress);
    if (this.closed || this.engine.isDestroyed) {
      return new BusError('UNAVAILABLE', `${what}: the tensor engine stopped (restarting or shutting down); retry`);
    }
    if (err instanceof BusError) return err;
    // The caller's mistakes were turned into INVALID_INPUT where they can happen (decoding, the meta
    // pass); anything else is ours (a backend failure), and its text stays here.
    return new BusError('INTERNAL', `${what}: internal error in the tensor engine`, { retryable: false });
  }

  async #answer(event: TensorRequestEvent, guard: RunGuard): Promise<unknown> {
    const meta = event.meta;
    let payload: unknown = event.payload;
    if (!alreadyValidated(meta)) {
      const checked = validate(event.type, 'request', payload);
      if (checked instanceof BusError) throw checked;
      payload = checked;
    }
    const owner = ownerOf(meta);
    // Work whose deadline passed or whose requester left while it waited is not started (tensor.run
    // checks inside, so that its record says so). A free is always done: it may be sent one-way
    // (bus.send), with nobody waiting for its answer.
    if (event.type !== 'tensor.run' && event.type !== 'tensor.free') guard.check();
    switch (event.type) {
      case 'tensor.create':
        return this.#create(owner, payload as TensorValue);
      case 'tensor.run':
        return this.#run(owner, payload as RunInput, guard, meta?.correlationId ?? '');
      case 'tensor.read': {
        const p = payload as { handle: string; encoding?: 'json' | 'binary' };
        return this.#read(this.handles.get(owner, p.handle), p.encoding === 'binary');
      }
      case 'tensor.free': {
        let freed = 0;
        for (const id of (payload as { handles: string[] }).handles) if (this.handles.free(owner, id)) freed++;
        return { freed };
      }
      case 'tensor.info': {
        const { quotaBytes, maxElements, maxGraphOps, maxCost } = this.limits;
        return { ...this.engine.backend.info(), quotaBytes, maxElements, maxGraphOps, maxCost };
      }
    }
  }

  #create(owner: string, value: TensorValue): HandleInfo {
    let tensor: Tensor;
    try {
      const v = decodeTensorValue(value, this.limits.maxElements);
      tensor = this.engine.tensor(v.data, { shape: v.shape, dtype: v.dtype });
    } catch (err) {
      throw invalid(err);
    }
    return this.handles.add(owner, tensor);
  }

  /** Reads through its own view, so a concurrent tensor.free of the handle cannot pull the storage away. */
  async #read(handle: Tensor, binary: boolean): Promise<TensorValue> {
    const t = handle.detach();
    try {
      return encodeTensorValue(t.shape, t.dtype, await t.toArray(), binary);
    } finally {
      t.free();
    }
  }

  async #run(owner: string, input: RunInput, guard: RunGuard, correlationId: string): Promise<RunOutput> {
    const { engine, limits } = this;
    const graph = input.graph;
    const record = (outcome: Outcome, ops: number, cost: number, reason?: RunRecord['reason']): void => {
      try {
        this.onRunEnd?.({ correlationId, outcome, ops, of: graph.length, cost, ...(reason ? { reason } : {}) });
      } catch {
        // An observer's failure is not the request's.
      }
    };
    if (graph.length > limits.maxGraphOps) {
      record('failed', 0, 0, 'INVALID_INPUT');
      throw new BusError('INVALID_INPUT', `graph has ${graph.length} ops; the limit is ${limits.maxGraphOps}`, { retryable: false });
    }
    let plan: Plan = { cost: 0, costs: [] };
    let ops = 0;
    // Every live tensor of the run by slot (liveness.ts); whatever is left is freed at the end.
    const slots: (Tensor | undefined)[] = [];
    try {
      // Decoding and uploading large inputs takes time too: the deadline is checked between them.
      guard.check();
      const sources = this.#sources(owner, input, guard);
      const live = this.#liveness(input, sources);
      plan = this.#plan(input, sources, live);
      const binary = input.encoding ? input.encoding === 'binary' : Object.values(input.inputs).some((v) => 'data' in v && v.data instanceof Uint8Array);
      for (const [name, source] of sources) {
        guard.checkDeadline();
        const t = 'handle' in source ? source.handle.detach() : engine.tensor(source.value.data, { shape: source.value.shape, dtype: source.value.dtype });
        slots[live.inputs.get(name)!] = t;
      }
      let sinceSync = 0;
      let sinceYield = 0;
      for (const [i, node] of graph.entries()) {
        guard.check();
        slots[live.outs[i]!] = this.#step(node.op, live.args[i]!.map((slot) => slots[slot]!), node.attrs ?? {}, guard);
        for (const slot of live.freeAfter[i]!) (slots[slot]?.free(), (slots[slot] = undefined));
        ops++;
        this.opsRun++;
        sinceSync += plan.costs[i]!;
        sinceYield += plan.costs[i]!;
        if (engine.backend.sync && sinceSync >= limits.syncCost) {
          sinceSync = sinceYield = 0;
          await engine.backend.sync();
        } else if (sinceYield >= YIELD_COST) {
          // A turn of the event loop, so that timers (the deadline), aborts and other requests get in.
          sinceYield = 0;
          await nextTurn();
        }
      }
      // Outputs are read before handles are made: a read that fails or is stopped leaves no handle
      // behind that its caller would never learn of.
      const outputs: Record<string, TensorValue> = {};
      for (const name of input.outputs ?? []) {
        guard.check();
        outputs[name] = await this.#read(slots[live.finals.get(name)!]!, binary);
      }
      guard.check();
      const keep = input.keep ?? [];
      const kept: Record<string, HandleInfo> = {};
      try {
        for (const name of keep) kept[name] = this.handles.add(owner, slots[live.finals.get(name)!]!.detach());
      } catch (err) {
        for (const info of Object.values(kept)) this.handles.free(owner, info.handle);
        throw err;
      }
      record('ok', ops, plan.cost);
      return keep.length ? { outputs, handles: kept } : { outputs };
    } catch (err) {
      if (err instanceof RunStopped) {
        record('stopped', ops, plan.cost, err.reason);
        throw new RunStopped(err.reason, `${ops} of ${graph.length} ops`);
      }
      const answer = this.#errorFor(err, 'tensor.run');
      record('failed', ops, plan.cost, answer.code);
      throw answer;
    } finally {
      for (const t of slots) t?.free();
    }
  }

  /** Slots and lifetimes of the graph's tensors; INVALID_INPUT for a name that is never defined. */
  #liveness(input: RunInput, sources: Map<string, Source>): Liveness {
    try {
      return liveness([...sources.keys()], input.graph, [...(input.outputs ?? []), ...(input.keep ?? [])]);
    } catch (err) {
      throw invalid(err);
    }
  }

  /** Decoded values and looked-up handles; INVALID_INPUT / NOT_FOUND before anything is planned. */
  #sources(owner: string, input: RunInput, guard: RunGuard): Map<string, Source> {
    const sources = new Map<string, Source>();
    for (const [name, v] of Object.entries(input.inputs)) {
      guard.checkDeadline();
      if ('handle' in v) sources.set(name, { handle: this.handles.get(owner, v.handle) });
      else {
        try {
          sources.set(name, { value: decodeTensorValue(v, this.limits.maxElements) });
        } catch (err) {
          throw invalid(err);
        }
      }
    }
    return sources;
  }

  /** The graph on the meta engine: every check of a real run, no kernels; its cost and peak memory. */
  #plan(input: RunInput, sources: Map<string, Source>, live: Liveness): Plan {
    const { engine: meta, backend } = metaEngine(this.engine);
    const slots: (Tensor | undefined)[] = [];
    for (const [name, s] of sources) if ('handle' in s) slots[live.inputs.get(name)!] = metaLike(meta, s.handle);
    const held = backend.liveBytes; // kept handles are already counted against the owner's quota
    for (const [name, s] of sources) if ('value' in s) slots[live.inputs.get(name)!] = metaOf(meta, s.value.shape, s.value.dtype);
    const costs: number[] = [];
    for (const [i, node] of input.graph.entries()) {
      const before = backend.cost;
      try {
        const args = live.args[i]!.map((slot) => slots[slot]!);
        slots[live.outs[i]!] = meta.tidy(() => applyOp(meta, node.op, args, node.attrs ?? {}));
      } catch (err) {
        throw new BusError('INVALID_INPUT', `graph step ${i} (${node.op.slice(0, 64)}): ${err instanceof Error ? err.message.slice(0, 300) : 'invalid'}`, { retryable: false });
      }
      for (const slot of live.freeAfter[i]!) (slots[slot]?.free(), (slots[slot] = undefined));
      costs.push(backend.cost - before);
    }
    const { maxCost, quotaBytes } = this.limits;
    if (backend.cost > maxCost) {
      throw new BusError('INVALID_INPUT', `graph would cost about ${backend.cost.toExponential(2)} units (multiply-adds); the per-call budget maxCost is ${maxCost.toExponential(2)}`, {
        retryable: false,
        details: { cost: backend.cost, maxCost },
      });
    }
    if (backend.peakBytes - held > quotaBytes) {
      throw new BusError('BUSY', `graph needs more than the quota of ${quotaBytes} bytes`, { retryable: false });
    }
    return { cost: backend.cost, costs };
  }

  /** One op; the JS backend's long kernels see the deadline through `interrupt` while it runs. */
  #step(op: string, args: Tensor[], attrs: Readonly<Record<string, unknown>>, guard: RunGuard): Tensor {
    const backend = this.engine.backend;
    backend.interrupt = guard.checkDeadline;
    try {
      return this.engine.tidy(() => applyOp(this.engine, op, args, attrs));
    } finally {
      backend.interrupt = null;
    }
  }
}

function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // A requester's reply port failing is its problem; the service keeps serving.
  }
}
