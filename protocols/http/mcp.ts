// POST /mcp: a Model Context Protocol server over Streamable HTTP (@modelcontextprotocol/sdk), stateless:
// each request gets a fresh MCP server and transport (the SDK's web-standard transport, answering
// JSON), bound to this request's caller. Tools: `search`, `schema`, `call`, `batch`, and one per
// external operation the caller may call (queries and mutations: `blobs/stat` → `blobs_stat`, with
// the operation's description and input schema). Same authentication as the rest of the front
// end; no stdio transport is offered remotely. The body is read under the same limit as every
// body (413 past it); everything else about the message — not JSON, not JSON-RPC, wrong headers —
// the SDK answers with its JSON-RPC error and status.
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError, type CallToolResult, type Tool } from '@modelcontextprotocol/sdk/types.js';
import type { ServerResponse } from 'node:http';
import { normalizeOperationName, type OperationCatalogue } from '../../operations/catalogue.ts';
import { CallError, toErrorShape } from '../../operations/errors.ts';
import { mayCall, type HttpCaller } from './auth.ts';
import { readBody } from './body.ts';
import { inputFromJson, stringifyJson, toJsonSchema, type JsonObject } from './jsonSchema.ts';
import { runBatch } from './gateway.ts';
import type { RequestContext } from './context.ts';

const GENERIC_TOOLS: Tool[] = [
  {
    name: 'search',
    description: 'Find operations of this alknet node by words in their name or description. Returns names, types, descriptions and scopes.',
    inputSchema: { type: 'object', properties: { query: { type: 'string', description: 'Words to match; empty lists everything' }, limit: { type: 'integer', minimum: 1, maximum: 500 } } },
  },
  {
    name: 'schema',
    description: 'The JSON schemas of one operation\'s input and output (bytes are base64 strings).',
    inputSchema: { type: 'object', properties: { operationId: { type: 'string', description: 'ns/op, e.g. node/info' } }, required: ['operationId'] },
  },
  {
    name: 'call',
    description: 'Call one operation of this node by name with its input; returns its output as JSON.',
    inputSchema: { type: 'object', properties: { operationId: { type: 'string' }, input: { type: 'object', description: 'The operation\'s input' } }, required: ['operationId'] },
  },
  {
    name: 'batch',
    description: 'Call several operations at once; the results come back in the order of the calls, each an output or an error.',
    inputSchema: {
      type: 'object',
      properties: { calls: { type: 'array', items: { type: 'object', properties: { operationId: { type: 'string' }, input: { type: 'object' } }, required: ['operationId'] } } },
      required: ['calls'],
    },
  },
];

/** `ns/op` → a tool name MCP clients accept (`^[A-Za-z0-9_-]{1,64}$`). */
export function toolName(operation: string): string {
  return operation.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
}

/** The per-operation tools this caller may use. */
function operationTools(operations: OperationCatalogue, caller: HttpCaller): Map<string, { operation: string; tool: Tool }> {
  const tools = new Map<string, { operation: string; tool: Tool }>();
  for (const info of operations.list()) {
    if (info.type === 'subscription' || !mayCall(caller, info.scopes)) continue;
    const spec = operations.get(info.name)!;
    const defs = new Map<string, JsonObject>();
    const schema = toJsonSchema(spec.input, defs, '#/$defs/');
    if (schema.type !== 'object') continue;
    const name = toolName(info.name);
    if (tools.has(name) || GENERIC_TOOLS.some((t) => t.name === name)) continue;
    const scopes = info.scopes.length ? ` Needs scope ${info.scopes.join(', ')}.` : '';
    tools.set(name, {
      operation: info.name,
      tool: {
        name,
        title: info.name,
        description: `${info.description ?? info.name} (operation ${info.name}, a ${info.type}).${scopes}`,
        inputSchema: { ...schema, ...(defs.size ? { $defs: Object.fromEntries(defs) } : {}) } as Tool['inputSchema'],
        annotations: { readOnlyHint: info.type === 'query' },
      },
    });
  }
  return tools;
}

function textResult(value: unknown): CallToolResult {
  return { content: [{ type: 'text', text: stringifyJson(value) }] };
}

function errorResult(err: unknown): CallToolResult {
  const shape = toErrorShape(err);
  return { isError: true, content: [{ type: 'text', text: `${shape.code}: ${shape.message}` }] };
}

