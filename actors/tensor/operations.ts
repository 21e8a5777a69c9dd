// The tensor service's operations for the call registry: tensor/create, tensor/run, tensor/read,
// tensor/free (scope `tensor`) and tensor/info (public). Callers hold only handles; each handle is
// owned by the calling peer's node id, counted against that owner's memory quota, and freed by
// freeOwner() when the peer's connection closes.
import { randomBytes } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { defineOperation, type CallContext, type OperationSpec } from '../../operations/catalogue.ts';
import { CallError } from '../../operations/errors.ts';
import type { Engine } from './engine.ts';
import type { Tensor } from './tensor.ts';
import { applyOp, OpError } from './graph.ts';
import { byteSize } from './dtype.ts';
import { DTypeSchema, ShapeSchema, TensorValueSchema, WireError, decodeTensorValue, encodeTensorValue, type TensorValue } from './wire.ts';

export interface TensorServiceOptions {
  /** Bytes of kept handles one owner may hold (default 256 MiB). */
  quotaBytes?: number;
  /** Largest tensor accepted from the network (default 16 Mi elements). */
  maxElements?: number;
  /** Longest graph in one tensor/run (default 256 ops). */
  maxGraphOps?: number;
  /** Most handles one owner may hold (default 4096). */
  maxHandles?: number;
}

const HandleRefSchema = Type.Object({ handle: Type.String({ maxLength: 64 }) });
const NameSchema = Type.String({ minLength: 1, maxLength: 64 });
const HandleInfoSchema = Type.Object({ handle: Type.String(), shape: ShapeSchema, dtype: DTypeSchema });
const EncodingSchema = Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('binary')]));

export const RunInputSchema = Type.Object({
  inputs: Type.Record(Type.String({ maxLength: 64 }), Type.Union([TensorValueSchema, HandleRefSchema])),
  graph: Type.Array(Type.Object({
    op: Type.String({ maxLength: 64 }),
    args: Type.Array(NameSchema, { maxItems: 64 }),
    attrs: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    out: NameSchema,
  }), { maxItems: 4096 }),
  outputs: Type.Optional(Type.Array(NameSchema, { maxItems: 256 })),
  keep: Type.Optional(Type.Array(NameSchema, { maxItems: 256 })),
  /** Answer data as msgpack binary or JSON numbers; default: binary if any input was binary. */
  encoding: EncodingSchema,
});
export type RunInput = Static<typeof RunInputSchema>;

export const RunOutputSchema = Type.Object({
  outputs: Type.Record(Type.String(), TensorValueSchema),
  handles: Type.Optional(Type.Record(Type.String(), HandleInfoSchema)),
});

interface Handle {
  owner: string;
  tensor: Tensor;
  engine: Engine;
  bytes: number;
}

export interface TensorService {
  operations: OperationSpec[];
  /** Frees every handle of this owner (its connection closed); returns how many. */
  freeOwner(nodeId: string): number;
  /** Frees every handle (engine restart or shutdown). */
  freeAll(): void;
  handleCount(owner?: string): number;
  bytesOf(owner: string): number;
}

function ownerOf(ctx: CallContext): string {
  // A caller without a node id (an HTTP token) owns handles as "local"; they live until freed.
  return ctx.caller.nodeId ?? 'local';
}

function invalid(err: unknown): never {
  if (err instanceof CallError) throw err;
  if (err instanceof OpError || err instanceof WireError || err instanceof Error) {
    throw new CallError('INVALID_INPUT', err.message.slice(0, 300));
  }
  throw new CallError('INVALID_INPUT', 'invalid tensor request');
}

