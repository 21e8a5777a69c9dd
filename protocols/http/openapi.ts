// GET /openapi.json: an OpenAPI 3.1 document generated from the catalogue, for this caller: every
// external operation it may call (anonymous callers: the public ones), each at POST /ops/{ns}/{op}
// with its input as the request body and `{output}` as the answer (a subscription answers with
// Server-Sent Events), plus the generic routes. Schemas are the operations' TypeBox schemas as
// JSON Schema 2020-12 (bytes as base64 strings; recursive schemas as components).
import type { OperationCatalogue, OperationInfo } from '../../operations/catalogue.ts';
import { mayCall, type HttpCaller } from './auth.ts';
import { toJsonSchema, type JsonObject } from './jsonSchema.ts';
import { sendJson } from './respond.ts';
import type { RequestContext } from './context.ts';

const PROBLEM_REF = { $ref: '#/components/schemas/Problem' };

function problemResponses(codes: Record<string, string>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(codes).map(([status, description]) => [status, { description, content: { 'application/problem+json': { schema: PROBLEM_REF } } }]),
  );
}

const COMMON_ERRORS = problemResponses({
  '400': 'INVALID_INPUT: the body or the input does not match (the detail names the field)',
  '401': 'FORBIDDEN: credentials are needed (no credentials, or a bad or expired token)',
  '403': 'FORBIDDEN: the credentials lack a scope',
  '404': 'NOT_FOUND: no such operation',
  '413': 'INVALID_INPUT: the body is above the limit',
  '503': 'BUSY or UNAVAILABLE (retryable)',
  '504': 'TIMEOUT: the deadline passed',
  '500': 'INTERNAL',
});

function security(op: { scopes: string[] }): object[] {
  return op.scopes.length === 0 ? [{}, { bearerAuth: [] }, { mutualTLS: [] }] : [{ bearerAuth: [] }, { mutualTLS: [] }];
}