function mcpServer(ctx: RequestContext, caller: HttpCaller, version: string): Server {
  const { operations } = ctx.services;
  const server = new Server({ name: 'alknet', version }, { capabilities: { tools: {} }, instructions: `Operations of the alknet node ${ctx.services.nodeId}. Use search to find one, schema to see its input, then call it (or its own tool).` });
  const tools = operationTools(operations, caller);

  const invoke = async (operation: string, input: unknown): Promise<unknown> => {
    const name = normalizeOperationName(operation);
    const spec = operations.get(name);
    return operations.invoke(name, spec ? inputFromJson(spec.input, input ?? {}) : (input ?? {}), caller, { signal: ctx.signal, via: ctx.info.alpn });
  };

  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: [...GENERIC_TOOLS, ...[...tools.values()].map((t) => t.tool)] }));
  server.setRequestHandler(CallToolRequestSchema, async (request) => {
    const args = (request.params.arguments ?? {}) as Record<string, unknown>;
    const name = request.params.name;
    try {
      switch (name) {
        case 'search': {
          const words = String(args.query ?? '').toLowerCase().split(/\s+/).filter(Boolean).slice(0, 20);
          const limit = Math.min(500, Math.max(1, Number(args.limit ?? 100) || 100));
          const found = operations
            .list()
            .filter((op) => mayCall(caller, op.scopes))
            .filter((op) => words.every((w) => op.name.toLowerCase().includes(w) || (op.description ?? '').toLowerCase().includes(w)))
            .slice(0, limit)
            .map((op) => ({ name: op.name, type: op.type, scopes: op.scopes, tool: op.type === 'subscription' ? undefined : toolName(op.name), ...(op.description ? { description: op.description } : {}) }));
          return textResult({ operations: found });
        }
        case 'schema':
          if (typeof args.operationId !== 'string') throw new CallError('INVALID_INPUT', 'schema: operationId must be a string');
          return textResult(await operations.invoke('services/schema', { name: args.operationId }, caller, { signal: ctx.signal }));
        case 'call':
          if (typeof args.operationId !== 'string') throw new CallError('INVALID_INPUT', 'call: operationId must be a string');
          return textResult(await invoke(args.operationId, args.input));
        case 'batch': {
          const calls = args.calls;
          if (!Array.isArray(calls) || calls.some((c) => typeof c !== 'object' || c === null || typeof (c as { operationId?: unknown }).operationId !== 'string')) {
            throw new CallError('INVALID_INPUT', 'batch: calls must be an array of {operationId, input}');
          }
          if (calls.length > ctx.limits.maxBatchCalls) throw new CallError('INVALID_INPUT', `batch: ${calls.length} calls is above the limit of ${ctx.limits.maxBatchCalls}`);
          return textResult({ results: await runBatch(ctx, caller, calls as { operationId: string; input?: unknown }[]) });
        }
        default: {
          const tool = tools.get(name);
          if (!tool) throw new McpError(ErrorCode.InvalidParams, `no tool ${JSON.stringify(name.slice(0, 100))}`);
          return textResult(await invoke(tool.operation, args));
        }
      }
    } catch (err) {
      if (err instanceof McpError) throw err;
      return errorResult(err);
    }
  });
  return server;
}

/** Request headers for the web Request: no HTTP/2 pseudo-headers, nothing hop-by-hop. */
function webHeaders(raw: Record<string, string | string[] | undefined>): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    if (name.startsWith(':') || value === undefined || /^(connection|keep-alive|transfer-encoding|upgrade|host|te)$/i.test(name)) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  return headers;
}

export async function handleMcp(ctx: RequestContext, version: string): Promise<void> {
  const caller = await ctx.caller();
  const method = ctx.req.method ?? 'GET';
  const body = method === 'POST' ? await readBody(ctx.req, ctx.limits.maxBodyBytes) : undefined;
  const request = new Request('https://node.invalid/mcp', {
    method,
    headers: webHeaders(ctx.req.headers),
    ...(body !== undefined ? { body: new Uint8Array(body) } : {}),
    signal: ctx.signal,
  });
  const server = mcpServer(ctx, caller, version);
  const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true, maxRequestBodySize: Math.max(1, ctx.limits.maxBodyBytes) });
  try {
    await server.connect(transport);
    const response = await transport.handleRequest(request);
    const headers: Record<string, string> = { 'cache-control': 'no-store' };
    response.headers.forEach((value, name) => {
      if (!/^(connection|keep-alive|transfer-encoding)$/i.test(name)) headers[name] = value;
    });
    const text = response.body ? Buffer.from(await response.arrayBuffer()) : Buffer.alloc(0);
    if (response.status !== 202 || text.length > 0) headers['content-length'] = String(text.length);
    (ctx.res as ServerResponse).writeHead(response.status, headers);
    ctx.res.end(text);
  } finally {
    await transport.close().catch(() => {});
    await server.close().catch(() => {});
  }
}