export function tensorOperations(engineSource: Engine | (() => Engine | null), options: TensorServiceOptions = {}): TensorService {
  const quota = options.quotaBytes ?? 256 * 1024 * 1024;
  const maxElements = options.maxElements ?? 16 * 1024 * 1024;
  const maxGraphOps = options.maxGraphOps ?? 256;
  const maxHandles = options.maxHandles ?? 4096;
  const handles = new Map<string, Handle>();

  const engine = (): Engine => {
    const e = typeof engineSource === 'function' ? engineSource() : engineSource;
    if (!e || e.isDestroyed) throw new CallError('UNAVAILABLE', 'the tensor engine is restarting');
    return e;
  };

  const bytesOf = (owner: string): number => {
    let sum = 0;
    for (const h of handles.values()) if (h.owner === owner) sum += h.bytes;
    return sum;
  };

  const countOf = (owner: string): number => {
    let n = 0;
    for (const h of handles.values()) if (h.owner === owner) n++;
    return n;
  };

  const lookup = (owner: string, id: string, e: Engine): Handle => {
    const h = handles.get(id);
    // Another owner's handle answers exactly like a missing one: handles are not discoverable.
    if (!h || h.owner !== owner) throw new CallError('NOT_FOUND', `no tensor handle "${id.slice(0, 64)}"`);
    if (h.engine !== e) {
      handles.delete(id);
      throw new CallError('NOT_FOUND', `tensor handle "${id}" was lost when the tensor engine restarted`);
    }
    return h;
  };

  const addHandle = (owner: string, e: Engine, tensor: Tensor): { handle: string; shape: number[]; dtype: Tensor['dtype'] } => {
    const bytes = tensor.size * byteSize(tensor.dtype);
    if (bytesOf(owner) + bytes > quota) {
      tensor.free();
      throw new CallError('BUSY', `tensor memory quota of ${quota} bytes exceeded; free some handles`, { retryable: false });
    }
    if (countOf(owner) >= maxHandles) {
      tensor.free();
      throw new CallError('BUSY', `at most ${maxHandles} tensor handles per caller`, { retryable: false });
    }
    const id = `t_${randomBytes(12).toString('base64url')}`;
    handles.set(id, { owner, tensor: e.keep(tensor), engine: e, bytes });
    return { handle: id, shape: [...tensor.shape], dtype: tensor.dtype };
  };

  const freeHandle = (id: string): void => {
    const h = handles.get(id);
    if (!h) return;
    handles.delete(id);
    if (!h.engine.isDestroyed) h.tensor.free();
  };

  const read = async (t: Tensor, binary: boolean): Promise<TensorValue> =>
    encodeTensorValue(t.shape, t.dtype, await t.toArray(), binary);

  const create = defineOperation({
    name: 'tensor/create',
    type: 'mutation',
    description: 'Uploads a tensor and returns a handle owned by the caller.',
    input: TensorValueSchema,
    output: HandleInfoSchema,
    errors: ['INVALID_INPUT', 'BUSY', 'UNAVAILABLE'],
    scopes: ['tensor'],
    visibility: 'external',
    handler: async (input, ctx) => {
      const e = engine();
      let value;
      try {
        value = decodeTensorValue(input, maxElements);
      } catch (err) {
        invalid(err);
      }
      return addHandle(ownerOf(ctx), e, e.tensor(value.data, { shape: value.shape, dtype: value.dtype }));
    },
  });

  const run = defineOperation({
    name: 'tensor/run',
    type: 'mutation',
    description: 'Runs a small graph of ops; returns the named outputs as data and the kept ones as handles.',
    input: RunInputSchema,
    output: RunOutputSchema,
    errors: ['INVALID_INPUT', 'NOT_FOUND', 'BUSY', 'UNAVAILABLE'],
    scopes: ['tensor'],
    visibility: 'external',
    handler: async (input, ctx) => {
      const e = engine();
      const owner = ownerOf(ctx);
      if (input.graph.length > maxGraphOps) throw new CallError('INVALID_INPUT', `graph has ${input.graph.length} ops; the limit is ${maxGraphOps}`);
      const binary = input.encoding ? input.encoding === 'binary' : Object.values(input.inputs).some((v) => 'data' in v && v.data instanceof Uint8Array);
      const outputs = input.outputs ?? [];
      const keep = input.keep ?? [];
      const startBytes = e.liveBytes;
      // Ops are recorded synchronously inside one tidy(): every intermediate is freed when it ends,
      // and the GPU backend batches all of them into one command encoder.
      const results = e.tidy(() => {
        const env = new Map<string, Tensor>();
        try {
          for (const [name, v] of Object.entries(input.inputs)) {
            if ('handle' in v) env.set(name, lookup(owner, v.handle, e).tensor.detach());
            else {
              const d = decodeTensorValue(v, maxElements);
              env.set(name, e.tensor(d.data, { shape: d.shape, dtype: d.dtype }));
            }
          }
          for (const [i, node] of input.graph.entries()) {
            const args = node.args.map((a) => {
              const t = env.get(a);
              if (!t) throw new OpError(`graph step ${i} (${node.op}): no tensor named "${a}"`);
              return t;
            });
            env.set(node.out, applyOp(e, node.op, args, node.attrs ?? {}));
            if (e.liveBytes - startBytes > quota) throw new CallError('BUSY', `graph needs more than the quota of ${quota} bytes`, { retryable: false });
          }
        } catch (err) {
          invalid(err);
        }
        const pick = (name: string): Tensor => {
          const t = env.get(name);
          if (!t) throw new CallError('INVALID_INPUT', `no tensor named "${name}" to return`);
          return t;
        };
        return { out: outputs.map(pick), kept: keep.map(pick) };
      });
      try {
        const handlesOut: Record<string, Static<typeof HandleInfoSchema>> = {};
        keep.forEach((name, i) => (handlesOut[name] = addHandle(owner, e, results.kept[i]!.detach())));
        const data: Record<string, TensorValue> = {};
        for (const [i, name] of outputs.entries()) data[name] = await read(results.out[i]!, binary);
        return keep.length ? { outputs: data, handles: handlesOut } : { outputs: data };
      } finally {
        [...results.out, ...results.kept].forEach((t) => t.free());
      }
    },
  });

  const readOp = defineOperation({
    name: 'tensor/read',
    type: 'query',
    description: "Reads a handle's data.",
    input: Type.Object({ handle: Type.String({ maxLength: 64 }), encoding: EncodingSchema }),
    output: TensorValueSchema,
    errors: ['NOT_FOUND', 'UNAVAILABLE'],
    scopes: ['tensor'],
    visibility: 'external',
    handler: async (input, ctx) => {
      const h = lookup(ownerOf(ctx), input.handle, engine());
      return read(h.tensor, input.encoding === 'binary');
    },
  });

  const free = defineOperation({
    name: 'tensor/free',
    type: 'mutation',
    description: 'Frees handles (unknown ones are ignored).',
    input: Type.Object({ handles: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 4096 }) }),
    output: Type.Object({ freed: Type.Integer() }),
    errors: [],
    scopes: ['tensor'],
    visibility: 'external',
    handler: async (input, ctx) => {
      const owner = ownerOf(ctx);
      let freed = 0;
      for (const id of input.handles) {
        if (handles.get(id)?.owner === owner) (freeHandle(id), freed++);
      }
      return { freed };
    },
  });

  const info = defineOperation({
    name: 'tensor/info',
    type: 'query',
    description: 'Backend, adapter, features and limits of the tensor engine.',
    input: Type.Object({}),
    output: Type.Object({
      backend: Type.String(),
      adapter: Type.String(),
      features: Type.Array(Type.String()),
      limits: Type.Record(Type.String(), Type.Number()),
      quotaBytes: Type.Number(),
      maxElements: Type.Number(),
    }),
    errors: ['UNAVAILABLE'],
    scopes: [],
    visibility: 'external',
    handler: async () => ({ ...engine().backend.info(), quotaBytes: quota, maxElements }),
  });

  return {
    operations: [create, run, readOp, free, info] as OperationSpec[],
    freeOwner(nodeId: string): number {
      let n = 0;
      for (const [id, h] of handles) if (h.owner === nodeId) (freeHandle(id), n++);
      return n;
    },
    freeAll(): void {
      for (const id of [...handles.keys()]) freeHandle(id);
    },
    handleCount(owner?: string): number {
      return owner === undefined ? handles.size : countOf(owner);
    },
    bytesOf,
  };
}
