// Routes of other protocols on the HTTP front end (protocols/httpMount.ts): exact, prefix and
// pattern mounts reached with curl over h2 and http/1.1, the caller decided by the peers service
// (401 without credentials, 403 without the scope, a token with the scope passes), errors with a
// code answered as problem+json, and GET / listing the mounts. The built-in routes keep priority.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { httpProtocols } from '../../protocols/http/index.ts';
import type { HttpMount } from '../../protocols/httpMount.ts';
import { CallError } from '../../operations/errors.ts';
import { addToken } from '../../actors/peers/peersFile.ts';
import { bearer, curl, startHttpNode, type HttpNode } from './helpers.ts';

const seen: string[] = [];
const mounts: HttpMount[] = [
  {
    path: '/exact',
    methods: ['GET'],
    description: 'an exact path',
    async handle({ res, rest, url }) {
      seen.push(`exact:${rest}`);
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`exact ${url.searchParams.get('q') ?? ''}`);
    },
  },
  {
    path: '/files/',
    methods: ['GET', 'POST'],
    description: 'a prefix that needs scope "files"',
    async handle({ req, res, rest, requireScopes }) {
      const caller = await requireScopes(['files'], 'the files mount');
      seen.push(`files:${rest}`);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ rest, method: req.method, nodeId: caller.nodeId }));
    },
  },
  {
    path: (p) => /^\/[a-z]{6}$/.test(p),
    methods: ['GET'],
    description: 'six letters',
    async handle({ rest }) {
      throw new CallError('NOT_FOUND', `no record for ${rest.slice(1)}`);
    },
  },
];

let node: HttpNode;
let token: string;
before(async () => {
  node = await startHttpNode({ protocols: httpProtocols({ mounts }) });
  token = addToken(node.home.home, 'files', ['files']).token;
});
after(async () => node?.stop());

for (const version of ['--http2', '--http1.1']) {
  test(`${version}: an exact mount answers, the query reaches it`, async () => {
    const r = await curl(node, '/exact?q=hi', [version]);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, 'exact hi');
  });

  test(`${version}: a prefix mount gets the rest of the path and applies scopes through the peers service`, async () => {
    const anonymous = await curl(node, '/files/a/b.txt', [version]);
    assert.equal(anonymous.status, 401, anonymous.body);
    assert.match(anonymous.headers['www-authenticate'] ?? '', /Bearer/);
    assert.match(anonymous.json().detail, /the files mount needs credentials with scope "files"/);
    const ok = await curl(node, '/files/a/b.txt', [version, ...bearer(token), '-X', 'POST']);
    assert.equal(ok.status, 200, ok.body);
    assert.deepEqual(ok.json(), { rest: 'a/b.txt', method: 'POST', nodeId: null });
    const wrongMethod = await curl(node, '/files/x', [version, '-X', 'DELETE']);
    assert.equal(wrongMethod.status, 405);
  });

  test(`${version}: a pattern mount's coded error is problem+json; an unmatched path is 404`, async () => {
    const r = await curl(node, '/abcdef', [version]);
    assert.equal(r.status, 404, r.body);
    assert.match(r.headers['content-type'] ?? '', /problem\+json/);
    assert.match(r.json().detail, /no record for abcdef/);
    const none = await curl(node, '/abcdefg', [version]);
    assert.equal(none.status, 404);
    assert.match(none.json().detail, /no route/);
  });
}

test('built-in routes win over mounts, and GET / lists the mounts', async () => {
  const index = await curl(node, '/');
  assert.equal(index.status, 200, index.body);
  assert.deepEqual(index.json().mounts.map((m: { path: string }) => m.path), ['/exact', '/files/', '(pattern)']);
  // "/search" is six letters: the gateway's route answers, not the pattern mount.
  const search = await curl(node, '/search?q=test');
  assert.equal(search.status, 200, search.body);
  assert.ok(Array.isArray(search.json().operations));
  assert.ok(!seen.some((s) => s.includes('search')));
});
