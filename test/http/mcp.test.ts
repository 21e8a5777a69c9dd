// The MCP endpoint with the SDK's own client over Streamable HTTP: it lists the tools (search,
// schema, call, batch and one per operation the caller may use) and calls them; bad messages get
// the right status and never hurt other clients.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { addToken } from '../../actors/peers/peersFile.ts';
import { skipUnlessTool } from '../support/tools.ts';
import { bearer, curl, pinnedFetch, postJson, startHttpNode, type HttpNode } from './helpers.ts';

let h: HttpNode;
let admin: string;
const noCurl = skipUnlessTool('curl', 'curl');

before(async () => {
  h = await startHttpNode();
  admin = addToken(h.home.home, 'mcp', ['admin', 'secret']).token;
});
after(async () => {
  await h?.stop();
});

async function connectClient(token?: string): Promise<Client> {
  const client = new Client({ name: 'alknet-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${h.base}/mcp`), {
    fetch: pinnedFetch(h),
    ...(token ? { requestInit: { headers: { authorization: `Bearer ${token}` } } } : {}),
  });
  await client.connect(transport);
  return client;
}

function text(result: unknown): string {
  const content = (result as { content: { type: string; text: string }[] }).content;
  return content.map((c) => c.text).join('');
}

test('the SDK client lists the tools and calls one (with a token: scoped tools too)', async () => {
  const client = await connectClient(admin);
  try {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    for (const name of ['search', 'schema', 'call', 'batch', 'test_echo', 'test_secret', 'node_info', 'node_actors', 'test_bytes']) assert.ok(names.includes(name), `${name} in ${names.join(',')}`);
    assert.ok(!names.includes('test_count'), 'subscriptions are not tools');
    assert.ok(!names.includes('test_internal'));
    const echo = tools.find((t) => t.name === 'test_echo')!;
    assert.match(echo.description ?? '', /Echoes its text/);
    assert.equal(echo.inputSchema.type, 'object');
    assert.ok(echo.inputSchema.properties && 'text' in echo.inputSchema.properties);

    const result = await client.callTool({ name: 'test_echo', arguments: { text: 'over mcp' } });
    assert.ok(!result.isError);
    assert.deepEqual(JSON.parse(text(result)), { text: 'over mcp' });
    const secret = await client.callTool({ name: 'test_secret', arguments: {} });
    assert.deepEqual(JSON.parse(text(secret)), { ok: true });
    const viaCall = await client.callTool({ name: 'call', arguments: { operationId: 'node/info', input: {} } });
    assert.equal(JSON.parse(text(viaCall)).nodeId, h.node.nodeId);
    const batch = await client.callTool({ name: 'batch', arguments: { calls: [{ operationId: 'test/echo', input: { text: 'a' } }, { operationId: 'no/such' }] } });
    const { results } = JSON.parse(text(batch));
    assert.deepEqual(results[0], { output: { text: 'a' } });
    assert.equal(results[1].error.code, 'NOT_FOUND');
    const search = await client.callTool({ name: 'search', arguments: { query: 'echoes' } });
    assert.deepEqual(JSON.parse(text(search)).operations.map((o: { name: string }) => o.name), ['test/echo']);
    const schema = await client.callTool({ name: 'schema', arguments: { operationId: 'test/echo' } });
    assert.equal(JSON.parse(text(schema)).name, 'test/echo');
    const invalid = await client.callTool({ name: 'test_echo', arguments: { text: 5 } });
    assert.equal(invalid.isError, true);
    assert.match(text(invalid), /^INVALID_INPUT: test\/echo: input\/text/);
  } finally {
    await client.close();
  }
});

test('anonymous MCP clients see only public tools; a scoped one is FORBIDDEN; a bad token is a 401', async () => {
  const client = await connectClient();
  try {
    const names = (await client.listTools()).tools.map((t) => t.name);
    assert.ok(names.includes('test_echo') && names.includes('node_info'));
    assert.ok(!names.includes('test_secret') && !names.includes('node_actors'));
    const refused = await client.callTool({ name: 'call', arguments: { operationId: 'test/secret' } });
    assert.equal(refused.isError, true);
    assert.match(text(refused), /^FORBIDDEN/);
  } finally {
    await client.close();
  }
  await assert.rejects(connectClient('alk_' + 'Z'.repeat(43)), /401|not recognised|Unauthorized/i);
});

test('what is not an MCP message gets a status, never a crash; other clients are served', { skip: noCurl }, async () => {
  const accept = ['-H', 'accept: application/json, text/event-stream'];
  const notJson = await curl(h, '/mcp', postJson('{"jsonrpc": "2.0", ', accept));
  assert.equal(notJson.status, 400);
  assert.equal(notJson.json().error.code, -32700);
  const notRpc = await curl(h, '/mcp', postJson({ hello: 'world' }, accept));
  assert.equal(notRpc.status, 400);
  assert.ok(notRpc.json().error, notRpc.body);
  const array = await curl(h, '/mcp', postJson([1, 2, 3], accept));
  assert.equal(array.status, 400);
  const wrongAccept = await curl(h, '/mcp', postJson({ jsonrpc: '2.0', id: 1, method: 'tools/list' }, ['-H', 'accept: text/html']));
  assert.equal(wrongAccept.status, 406);
  // (h2 would refuse the lying Content-Length itself: PROTOCOL_ERROR; test/http/limits.test.ts sends real bytes)
  const big = await curl(h, '/mcp', ['--http1.1', ...postJson('x', accept), '-H', `content-length: ${17 * 1024 * 1024}`], { timeoutMs: 20_000 });
  assert.equal(big.status, 413, big.body);
  assert.equal(big.json().code, 'INVALID_INPUT');
  const badAuth = await curl(h, '/mcp', postJson({ jsonrpc: '2.0', id: 1, method: 'tools/list' }, [...accept, ...bearer('alk_' + 'Y'.repeat(43))]));
  assert.equal(badAuth.status, 401);
  const client = await connectClient(admin);
  try {
    const r = await client.callTool({ name: 'test_echo', arguments: { text: 'still here' } });
    assert.deepEqual(JSON.parse(text(r)), { text: 'still here' });
  } finally {
    await client.close();
  }
});
