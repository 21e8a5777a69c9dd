// The REST gateway over the catalogue, with curl: search, schema, call, batch, subscribe (SSE),
// per-operation routes, bytes as base64, and the OpenAPI 3.1 document (validated, every external
// operation listed for an admin, only public ones for anonymous callers).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Validator } from '@seriousme/openapi-schema-validator';
import { addToken } from '../../actors/peers/peersFile.ts';
import { skipUnlessTool } from '../support/tools.ts';
import { bearer, curl, postJson, startHttpNode, type HttpNode } from './helpers.ts';

const noCurl = skipUnlessTool('curl', 'curl');
let h: HttpNode;
let everything: string;

before(async () => {
  if (noCurl) return;
  h = await startHttpNode();
  everything = addToken(h.home.home, 'all', ['*']).token;
});
after(async () => {
  await h?.stop();
});

/** Server-Sent Events in a body: [{event, data}]. */
function events(body: string): { event: string; data: unknown }[] {
  return body
    .split('\n\n')
    .filter((block) => /^event: /m.test(block))
    .map((block) => ({ event: /^event: (.*)$/m.exec(block)![1]!, data: JSON.parse(/^data: (.*)$/m.exec(block)![1]!) }));
}

test('GET /search finds operations by name or description, and only those the caller may call', { skip: noCurl }, async () => {
  const anonymous = await curl(h, '/search?q=test');
  assert.equal(anonymous.status, 200);
  const names = anonymous.json().operations.map((o: { name: string }) => o.name);
  assert.ok(names.includes('test/echo') && names.includes('test/count'));
  assert.ok(!names.includes('test/secret'), 'anonymous: not what needs a scope');
  assert.ok(!names.includes('test/internal'), 'never internal ones');
  const admin = await curl(h, '/search?q=test', bearer(everything));
  assert.ok(admin.json().operations.some((o: { name: string }) => o.name === 'test/secret'));
  const described = await curl(h, '/search?q=reversed%20bytes');
  assert.deepEqual(described.json().operations.map((o: { name: string }) => o.name), ['test/bytes']);
  const none = await curl(h, '/search?q=zzzz-nothing');
  assert.deepEqual(none.json(), { operations: [] });
});

test('GET /schema/{ns}/{op}: the JSON schemas, bytes as base64 strings; unknown → 404 problem', { skip: noCurl }, async () => {
  const r = await curl(h, '/schema/test/bytes', ['--http2']);
  assert.equal(r.status, 200, r.body);
  const schema = r.json();
  assert.equal(schema.name, 'test/bytes');
  assert.deepEqual(schema.input.properties.data.type, 'string');
  assert.equal(schema.input.properties.data.contentEncoding, 'base64');
  const missing = await curl(h, '/schema/no/such');
  assert.equal(missing.status, 404);
  assert.equal(missing.json().code, 'NOT_FOUND');
});

test('POST /ops/{ns}/{op}: the body is the input; bytes go in and out as base64', { skip: noCurl }, async () => {
  const r = await curl(h, '/ops/test/bytes', postJson({ data: Buffer.from([1, 2, 3]).toString('base64') }));
  assert.equal(r.status, 200, r.body);
  assert.deepEqual(r.json(), { output: { length: 3, reversed: Buffer.from([3, 2, 1]).toString('base64') } });
  const wrong = await curl(h, '/ops/test/echo', postJson({ text: 'x', n: 'not a number' }));
  assert.equal(wrong.status, 400);
  assert.match(wrong.json().detail, /input\/n/);
  const extra = await curl(h, '/ops/test/echo', postJson({ text: 'x', unexpected: true }));
  assert.equal(extra.status, 400, 'additional properties are refused where the schema says so');
  const deadline = await curl(h, '/ops/test/echo', postJson({ text: 'x' }, ['-H', 'x-alknet-deadline-ms: nope']));
  assert.equal(deadline.status, 400);
  const type = await curl(h, '/ops/test/echo', ['-X', 'POST', '-H', 'content-type: text/plain', '--data-binary', '{"text":"x"}']);
  assert.equal(type.status, 415);
});

