// GET /metrics: Prometheus text from prom-client, scope "admin": connections per ALPN, calls per
// operation, code and front end (alknet/call too), restarts per supervisor, bus mailbox depth, event-loop lag.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { addToken } from '../../actors/peers/peersFile.ts';
import { dial } from '../../actors/listener/dial.ts';
import { newKeys } from '../listener/fixtures.ts';
import { connect } from '../../protocols/call/connect.ts';
import { crashableEchoProtocol, poll } from '../node/helpers.ts';
import { skipUnlessTool } from '../support/tools.ts';
import { bearer, curl, postJson, startHttpNode, type HttpNode } from './helpers.ts';

const noCurl = skipUnlessTool('curl', 'curl');
let h: HttpNode;
let admin: string;

before(async () => {
  if (noCurl) return;
  h = await startHttpNode({ protocols: [crashableEchoProtocol('test/crash')] });
  admin = addToken(h.home.home, 'ops', ['admin']).token;
});
after(async () => {
  await h?.stop();
});

/** `name{labels} value` lines → a map from `name{labels}` to the value; checks every line's syntax. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/.exec(line);
    assert.ok(m, `not Prometheus text: ${JSON.stringify(line)}`);
    out.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return out;
}

test('/metrics needs admin; shows connections, calls, restarts, mailboxes and event-loop lag', { skip: noCurl }, async () => {
  assert.equal((await curl(h, '/metrics')).status, 401);
  for (const text of ['a', 'b']) await curl(h, '/call', postJson({ operationId: 'test/echo', input: { text } }));
  await curl(h, '/call', postJson({ operationId: 'test/echo', input: {} }));
  // Names a client makes up count under one label, not one series each.
  for (const name of ['made/up1', 'made/up2']) await curl(h, '/call', postJson({ operationId: name, input: {} }));
  // Calls through alknet/call are counted by the same catalogue, under their own front end.
  const client = await connect(`${h.node.nodeId}@${h.node.address}`);
  try {
    assert.deepEqual(await client.call('test/echo', { text: 'c' }), { text: 'c' });
  } finally {
    await client.close();
  }
  // A protocol actor that crashes and is restarted by the protocols supervisor.
  const conn = await dial(`${h.node.nodeId}@${h.node.address}`, { alpn: 'test/crash', transport: 'tls', identity: newKeys() });
  const stream = await conn.openStream();
  stream.on('error', () => {});
  stream.write('crash');
  await conn.closed;
  await poll(() => (h.node.bus.isRegistered('protocol:test/crash') ? true : undefined), 10_000, 'the crashed protocol actor is back');

  const r = await curl(h, '/metrics', ['--http2', ...bearer(admin)]);
  assert.equal(r.status, 200, r.body);
  assert.match(r.headers['content-type'] ?? '', /^text\/plain; version=0\.0\.4/);
  const m = parse(r.body);
  assert.equal(m.get('alknet_calls_total{operation="test/echo",code="OK",via="h2"}'), 2, r.body);
  assert.equal(m.get('alknet_calls_total{operation="test/echo",code="INVALID_INPUT",via="h2"}'), 1);
  assert.equal(m.get('alknet_calls_total{operation="test/echo",code="OK",via="alknet/call"}'), 1);
  assert.equal(m.get('alknet_calls_total{operation="(unknown)",code="NOT_FOUND",via="h2"}'), 2, r.body);
  assert.ok(![...m.keys()].some((k) => k.includes('made/up')), 'no series named by the client');
  assert.ok((m.get('alknet_connections_accepted_total{alpn="h2"}') ?? 0) >= 1, r.body);
  assert.ok((m.get('alknet_connections{alpn="h2"}') ?? 0) >= 1, 'this very request is on an open h2 connection');
  assert.equal(m.get('alknet_connections{alpn="test/crash"}'), 0, 'the crashed connection is closed');
  assert.equal(m.get('alknet_supervisor_restarts_total{supervisor="protocols"}'), 1);
  assert.ok(m.has('alknet_bus_mailbox_depth{actor="fs"}') && m.has('alknet_bus_mailbox_depth{actor="peers"}'));
  assert.ok((m.get('nodejs_eventloop_lag_p99_seconds') ?? -1) >= 0);
  assert.ok((m.get('process_resident_memory_bytes') ?? 0) > 0);
});
