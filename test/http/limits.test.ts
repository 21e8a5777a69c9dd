// Bad input and limits on the real node: bodies over the limit (413), slow heads (408), huge
// heads (431), malformed request lines and headers, request smuggling (Content-Length with
// Transfer-Encoding), an h2 client that opens streams and reads nothing, fuzzed request heads and
// fuzzed values for our own parsers. Always the right status or a closed connection, never a
// crash, and the next client is served. Also alknet/http: HTTP/1.1 on QUIC streams.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { DEFAULT_CONFIG } from '../../supervisors/config.ts';
import { dial } from '../../actors/listener/dial.ts';
import { newKeys } from '../listener/fixtures.ts';
import { skipUnlessTool } from '../support/tools.ts';
import { bearerToken } from '../../protocols/http/auth.ts';
import { inputFromJson } from '../../protocols/http/jsonSchema.ts';
import { HttpProblem } from '../../protocols/http/problem.ts';
import { Type } from '@sinclair/typebox';
import { curl, exchange, postJson, rawTls, startHttpNode, type HttpNode } from './helpers.ts';

const noCurl = skipUnlessTool('curl', 'curl');
let h: HttpNode;
/** Small limits, so that "far over the limit" and "slow" are quick to reach. */
const SMALL_BODY = 64 * 1024;

before(async () => {
  const config = structuredClone(DEFAULT_CONFIG);
  config.http.maxBodyBytes = SMALL_BODY;
  config.http.headersTimeoutMs = 1_000;
  h = await startHttpNode({ config });
});
after(async () => {
  await h?.stop();
});