test('POST /batch: several calls, results in order, each an output or a problem', { skip: noCurl }, async () => {
  const calls = [
    { operationId: 'test/echo', input: { text: 'one' } },
    { operationId: 'no/such' },
    { operationId: 'test/secret' },
    { operationId: '/test/echo', input: { text: 'four' } },
  ];
  const r = await curl(h, '/batch', ['--http2', ...postJson({ calls })]);
  assert.equal(r.status, 200, r.body);
  const { results } = r.json();
  assert.equal(results.length, 4);
  assert.deepEqual(results[0], { output: { text: 'one' } });
  assert.equal(results[1].error.code, 'NOT_FOUND');
  assert.equal(results[2].error.status, 401);
  assert.deepEqual(results[3], { output: { text: 'four' } });
  const tooMany = await curl(h, '/batch', postJson({ calls: Array.from({ length: 65 }, () => calls[0]) }));
  assert.equal(tooMany.status, 413);
  assert.match(tooMany.json().detail, /above the limit of 64/);
});

test('GET /subscribe: Server-Sent Events, outputs then completed; errors before the first are a status', { skip: noCurl }, async () => {
  for (const version of ['--http1.1', '--http2']) {
    const r = await curl(h, `/subscribe?operationId=test/count&input=${encodeURIComponent(JSON.stringify({ to: 3 }))}`, [version]);
    assert.equal(r.status, 200, r.body);
    assert.match(r.headers['content-type'] ?? '', /^text\/event-stream/);
    assert.deepEqual(events(r.body), [
      { event: 'output', data: { n: 1 } },
      { event: 'output', data: { n: 2 } },
      { event: 'output', data: { n: 3 } },
      { event: 'completed', data: {} },
    ]);
  }
  const viaOps = await curl(h, '/ops/test/count', postJson({ to: 2 }));
  assert.deepEqual(events(viaOps.body).map((e) => e.event), ['output', 'output', 'completed']);
  const bad = await curl(h, `/subscribe?operationId=test/count&input=${encodeURIComponent('{"to": 0}')}`);
  assert.equal(bad.status, 400);
  assert.match(bad.json().detail, /input\/to/);
  const notSub = await curl(h, `/subscribe?operationId=test/echo&input=${encodeURIComponent('{"text":"x"}')}`);
  assert.equal(notSub.status, 400);
  const noOp = await curl(h, '/subscribe');
  assert.equal(noOp.status, 400);
});

test('GET /openapi.json: a valid OpenAPI 3.1 document listing every external operation (admin), public ones only (anonymous)', { skip: noCurl }, async () => {
  const r = await curl(h, '/openapi.json', ['--http2', ...bearer(everything)]);
  assert.equal(r.status, 200);
  const doc = r.json();
  assert.equal(doc.openapi, '3.1.0');
  const validator = new Validator();
  const result = await validator.validate(doc);
  assert.equal(result.valid, true, JSON.stringify(result.errors, null, 1)?.slice(0, 3000));
  assert.doesNotThrow(() => validator.resolveRefs(), 'every $ref resolves');
  // The validator does not look inside schemas: every `type` must be a JSON Schema type (no TypeBox "Uint8Array").
  const JSON_TYPES = new Set(['object', 'array', 'string', 'number', 'integer', 'boolean', 'null']);
  const badTypes: string[] = [];
  const walk = (node: unknown, where: string): void => {
    if (Array.isArray(node)) node.forEach((n, i) => walk(n, `${where}/${i}`));
    else if (node && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        if (k === 'type' && typeof v === 'string' && where.includes('schema') && !JSON_TYPES.has(v) && !['http', 'mutualTLS'].includes(v)) badTypes.push(`${where}: ${v}`);
        walk(v, `${where}/${k}`);
      }
    }
  };
  walk(r.json(), ''); // a fresh copy: resolveRefs made the recursive schema a cycle
  assert.deepEqual(badTypes, []);
  assert.equal(doc.paths['/ops/tensor/create'] ? 1 : 0, 0, 'no tensor service in this node');
  assert.equal(doc.paths['/ops/test/bytes'].post.requestBody.content['application/json'].schema.properties.data.contentEncoding, 'base64');
  const external = h.node.operations.list().map((o) => o.name);
  assert.ok(external.length > 10);
  for (const name of external) assert.ok(doc.paths[`/ops/${name}`]?.post, `${name} is in the document`);
  assert.ok(!doc.paths['/ops/test/internal'], 'internal operations are not');
  // The recursive node/actors schema became a component.
  assert.ok(Object.keys(doc.components.schemas).some((k) => k.includes('ActorTreeNode')));

  const anonymous = (await curl(h, '/openapi.json')).json();
  assert.ok((await new Validator().validate(anonymous)).valid);
  assert.ok(anonymous.paths['/ops/test/echo'] && anonymous.paths['/ops/node/info']);
  assert.ok(!anonymous.paths['/ops/test/secret'] && !anonymous.paths['/ops/node/actors'], 'anonymous callers see only public operations');
});
