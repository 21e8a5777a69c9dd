// Built-in operations every node serves: discovery (`services/list`, `services/schema`) and, through
// factories the node wiring calls with its own data sources, `node/info` and `node/actors`.
// `node/info` and `services/*` are public; `node/actors` shows the node's internals and needs "admin".
import { Type, type TSchema } from '@sinclair/typebox';
import { CallError } from './errors.ts';
import { defineOperation, normalizeOperationName, type OperationCatalogue, type OperationSpec } from './catalogue.ts';
import type { Bus } from '../bus/bus.ts';

const OperationType = Type.Union([Type.Literal('query'), Type.Literal('mutation'), Type.Literal('subscription')]);

const ServiceSummary = Type.Object({
  name: Type.String(),
  type: OperationType,
  description: Type.Optional(Type.String()),
  scopes: Type.Array(Type.String()),
});

/** A TypeBox schema as plain JSON Schema: TypeBox's symbol-keyed markers do not survive JSON. */
function toJsonSchema(schema: TSchema): unknown {
  return JSON.parse(JSON.stringify(schema)) as unknown;
}

export function createServiceOperations(registry: OperationCatalogue): OperationSpec[] {
  const list = defineOperation({
    name: 'services/list',
    type: 'query',
    description: 'The operations this node serves to remote callers: names, types, descriptions and scopes.',
    input: Type.Object({}),
    output: Type.Object({ operations: Type.Array(ServiceSummary) }),
    scopes: [],
    visibility: 'external',
    async handler() {
      return {
        operations: registry.list().map((op) => ({
          name: op.name,
          type: op.type,
          scopes: op.scopes,
          ...(op.description !== undefined ? { description: op.description } : {}),
        })),
      };
    },
  });
  const schema = defineOperation({
    name: 'services/schema',
    type: 'query',
    description: 'The JSON schemas of one operation\'s input and output.',
    input: Type.Object({ name: Type.String({ minLength: 1, maxLength: 256 }) }),
    output: Type.Object({
      name: Type.String(),
      type: OperationType,
      description: Type.Optional(Type.String()),
      scopes: Type.Array(Type.String()),
      errors: Type.Array(Type.String()),
      input: Type.Unknown(),
      output: Type.Unknown(),
    }),
    errors: ['NOT_FOUND'],
    scopes: [],
    visibility: 'external',
    async handler({ name }) {
      const spec = registry.get(name);
      if (!spec || spec.visibility === 'internal') {
        throw new CallError('NOT_FOUND', `no operation ${JSON.stringify(normalizeOperationName(name).slice(0, 200))}`);
      }
      return {
        name: spec.name,
        type: spec.type,
        ...(spec.description !== undefined ? { description: spec.description } : {}),
        scopes: [...spec.scopes],
        errors: [...(spec.errors ?? [])],
        input: toJsonSchema(spec.input),
        output: toJsonSchema(spec.output),
      };
    },
  });
  return [list, schema];
}

export const NodeInfoSchema = Type.Object({
  nodeId: Type.String(),
  version: Type.String(),
  uptimeMs: Type.Number({ minimum: 0 }),
  alpns: Type.Array(Type.String()),
  listen: Type.Object({ quic: Type.Optional(Type.String()), tcp: Type.Optional(Type.String()) }, { additionalProperties: true }),
});
export type NodeInfo = {
  nodeId: string;
  version: string;
  uptimeMs: number;
  alpns: string[];
  listen: { quic?: string; tcp?: string; [other: string]: unknown };
};

export function createNodeInfoOperation(getInfo: () => NodeInfo | Promise<NodeInfo>): OperationSpec {
  return defineOperation({
    name: 'node/info',
    type: 'query',
    description: 'This node\'s id, version, uptime, protocols (ALPNs) and listen addresses.',
    input: Type.Object({}),
    output: NodeInfoSchema,
    scopes: [],
    visibility: 'external',
    async handler() {
      return await getInfo();
    },
  });
}

/** One actor in the supervision tree, as the node wiring reports it. */
export interface ActorTreeNode {
  id: string;
  systemId?: string;
  status: string;
  state?: unknown;
  children: ActorTreeNode[];
}

export const ActorTreeSchema = Type.Recursive(
  (Self) =>
    Type.Object({
      id: Type.String(),
      systemId: Type.Optional(Type.String()),
      status: Type.String(),
      state: Type.Optional(Type.Unknown()),
      children: Type.Array(Self),
    }),
  { $id: 'ActorTreeNode' },
);

export function createNodeActorsOperation(getTree: () => ActorTreeNode | Promise<ActorTreeNode>): OperationSpec {
  return defineOperation({
    name: 'node/actors',
    type: 'query',
    description: 'The node\'s supervision tree: every actor with its status and state.',
    input: Type.Object({}),
    output: Type.Object({ root: ActorTreeSchema }),
    scopes: ['admin'],
    visibility: 'external',
    async handler() {
      return { root: await getTree() };
    },
  });
}

// The remote bus, serving side: a peer's `bus.request({node, actor}, …)` arrives as this operation;
// `bus.serveRemote` validates it against the catalogue and marks it as coming from that node, so
// services refuse remote callers what is local-only.
export const BUS_SCOPE = 'bus';

const BusRequestInput = Type.Object({
  actor: Type.String({ minLength: 1, maxLength: 128 }),
  type: Type.String({ minLength: 1, maxLength: 128 }),
  payload: Type.Unknown(),
});

/** Served by every node: a remote peer's request to one of our actors (needs the `bus` scope). */
export function busRequestOperation(bus: Bus): OperationSpec {
  return defineOperation({
    name: 'bus/request',
    type: 'mutation',
    description: 'Deliver a catalogue message to a local actor and return its reply (the remote bus).',
    input: BusRequestInput,
    output: Type.Object({ reply: Type.Unknown() }),
    scopes: [BUS_SCOPE],
    visibility: 'external',
    async handler(input, ctx) {
      const reply = await bus.serveRemote({
        from: ctx.caller.nodeId ?? 'anonymous',
        actor: input.actor,
        type: input.type,
        payload: input.payload,
        deadlineMs: Math.max(1, ctx.deadline - Date.now()),
        correlationId: ctx.correlationId,
        signal: ctx.signal,
      });
      return { reply };
    },
  });
}