async function stillServes(): Promise<void> {
  const socket = await rawTls(h);
  const body = JSON.stringify({ operationId: 'test/echo', input: { text: 'alive' } });
  const { text } = await exchange(socket, `POST /call HTTP/1.1\r\nHost: n\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
  assert.match(text, /^HTTP\/1\.1 200 /);
  assert.match(text, /"alive"/);
}

test('a body over the limit is 413, over HTTP/1.1 and h2, even far over it; then others are served', { skip: noCurl }, async () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-big-')), 'body.json');
  fs.writeFileSync(file, JSON.stringify({ operationId: 'test/echo', input: { text: 'x'.repeat(SMALL_BODY * 80) } }));
  for (const version of ['--http1.1', '--http2']) {
    const r = await curl(h, '/call', [version, '-X', 'POST', '-H', 'content-type: application/json', '--data-binary', `@${file}`]);
    assert.equal(r.status, 413, `${version}: ${r.status} ${r.stderr} ${r.body.slice(0, 200)}`);
    assert.equal(r.json().code, 'INVALID_INPUT');
    assert.match(r.json().detail, /limit/);
  }
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
  const justUnder = await curl(h, '/call', postJson({ operationId: 'test/echo', input: { text: 'y'.repeat(SMALL_BODY - 100) } }));
  assert.equal(justUnder.status, 200);
  // Chunked (no Content-Length): counted as the bytes arrive.
  const socket = await rawTls(h);
  const chunk = 'z'.repeat(32 * 1024);
  let chunked = 'POST /call HTTP/1.1\r\nHost: n\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n';
  for (let i = 0; i < 4; i++) chunked += `${chunk.length.toString(16)}\r\n${chunk}\r\n`;
  const { text, closed } = await exchange(socket, chunked);
  assert.match(text, /^HTTP\/1\.1 413 /);
  assert.ok(closed, 'the connection is closed after a body it stopped reading');
  await stillServes();
});

test('slow headers: a head not complete in time is answered 408 and the connection closed', async () => {
  const socket = await rawTls(h);
  const { text, closed } = await exchange(socket, 'GET /search HTTP/1.1\r\nHost: n\r\nX-Slow: ', 20_000);
  assert.match(text, /^HTTP\/1\.1 408 /);
  assert.ok(closed);
  await stillServes();
});

test('a head over the header limit is 431', async () => {
  const socket = await rawTls(h);
  const { text } = await exchange(socket, `GET / HTTP/1.1\r\nHost: n\r\nX-Big: ${'b'.repeat(32 * 1024)}\r\n\r\n`);
  assert.match(text, /^HTTP\/1\.1 431 /);
  await stillServes();
});

test('malformed request lines and headers are 400 (or a close), never a crash', async () => {
  const bad = [
    'GARBAGE\r\n\r\n',
    'GET\r\n\r\n',
    'GET / HTTP/1.1 extra\r\nHost: n\r\n\r\n',
    'GET / HTTP/9.9\r\nHost: n\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: n\r\nNo colon here\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: n\r\nX-Nul: a\u0000b\r\n\r\n',
    'GET / HTTP/1.1\r\nHo st: n\r\n\r\n',
    'GET / HTTP/1.1\r\n\r\n', // HTTP/1.1 without Host
    'POST /call HTTP/1.1\r\nHost: n\r\nContent-Length: -5\r\n\r\n',
    'POST /call HTTP/1.1\r\nHost: n\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
    'POST /call HTTP/1.1\r\nHost: n\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n',
    'GET /%E0%A4%A HTTP/1.1\r\nHost: n\r\n\r\n',
  ];
  for (const request of bad) {
    const socket = await rawTls(h);
    const { text, closed } = await exchange(socket, request);
    assert.ok(/^HTTP\/1\.1 (400|404|505) /.test(text) || (text === '' && closed), `${JSON.stringify(request)} → ${JSON.stringify(text.slice(0, 80))}`);
    if (text) assert.ok(!/^HTTP\/1\.1 (200|500) /.test(text));
  }
  await stillServes();
});

test('request smuggling: Content-Length with Transfer-Encoding is refused (400) and nothing after it runs', async () => {
  const smuggled = [
    'POST /call HTTP/1.1\r\nHost: n\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /metrics HTTP/1.1\r\nHost: n\r\n\r\n',
    'POST /call HTTP/1.1\r\nHost: n\r\nTransfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: n\r\n\r\n',
    'POST /call HTTP/1.1\r\nHost: n\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n',
    'POST /call HTTP/1.1\r\nHost: n\r\nTransfer-Encoding : chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n',
  ];
  for (const request of smuggled) {
    const socket = await rawTls(h);
    const { text, closed } = await exchange(socket, request);
    assert.match(text, /^HTTP\/1\.1 400 /, JSON.stringify(request));
    assert.equal(text.match(/HTTP\/1\.1 /g)?.length, 1, 'exactly one answer: the smuggled request never ran');
    assert.ok(closed);
  }
  await stillServes();
});

test('fuzzed request heads: always an HTTP status or a close, and the node keeps serving', async () => {
  const token = fc.constantFrom('GET', 'POST', 'PUT', 'X', '', ' ', '/', '/call', 'HTTP/1.1', 'HTTP/1.0', '\r\n', ':', 'Host: n', 'Content-Length: 3', 'Transfer-Encoding: chunked', '\u0000', '\t', '%zz', 'é');
  await fc.assert(
    fc.asyncProperty(fc.array(token, { minLength: 1, maxLength: 20 }), async (parts) => {
      const socket = await rawTls(h);
      const { text, closed } = await exchange(socket, `${parts.join(' ')}\r\n\r\n`, 3_000);
      if (!closed) socket.destroy();
      return text === '' || /^HTTP\/1\.1 \d{3} /.test(text);
    }),
    { numRuns: 40 },
  );
  await stillServes();
});

test('our own parsers, fuzzed: the Authorization header and the JSON → input mapping never throw anything but a problem', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 700 }), fc.constant('Bearer alk_abc'), fc.string().map((s) => `Bearer ${s}`)), (header) => {
      try {
        const token = bearerToken(header);
        return typeof token === 'string' && token.length < 600;
      } catch (err) {
        return err instanceof HttpProblem && err.problem.status === 401;
      }
    }),
  );
  const schema = Type.Object({ a: Type.Uint8Array(), b: Type.Array(Type.Union([Type.Uint8Array(), Type.String()])), c: Type.Optional(Type.Object({ d: Type.Uint8Array() })) });
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
      inputFromJson(schema, value);
      return true;
    }),
  );
  const decoded = inputFromJson(schema, { a: 'AQID', b: ['AQ==', 'not base64!'], c: { d: '' } }) as { a: Uint8Array; b: unknown[]; c: { d: Uint8Array } };
  assert.deepEqual([...decoded.a], [1, 2, 3]);
  assert.ok(decoded.b[0] instanceof Uint8Array);
  assert.equal(decoded.b[1], 'not base64!');
  assert.equal(decoded.c.d.byteLength, 0);
});

test('an h2 client that opens streams and reads nothing holds only itself; others are served', async () => {
  const greedy = http2.connect(h.base, { rejectUnauthorized: false, settings: { initialWindowSize: 0 } });
  greedy.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    greedy.once('connect', () => resolve());
    greedy.once('error', reject);
  });
  const body = JSON.stringify({ operationId: 'test/echo', input: { text: 'w'.repeat(60_000) } });
  const streams: http2.ClientHttp2Stream[] = [];
  for (let i = 0; i < 150; i++) {
    const s = greedy.request({ ':method': 'POST', ':path': '/call', 'content-type': 'application/json' });
    s.on('error', () => {});
    s.pause();
    s.end(body);
    streams.push(s);
  }
  // Another client, meanwhile: served in full.
  const r = await curl(h, '/call', ['--http2', ...postJson({ operationId: 'test/echo', input: { text: 'me too' } })]);
  assert.equal(r.status, 200, r.stderr);
  assert.deepEqual(r.json(), { output: { text: 'me too' } });
  greedy.destroy();
  await stillServes();
});

test('alknet/http on QUIC: each stream carries HTTP/1.1 exchanges (keep-alive, pipelined)', async () => {
  const conn = await dial(`${h.node.nodeId}@${h.node.address}`, { alpn: 'alknet/http', transport: 'quic', identity: newKeys() });
  try {
    const stream = await conn.openStream();
    const body = (text: string) => JSON.stringify({ operationId: 'test/echo', input: { text } });
    const request = (text: string, close = false) =>
      `POST /call HTTP/1.1\r\nHost: n\r\nContent-Type: application/json\r\nContent-Length: ${body(text).length}\r\n${close ? 'Connection: close\r\n' : ''}\r\n${body(text)}`;
    const answer = await new Promise<string>((resolve) => {
      let text = '';
      const timer = setTimeout(() => resolve(text), 15_000);
      stream.on('data', (d: Buffer) => (text += d.toString()));
      stream.on('end', () => {
        clearTimeout(timer);
        resolve(text);
      });
      stream.on('error', () => resolve(text));
      stream.write(request('one') + request('two', true));
    });
    const statuses = answer.match(/HTTP\/1\.1 \d{3}/g);
    assert.deepEqual(statuses, ['HTTP/1.1 200', 'HTTP/1.1 200']);
    assert.ok(answer.indexOf('"one"') < answer.indexOf('"two"'), 'answers in order');
    // A second stream of the same connection is a second HTTP connection.
    const second = await conn.openStream();
    const info = await new Promise<string>((resolve) => {
      let text = '';
      second.on('data', (d: Buffer) => (text += d.toString()));
      second.on('end', () => resolve(text));
      second.on('error', () => resolve(text));
      second.write('GET /search?q=echo HTTP/1.1\r\nHost: n\r\nConnection: close\r\n\r\n');
    });
    assert.match(info, /^HTTP\/1\.1 200 /);
    assert.match(info, /test\/echo/);
  } finally {
    await conn.close('done');
  }
});
