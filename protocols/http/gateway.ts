// The REST gateway: a view on the node's one catalogue (services.operations). Each route only turns
// HTTP into `invoke`/`subscribe`/`list`/`get`; existence, visibility, scopes, input schemas,
// deadlines and error codes are the catalogue's. Anonymous callers see only what they may call.
//
//   GET  /search?q=TEXT            operations matching TEXT (name or description)
//   GET  /schema/{ns}/{op}         one operation's JSON schemas
//   POST /call   {operationId, input, deadlineMs?}      → {output}
//   POST /batch  {calls: [{operationId, input}, …]}     → {results: [{output} | {error}, …]} in order
//   GET  /subscribe?operationId=ns/op&input=JSON        → Server-Sent Events: output…, completed | error
//   POST /ops/{ns}/{op}  body = input                   → {output} (a subscription answers with events)
import { Type as T, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { CallError } from '../../operations/errors.ts';
import { normalizeOperationName } from '../../operations/catalogue.ts';
import { mayCall, type HttpCaller } from './auth.ts';
import { parseJsonBody, readBody } from './body.ts';
import { inputFromJson, toJsonSchema, type JsonObject } from './jsonSchema.ts';
import { HttpProblem, httpProblem, problemOf, type Problem } from './problem.ts';
import { EventStream, sendJson, sendProblem } from './respond.ts';
import type { RequestContext } from './context.ts';
import type { HttpMount } from '../httpMount.ts';

const OperationId = T.String({ minLength: 1, maxLength: 256 });
const CallBody = T.Object({
  operationId: OperationId,
  input: T.Optional(T.Unknown()),
  deadlineMs: T.Optional(T.Number({ exclusiveMinimum: 0 })),
});
const BatchBody = T.Object({
  calls: T.Array(T.Object({ operationId: OperationId, input: T.Optional(T.Unknown()), deadlineMs: T.Optional(T.Number({ exclusiveMinimum: 0 })) })),
});
const callBodyCheck = TypeCompiler.Compile(CallBody);
const batchBodyCheck = TypeCompiler.Compile(BatchBody);

/** The body must match the route's schema; 400 naming the first field that does not. */
function checked<S extends typeof CallBody | typeof BatchBody>(check: ReturnType<typeof TypeCompiler.Compile<S>>, body: unknown, what: string): Static<S> {
  if (check.Check(body)) return body as Static<S>;
  const errors = [...check.Errors(body)].slice(0, 10).map((e) => ({ path: e.path, message: e.message }));
  const first = errors[0];
  throw httpProblem(400, 'INVALID_INPUT', `${what}: body${first?.path ?? ''}: ${first?.message ?? 'does not match'}`, { details: { path: first?.path ?? '', errors } });
}

/** The operation's input from JSON (bytes as base64), or the JSON itself for an unknown operation (the catalogue answers). */
function decodeInput(ctx: RequestContext, operationId: string, input: unknown): unknown {
  const spec = ctx.services.operations.get(operationId);
  return spec ? inputFromJson(spec.input, input ?? {}) : (input ?? {});
}

/** One call through the catalogue (counted there, via this ALPN); rejects with a CallError. */
async function invoke(ctx: RequestContext, caller: HttpCaller, operationId: string, input: unknown, deadlineMs?: number): Promise<unknown> {
  const name = normalizeOperationName(operationId);
  return ctx.services.operations.invoke(name, decodeInput(ctx, name, input), caller, {
    signal: ctx.signal,
    via: ctx.info.alpn,
    ...(deadlineMs !== undefined ? { deadlineMs } : {}),
  });
}

/** Reads the deadline header `x-alknet-deadline-ms` (per-operation routes). */
function deadlineHeader(ctx: RequestContext): number | undefined {
  const raw = ctx.req.headers['x-alknet-deadline-ms'];
  if (raw === undefined) return undefined;
  const ms = Number(Array.isArray(raw) ? raw[0] : raw);
  if (!Number.isFinite(ms) || ms <= 0) throw httpProblem(400, 'INVALID_INPUT', 'x-alknet-deadline-ms must be a number of milliseconds above 0');
  return ms;
}

export async function handleIndex(ctx: RequestContext, mounts: readonly HttpMount[] = []): Promise<void> {
  sendJson(ctx.res, 200, {
    nodeId: ctx.services.nodeId,
    links: {
      search: '/search?q=',
      schema: '/schema/{ns}/{op}',
      call: 'POST /call',
      batch: 'POST /batch',
      subscribe: '/subscribe?operationId=ns/op&input=JSON',
      operation: 'POST /ops/{ns}/{op}',
      openapi: '/openapi.json',
      mcp: '/mcp',
      metrics: '/metrics',
      debug: '/debug',
    },
    ...(mounts.length > 0
      ? { mounts: mounts.map((m) => ({ path: typeof m.path === 'string' ? m.path : '(pattern)', methods: m.methods, description: m.description })) }
      : {}),
  });
}

export async function handleSearch(ctx: RequestContext): Promise<void> {
  const caller = await ctx.caller();
  const q = (ctx.url.searchParams.get('q') ?? '').trim().toLowerCase().slice(0, 200);
  const limit = Math.min(500, Math.max(1, Number(ctx.url.searchParams.get('limit') ?? 100) || 100));
  const words = q.split(/\s+/).filter(Boolean);
  const operations = ctx.services.operations
    .list()
    .filter((op) => mayCall(caller, op.scopes))
    .filter((op) => words.every((w) => op.name.toLowerCase().includes(w) || (op.description ?? '').toLowerCase().includes(w)))
    .slice(0, limit)
    .map((op) => ({ name: op.name, type: op.type, scopes: op.scopes, ...(op.description !== undefined ? { description: op.description } : {}) }));
  sendJson(ctx.res, 200, { operations });
}

export async function handleSchema(ctx: RequestContext, name: string): Promise<void> {
  const caller = await ctx.caller();
  const schema = await ctx.services.operations.invoke('services/schema', { name }, caller, { signal: ctx.signal });
  // The JSON form of bytes is base64: say so in the schemas too (jsonSchema.ts).
  const spec = ctx.services.operations.get(name)!;
  const components = new Map<string, JsonObject>();
  const input = toJsonSchema(spec.input, components, '#/$defs/');
  const output = toJsonSchema(spec.output, components, '#/$defs/');
  const defs = components.size ? { $defs: Object.fromEntries(components) } : {};
  sendJson(ctx.res, 200, { ...(schema as object), input: { ...input, ...defs }, output: { ...output, ...defs } });
}

export async function handleCall(ctx: RequestContext): Promise<void> {
  const caller = await ctx.caller();
  const body = checked(callBodyCheck, parseJsonBody(ctx.req, await readBody(ctx.req, ctx.limits.maxBodyBytes)), 'POST /call');
  const output = await invoke(ctx, caller, body.operationId, body.input, body.deadlineMs);
  sendJson(ctx.res, 200, { output });
}

export async function handleBatch(ctx: RequestContext): Promise<void> {
  const caller = await ctx.caller();
  const body = checked(batchBodyCheck, parseJsonBody(ctx.req, await readBody(ctx.req, ctx.limits.maxBodyBytes)), 'POST /batch');
  if (body.calls.length > ctx.limits.maxBatchCalls) {
    throw httpProblem(413, 'INVALID_INPUT', `a batch of ${body.calls.length} calls is above the limit of ${ctx.limits.maxBatchCalls}`, { details: { maxBatchCalls: ctx.limits.maxBatchCalls } });
  }
  const results = await runBatch(ctx, caller, body.calls);
  sendJson(ctx.res, 200, { results });
}

export type BatchResult = { output: unknown } | { error: Problem };

/** Runs the calls concurrently; results in the order of the calls, each an output or a problem. */
export function runBatch(ctx: RequestContext, caller: HttpCaller, calls: readonly { operationId: string; input?: unknown; deadlineMs?: number }[]): Promise<BatchResult[]> {
  return Promise.all(
    calls.map((call) =>
      invoke(ctx, caller, call.operationId, call.input, call.deadlineMs).then(
        (output): BatchResult => ({ output }),
        (err: unknown): BatchResult => ({ error: problemOf(err, caller.authenticated) }),
      ),
    ),
  );
}

export async function handleSubscribe(ctx: RequestContext): Promise<void> {
  const operationId = ctx.url.searchParams.get('operationId') ?? ctx.url.searchParams.get('op');
  if (!operationId) throw httpProblem(400, 'INVALID_INPUT', 'GET /subscribe needs ?operationId=ns/op (and &input=JSON)');
  const rawInput = ctx.url.searchParams.get('input');
  let input: unknown = {};
  if (rawInput !== null && rawInput !== '') {
    try {
      input = JSON.parse(rawInput);
    } catch (err) {
      throw httpProblem(400, 'INVALID_INPUT', `the input parameter is not JSON: ${(err as Error).message.slice(0, 200)}`);
    }
  }
  await streamSubscription(ctx, normalizeOperationName(operationId), input);
}

/**
 * A subscription as Server-Sent Events: `output` per value, then `completed`, or `error` with a
 * problem. Errors before the first value (unknown operation, scope, input) are a plain problem
 * answer with its status instead. A slow reader holds back the subscription (back-pressure).
 */
async function streamSubscription(ctx: RequestContext, name: string, input: unknown): Promise<void> {
  const caller = await ctx.caller();
  if (ctx.info.eventStreams >= ctx.limits.maxEventStreamsPerConnection) {
    throw httpProblem(429, 'BUSY', `at most ${ctx.limits.maxEventStreamsPerConnection} event streams per connection`);
  }
  const iterator = ctx.services.operations.subscribe(name, decodeInput(ctx, name, input), caller, { signal: ctx.signal, via: ctx.info.alpn })[Symbol.asyncIterator]();
  const first = await iterator.next();
  ctx.info.eventStreams++;
  const stream = new EventStream(ctx.res);
  stream.onClose(() => {
    ctx.info.eventStreams--;
    if (iterator.return) Promise.resolve(iterator.return()).catch(() => {});
  });
  try {
    for (let step = first; !step.done; step = await iterator.next()) {
      if (stream.closed) return;
      await stream.send('output', step.value);
    }
    await stream.send('completed', {});
  } catch (err) {
    if (!stream.closed) await stream.send('error', problemOf(err, caller.authenticated));
  } finally {
    stream.close();
  }
}

export async function handleOperation(ctx: RequestContext, name: string): Promise<void> {
  const caller = await ctx.caller();
  const deadlineMs = deadlineHeader(ctx);
  const input = parseJsonBody(ctx.req, await readBody(ctx.req, ctx.limits.maxBodyBytes), { emptyAs: {} });
  const spec = ctx.services.operations.get(name);
  if (spec?.type === 'subscription' && spec.visibility === 'external') {
    await streamSubscription(ctx, spec.name, input);
    return;
  }
  const output = await invoke(ctx, caller, name, input, deadlineMs);
  sendJson(ctx.res, 200, { output });
}

/** A problem for anything a handler threw. */
export function answerError(ctx: RequestContext, err: unknown, authenticated: boolean): void {
  if (err instanceof HttpProblem) return sendProblem(ctx.res, err.problem, err.headers);
  const p = problemOf(err, authenticated);
  sendProblem(ctx.res, p, p.status === 401 ? { 'www-authenticate': 'Bearer realm="alknet"' } : {});
}
