// The HTTP front end served on the node's one port: real curl over TLS with the node's key pinned,
// HTTP/1.1 and h2 (ALPN), POST /call through the catalogue, and who may call what: bearer tokens
// (bad, expired, lacking a scope), mutual TLS with a listed node, anonymous callers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { addPeer, addToken } from '../../actors/peers/peersFile.ts';
import { makeCertificate } from '../../actors/listener/tlsIdentity.ts';
import { nodeIdFromPublicKey } from '../../actors/vault/nodeId.ts';
import { newKeys } from '../listener/fixtures.ts';
import { skipUnlessTool } from '../support/tools.ts';
import { bearer, curl, postJson, spkiPin, startHttpNode, type HttpNode } from './helpers.ts';

const noCurl = skipUnlessTool('curl', 'curl');
let h: HttpNode;
let admin: string;
let secret: string;
let expired: string;

before(async () => {
  if (noCurl) return;
  h = await startHttpNode();
  admin = addToken(h.home.home, 'admin', ['admin']).token;
  secret = addToken(h.home.home, 'secret', ['secret']).token;
  expired = addToken(h.home.home, 'old', ['secret', 'admin'], { expires: new Date(Date.now() - 60_000) }).token;
});
after(async () => {
  await h?.stop();
});

for (const version of ['--http1.1', '--http2'] as const) {
  test(`curl ${version}: POST /call runs an operation; the answer says which protocol carried it`, { skip: noCurl }, async () => {
    const r = await curl(h, '/call', [version, ...postJson({ operationId: 'test/echo', input: { text: 'hello' } })]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.httpVersion, version === '--http2' ? '2' : '1.1');
    assert.match(r.headers['content-type'] ?? '', /^application\/json/);
    assert.deepEqual(r.json(), { output: { text: 'hello' } });
    const info = await curl(h, '/call', [version, ...postJson({ operationId: '/node/info' })]);
    assert.equal(info.json().output.nodeId, h.node.nodeId);
    assert.ok(info.json().output.alpns.includes('h2') && info.json().output.alpns.includes('http/1.1') && info.json().output.alpns.includes('alknet/http'));
  });
}

test('the pin is checked: curl refuses a node whose key is not the pinned one', { skip: noCurl }, async () => {
  const other = spkiPin(nodeIdFromPublicKey(newKeys().publicKey));
  const r = await curl({ ...h, pin: other }, '/');
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /pinned|public key/i);
});

test('errors are application/problem+json naming the call error code', { skip: noCurl }, async () => {
  const missing = await curl(h, '/call', postJson({ operationId: 'no/such' }));
  assert.equal(missing.status, 404);
  assert.match(missing.headers['content-type'] ?? '', /^application\/problem\+json/);
  assert.equal(missing.json().code, 'NOT_FOUND');
  assert.equal(missing.json().status, 404);
  const internal = await curl(h, '/call', postJson({ operationId: 'test/internal' }));
  assert.equal(internal.status, 404, 'internal operations look absent');
  const bad = await curl(h, '/call', ['--http2', ...postJson({ operationId: 'test/echo', input: { text: 7 } })]);
  assert.equal(bad.status, 400);
  assert.equal(bad.json().code, 'INVALID_INPUT');
  assert.match(bad.json().detail, /input\/text/, 'names the field');
  const notJson = await curl(h, '/call', postJson('{"operationId": '));
  assert.equal(notJson.status, 400);
  assert.match(notJson.json().detail, /not JSON/);
  const wrongBody = await curl(h, '/call', postJson({ operation: 'test/echo' }));
  assert.equal(wrongBody.status, 400);
  assert.match(wrongBody.json().detail, /operationId/);
  const route = await curl(h, '/nowhere');
  assert.equal(route.status, 404);
  const method = await curl(h, '/call');
  assert.equal(method.status, 405);
  assert.equal(method.headers.allow, 'POST');
});

test('no credentials → 401 with WWW-Authenticate; a token lacking the scope → 403; the right one → 200', { skip: noCurl }, async () => {
  const anonymous = await curl(h, '/call', postJson({ operationId: 'test/secret' }));
  assert.equal(anonymous.status, 401, anonymous.body);
  assert.match(anonymous.headers['www-authenticate'] ?? '', /^Bearer/);
  assert.equal(anonymous.json().code, 'FORBIDDEN');
  const lacking = await curl(h, '/call', postJson({ operationId: 'test/secret' }, bearer(admin)));
  assert.equal(lacking.status, 403, lacking.body);
  assert.equal(lacking.json().code, 'FORBIDDEN');
  assert.deepEqual(lacking.json().details.missingScopes, ['secret']);
  const ok = await curl(h, '/call', ['--http2', ...postJson({ operationId: 'test/secret' }, bearer(secret))]);
  assert.equal(ok.status, 200, ok.body);
  assert.deepEqual(ok.json(), { output: { ok: true } });
});

test('a bad token and an expired token → 401 invalid_token; the token is never echoed', { skip: noCurl }, async () => {
  const unknown = 'alk_' + 'Q'.repeat(43);
  for (const [token, why] of [[unknown, /not recognised/], [expired, /token expired/]] as const) {
    const r = await curl(h, '/call', postJson({ operationId: 'test/echo', input: { text: 'x' } }, bearer(token)));
    assert.equal(r.status, 401, r.body);
    assert.match(r.headers['www-authenticate'] ?? '', /invalid_token/);
    assert.equal(r.json().code, 'FORBIDDEN');
    assert.match(r.json().detail, why);
    assert.ok(!r.body.includes(token.slice(4)), 'the token is not in the answer');
  }
  const malformed = await curl(h, '/call', postJson({ operationId: 'test/echo', input: { text: 'x' } }, ['-H', 'authorization: Basic dXNlcjpwYXNz']));
  assert.equal(malformed.status, 401);
  assert.match(malformed.headers['www-authenticate'] ?? '', /invalid_request/);
});

test('mutual TLS: a listed node with the scope calls without a token; an unlisted one is anonymous', { skip: noCurl }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-mtls-'));
  try {
    const keys = newKeys();
    const identity = makeCertificate(keys);
    fs.writeFileSync(path.join(dir, 'cert.pem'), identity.certPem);
    fs.writeFileSync(path.join(dir, 'key.pem'), identity.keyPem, { mode: 0o600 });
    const cert = ['--cert', path.join(dir, 'cert.pem'), '--key', path.join(dir, 'key.pem')];
    const before = await curl(h, '/call', [...cert, ...postJson({ operationId: 'test/secret' })]);
    assert.equal(before.status, 401, 'not listed yet: anonymous');
    addPeer(h.home.home, nodeIdFromPublicKey(keys.publicKey), { scopes: ['secret'] });
    for (const version of ['--http1.1', '--http2']) {
      const r = await curl(h, '/call', [version, ...cert, ...postJson({ operationId: 'test/secret' })]);
      assert.equal(r.status, 200, r.body);
    }
    const lacking = await curl(h, '/metrics', cert);
    assert.equal(lacking.status, 403, 'a listed peer has credentials: 403, not 401');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