function describe(op: OperationInfo): string {
  const scopes = op.scopes.length ? `Needs scope ${op.scopes.map((s) => `\`${s}\``).join(', ')}.` : 'Public.';
  return `${op.description ?? op.name} ${scopes}`.trim();
}

export function openApiDocument(operations: OperationCatalogue, caller: HttpCaller, nodeId: string, version: string): Record<string, unknown> {
  const components = new Map<string, JsonObject>();
  const paths: Record<string, unknown> = {};
  for (const info of operations.list()) {
    if (!mayCall(caller, info.scopes)) continue;
    const spec = operations.get(info.name)!;
    const input = toJsonSchema(spec.input, components);
    const output = toJsonSchema(spec.output, components);
    const ok =
      info.type === 'subscription'
        ? { description: 'Server-Sent Events: `output` (data: one output as JSON) per value, then `completed` or `error` (data: a Problem)', content: { 'text/event-stream': { schema: { type: 'string', description: `each output: ${JSON.stringify(output).slice(0, 2000)}` } } } }
        : { description: 'The operation\'s output', content: { 'application/json': { schema: { type: 'object', properties: { output }, required: ['output'] } } } };
    paths[`/ops/${info.name}`] = {
      post: {
        operationId: info.name,
        summary: info.name,
        description: describe(info),
        tags: [info.name.split('/')[0]!],
        'x-alknet-type': info.type,
        'x-alknet-scopes': info.scopes,
        'x-alknet-errors': info.errors,
        security: security(info),
        parameters: [{ name: 'x-alknet-deadline-ms', in: 'header', required: false, schema: { type: 'number', exclusiveMinimum: 0 }, description: 'Deadline for the call, ms' }],
        requestBody: { required: false, content: { 'application/json': { schema: input } } },
        responses: { '200': ok, ...COMMON_ERRORS },
      },
    };
  }
  const anyJson = {};
  paths['/call'] = {
    post: {
      operationId: 'call',
      summary: 'Call any operation by name',
      security: [{}, { bearerAuth: [] }, { mutualTLS: [] }],
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: { type: 'object', properties: { operationId: { type: 'string', minLength: 1, maxLength: 256 }, input: anyJson, deadlineMs: { type: 'number', exclusiveMinimum: 0 } }, required: ['operationId'] },
          },
        },
      },
      responses: { '200': { description: 'The output', content: { 'application/json': { schema: { type: 'object', properties: { output: anyJson }, required: ['output'] } } } }, ...COMMON_ERRORS },
    },
  };
  paths['/batch'] = {
    post: {
      operationId: 'batch',
      summary: 'Several calls; the results in the order of the calls',
      security: [{}, { bearerAuth: [] }, { mutualTLS: [] }],
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: {
              type: 'object',
              properties: { calls: { type: 'array', items: { type: 'object', properties: { operationId: { type: 'string' }, input: anyJson, deadlineMs: { type: 'number' } }, required: ['operationId'] } } },
              required: ['calls'],
            },
          },
        },
      },
      responses: {
        '200': {
          description: 'One result per call: {output} or {error: Problem}',
          content: { 'application/json': { schema: { type: 'object', properties: { results: { type: 'array', items: { oneOf: [{ type: 'object', properties: { output: anyJson }, required: ['output'] }, { type: 'object', properties: { error: PROBLEM_REF }, required: ['error'] }] } } } } } },
        },
        ...COMMON_ERRORS,
      },
    },
  };
  paths['/search'] = {
    get: {
      operationId: 'search',
      summary: 'Operations whose name or description matches every word of q (only those the caller may call)',
      security: [{}, { bearerAuth: [] }, { mutualTLS: [] }],
      parameters: [
        { name: 'q', in: 'query', required: false, schema: { type: 'string', maxLength: 200 } },
        { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 500 } },
      ],
      responses: { '200': { description: 'Matching operations', content: { 'application/json': { schema: { type: 'object', properties: { operations: { type: 'array', items: { $ref: '#/components/schemas/OperationSummary' } } } } } } } },
    },
  };
  paths['/schema/{ns}/{op}'] = {
    get: {
      operationId: 'schema',
      summary: 'One operation\'s input and output JSON schemas',
      security: [{}, { bearerAuth: [] }, { mutualTLS: [] }],
      parameters: [
        { name: 'ns', in: 'path', required: true, schema: { type: 'string' } },
        { name: 'op', in: 'path', required: true, schema: { type: 'string' } },
      ],
      responses: { '200': { description: 'The schemas', content: { 'application/json': { schema: { type: 'object' } } } }, ...COMMON_ERRORS },
    },
  };
  paths['/subscribe'] = {
    get: {
      operationId: 'subscribe',
      summary: 'A subscription as Server-Sent Events',
      security: [{}, { bearerAuth: [] }, { mutualTLS: [] }],
      parameters: [
        { name: 'operationId', in: 'query', required: true, schema: { type: 'string' } },
        { name: 'input', in: 'query', required: false, schema: { type: 'string' }, description: 'The input as JSON' },
      ],
      responses: { '200': { description: 'Events `output`, then `completed` or `error`', content: { 'text/event-stream': { schema: { type: 'string' } } } }, ...COMMON_ERRORS },
    },
  };
  components.set('Problem', {
    type: 'object',
    description: 'RFC 9457 problem details; `code` is the alknet call error code',
    properties: {
      type: { type: 'string' },
      title: { type: 'string' },
      status: { type: 'integer' },
      detail: { type: 'string' },
      code: { type: 'string', enum: ['NOT_FOUND', 'FORBIDDEN', 'INVALID_INPUT', 'TIMEOUT', 'BUSY', 'UNAVAILABLE', 'INTERNAL'] },
      retryable: { type: 'boolean' },
      details: {},
    },
    required: ['type', 'title', 'status', 'detail', 'code', 'retryable'],
  });
  components.set('OperationSummary', {
    type: 'object',
    properties: { name: { type: 'string' }, type: { type: 'string', enum: ['query', 'mutation', 'subscription'] }, description: { type: 'string' }, scopes: { type: 'array', items: { type: 'string' } } },
    required: ['name', 'type', 'scopes'],
  });
  return {
    openapi: '3.1.0',
    info: {
      title: `alknet node ${nodeId.slice(0, 12)}…`,
      version,
      description: `The operations of alknet node ${nodeId} that this caller may call. Errors are application/problem+json with the call error code.`,
    },
    servers: [{ url: '/' }],
    paths,
    components: {
      schemas: Object.fromEntries(components),
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'alknet token create --scopes … (alk_…)' },
        mutualTLS: { type: 'mutualTLS', description: 'A client certificate carrying the Ed25519 key of a node listed in peers.toml' },
      },
    },
  };
}

export async function handleOpenApi(ctx: RequestContext, version: string): Promise<void> {
  const caller = await ctx.caller();
  sendJson(ctx.res, 200, openApiDocument(ctx.services.operations, caller, ctx.services.nodeId, version));
}
