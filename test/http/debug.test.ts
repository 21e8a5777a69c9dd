// The live view in a real browser: headless Chromium (Debian's chromium through playwright-core)
// opens /debug, signs in with an admin token, sees the ALPN actors and each one's statechart with
// its current state highlighted; a connection opened meanwhile shows up as a child of its protocol
// actor and goes away when it closes. The node's key is pinned with Chromium's own SPKI list. A
// screenshot is saved as a test artifact (ALKNET_TEST_ARTIFACTS, default $TMPDIR/alknet-artifacts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { addToken } from '../../actors/peers/peersFile.ts';
import { dial } from '../../actors/listener/dial.ts';
import { newKeys } from '../listener/fixtures.ts';
import { requireTool } from '../support/tools.ts';
import { browserPin, curl, startHttpNode, type HttpNode } from './helpers.ts';

const browserPath = requireTool('chromium', 'chromium');
let h: HttpNode;
let admin: string;
let browser: Browser | undefined;

export const ARTIFACTS = process.env.ALKNET_TEST_ARTIFACTS ?? path.join(os.tmpdir(), 'alknet-artifacts');

before(async () => {
  h = await startHttpNode();
  admin = addToken(h.home.home, 'viewer', ['admin']).token;
  addToken(h.home.home, 'plain', ['nothing']);
});
after(async () => {
  await browser?.close();
  await h?.stop();
});

test('/debug needs admin: 401 (a sign-in form for browsers), 403 without the scope, data routes too', async () => {
  const anonymous = await curl(h, '/debug/state');
  assert.equal(anonymous.status, 401);
  assert.equal(anonymous.json().code, 'FORBIDDEN');
  const html = await curl(h, '/debug', ['-H', 'accept: text/html']);
  assert.equal(html.status, 401);
  assert.match(html.body, /<form class="login"/);
  const weak = addToken(h.home.home, 'weak', ['secret']).token;
  const lacking = await curl(h, '/debug/events', ['-H', `authorization: Bearer ${weak}`]);
  assert.equal(lacking.status, 403);
  const state = await curl(h, '/debug/state', ['-H', `authorization: Bearer ${admin}`]);
  assert.equal(state.status, 200);
  const snapshot = state.json();
  assert.ok(snapshot.actors.some((a: { systemId?: string }) => a.systemId === 'protocol:h2'));
  assert.ok(Object.keys(snapshot.charts).length > 3);
  const tree = await curl(h, '/debug/actors', ['-H', `authorization: Bearer ${admin}`]);
  assert.equal(tree.json().root.id, 'node');
  const badLogin = await curl(h, '/debug/login', ['-X', 'POST', '--data-urlencode', `token=alk_${'n'.repeat(43)}`]);
  assert.equal(badLogin.status, 401, 'a wrong token sets no cookie');
  assert.equal(badLogin.headers['set-cookie'], undefined);
});

test('Chromium: sign in, see the ALPN actors and statecharts, watch a connection come and go', { skip: browserPath.skip }, async () => {
  // Browsers verify no Ed25519: they get the node's P-256 certificate, which the node key signs.
  const spki = await browserPin(h);
  browser = await chromium.launch({
    executablePath: browserPath.value,
    headless: true,
    // The node's certificate is self-signed: trust exactly its key (SPKI pin), nothing else.
    args: [`--ignore-certificate-errors-spki-list=${spki}`, '--no-sandbox'],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(err.message));
  const first = await page.goto(`${h.base}/debug`);
  assert.equal(first?.status(), 401);
  // From here on (signed in), no resource may fail and no script may throw.
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text());
  });
  await page.fill('input[name=token]', admin);
  await Promise.all([page.waitForURL(`${h.base}/debug`), page.click('button[type=submit]')]);
  await page.waitForSelector('#status.live', { timeout: 20_000 });

  for (const alpn of ['alknet/call', 'alknet/blobs', 'h2', 'http/1.1', 'alknet/http']) {
    await page.waitForSelector(`.node[data-systemid="protocol:${alpn}"]`, { timeout: 10_000 });
  }
  for (const systemId of ['vault', 'peers', 'fs', 'listener']) await page.waitForSelector(`.node[data-systemid="${systemId}"]`);
  // The browser's own h2 connection is a child of protocol:h2.
  await page.waitForSelector('li:has(> .node[data-systemid="protocol:h2"]) .node[data-name^="tls-"]', { timeout: 10_000 });

  // A statechart with its current state highlighted.
  await page.click('.node[data-systemid="protocol:alknet/call"]');
  await page.waitForSelector('#chart .state.active[data-state-id="protocol:alknet/call.running.serving"]', { timeout: 10_000 });
  assert.equal(await page.locator('#chart .state.active[data-state-id="protocol:alknet/call.running.draining"]').count(), 0);
  assert.ok((await page.locator('#chart .state[data-state-id="protocol:alknet/call.starting"]').count()) === 1, 'inactive states are drawn too');

  // A new connection appears as a child of its protocol actor, and goes when it closes.
  const child = 'li:has(> .node[data-systemid="protocol:alknet/call"]) .node[data-name^="tls-"]';
  assert.equal(await page.locator(child).count(), 0);
  const conn = await dial(`${h.node.nodeId}@${h.node.address}`, { alpn: 'alknet/call', transport: 'tls', identity: newKeys() });
  await page.waitForSelector(child, { timeout: 15_000 });
  await page.waitForSelector('#events td', { timeout: 10_000 });

  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const shot = path.join(ARTIFACTS, 'http-debug.png');
  await page.screenshot({ path: shot, fullPage: false });
  assert.ok(fs.statSync(shot).size > 10_000, `screenshot at ${shot}`);

  await conn.close('done');
  await page.waitForSelector(child, { state: 'detached', timeout: 15_000 });
  assert.deepEqual(problems, [], 'no script errors on the page');
  await context.close();
});

test('the browser certificate: P-256, the same key at every start, signed by the node key', async () => {
  const { browserCertificate, makeCertificate } = await import('../../actors/listener/tlsIdentity.ts');
  const { X509Certificate } = await import('node:crypto');
  const keys = newKeys();
  const a = new X509Certificate(browserCertificate(keys).certDer);
  const b = new X509Certificate(browserCertificate(keys).certDer);
  const spki = (c: InstanceType<typeof X509Certificate>) => c.publicKey.export({ type: 'spki', format: 'der' }).toString('hex');
  assert.equal(a.publicKey.asymmetricKeyType, 'ec');
  assert.equal(spki(a), spki(b), 'derived from the node key: a browser can pin it');
  assert.ok(a.verify(new X509Certificate(makeCertificate(keys).certDer).publicKey), 'signed by the node key');
  const other = new X509Certificate(browserCertificate(newKeys()).certDer);
  assert.notEqual(spki(other), spki(a));
  assert.ok(!other.verify(new X509Certificate(makeCertificate(keys).certDer).publicKey));
});
