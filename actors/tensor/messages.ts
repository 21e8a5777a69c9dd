// The tensor actor's bus messages (TypeBox schemas, registered in the bus catalogue). Requests arrive
// at the actor with systemId TENSOR_SYSTEM_ID; the tensor/* operations (operations.ts) are these
// messages, so the operations' input/output schemas are exactly the schemas below.
import { Type as T, type Static } from '@sinclair/typebox';
import { defineMessages, type MessagesOf } from '../../bus/catalogue.ts';
import { DTypeSchema, ShapeSchema, TensorValueSchema } from './wire.ts';

export const TENSOR_SYSTEM_ID = 'tensor';

const HandleId = T.String({ maxLength: 64 });
const Name = T.String({ minLength: 1, maxLength: 64 });
const Encoding = T.Optional(T.Union([T.Literal('json'), T.Literal('binary')]));

export const HandleInfoSchema = T.Object({ handle: T.String(), shape: ShapeSchema, dtype: DTypeSchema });
export type HandleInfo = Static<typeof HandleInfoSchema>;

export const GraphNodeSchema = T.Object({
  op: T.String({ maxLength: 64 }),
  args: T.Array(Name, { maxItems: 64 }),
  /** PyTorch's argument names; free-form by nature, checked per op by graph.ts. */
  attrs: T.Optional(T.Record(T.String({ maxLength: 64 }), T.Unknown())),
  out: Name,
});
export type GraphNode = Static<typeof GraphNodeSchema>;

export const RunInputSchema = T.Object({
  inputs: T.Record(T.String({ maxLength: 64 }), T.Union([TensorValueSchema, T.Object({ handle: HandleId })])),
  graph: T.Array(GraphNodeSchema, { maxItems: 4096 }),
  outputs: T.Optional(T.Array(Name, { maxItems: 256 })),
  keep: T.Optional(T.Array(Name, { maxItems: 256 })),
  /** Answer data as msgpack binary or as a JSON list; default: binary if any input was binary. */
  encoding: Encoding,
});
export type RunInput = Static<typeof RunInputSchema>;

export const RunOutputSchema = T.Object({
  outputs: T.Record(T.String(), TensorValueSchema),
  handles: T.Optional(T.Record(T.String(), HandleInfoSchema)),
});
export type RunOutput = Static<typeof RunOutputSchema>;

export const InfoSchema = T.Object({
  backend: T.String(),
  adapter: T.String(),
  features: T.Array(T.String()),
  limits: T.Record(T.String(), T.Number()),
  quotaBytes: T.Number(),
  maxElements: T.Number(),
  maxGraphOps: T.Number(),
  /** The per-call cost budget of tensor.run (see docs/tensor.md "Limits"). */
  maxCost: T.Number(),
});

export const tensorMessages = defineMessages({
  'tensor.create': { request: TensorValueSchema, reply: HandleInfoSchema },
  'tensor.run': { request: RunInputSchema, reply: RunOutputSchema },
  'tensor.read': { request: T.Object({ handle: HandleId, encoding: Encoding }), reply: TensorValueSchema },
  'tensor.free': {
    request: T.Object({ handles: T.Array(HandleId, { maxItems: 4096 }) }),
    reply: T.Object({ freed: T.Integer({ minimum: 0 }) }),
  },
  'tensor.info': { request: T.Object({}), reply: InfoSchema },
});

declare module '../../bus/catalogue.ts' {
  interface Catalogue extends MessagesOf<typeof tensorMessages> {}
}

export type TensorMessageType = keyof typeof tensorMessages;

export function isTensorMessageType(type: unknown): type is TensorMessageType {
  return typeof type === 'string' && Object.prototype.hasOwnProperty.call(tensorMessages, type);
}
