// The DNS front end from the command line, as a user runs it: `alknet node --dns 127.0.0.1:0
// --ready-file F` (the ready file's "dns"), dig against that port, and `alknet dns resolve` over UDP
// (TCP after TC), --tcp, DoQ (NODEID@HOST:PORT), --json, the home's [dns] listen as default server,
// and its one-line errors.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, makeHome, poll, spawnChild, type Child, type TestHome } from '../node/helpers.ts';
import { alknet, alknetLines } from '../cli/run.ts';
import { skipUnlessTool } from '../support/tools.ts';
import { dig, ZONE_RECORDS } from './helpers.ts';

const skip = skipUnlessTool('dig', 'dnsutils');

interface Ready {
  nodeId: string;
  quic: string;
  tcp: string;
  dns: string | null;
}

let home: TestHome;
let other: TestHome;
let child: Child;
let ready: Ready;
before(async () => {
  if (skip) return;
  home = await makeHome('alknet-dnscli-');
  other = await makeHome('alknet-dnscli-client-');
  const toml = ['[[dns.zones]]', 'origin = "example.test"', `records = ${JSON.stringify(ZONE_RECORDS)}`].join('\n');
  fs.writeFileSync(path.join(home.home, 'config.toml'), toml);
  const readyFile = path.join(home.home, 'ready.json');
  child = spawnChild([BIN, '--home', home.home, 'node', '--listen', '127.0.0.1:0', '--dns', '127.0.0.1:0', '--ready-file', readyFile], {
    env: { ALKNET_PASSPHRASE: home.passphrase, ALKNET_HOME: '' },
  });
  ready = await poll(() => {
    if (child.proc.exitCode !== null) throw new Error(`alknet node exited with ${child.proc.exitCode}: ${child.stderr()}`);
    try {
      return JSON.parse(fs.readFileSync(readyFile, 'utf8')) as Ready;
    } catch {
      return undefined;
    }
  }, 30_000, 'the ready file');
  // A second home whose config names the node's DNS port: `alknet dns resolve` without --server uses it.
  fs.writeFileSync(path.join(other.home, 'config.toml'), `[dns]\nlisten = "${ready.dns}"\n`);
});
after(async () => {
  child?.proc.kill('SIGTERM');
  await child?.exited(15_000);
  home?.cleanup();
  other?.cleanup();
});

const port = () => Number(ready.dns!.split(':')[1]);

test('alknet node --dns: the ready file names the DNS port, and dig gets answers there', { skip }, async () => {
  assert.match(ready.dns ?? '', /^127\.0\.0\.1:\d+$/);
  const r = await dig(port(), ['www.example.test', 'AAAA']);
  assert.equal(r.status, 'NOERROR', r.text);
  assert.deepEqual(r.answer.map((a) => a.data), ['2001:db8::1']);
  assert.ok(child.stderr().includes(`DNS on ${ready.dns}`) || child.stderr().includes('"dns: listening on UDP and TCP"'), child.stderr());
});

test('alknet dns resolve: records printed like zone-file lines; --type, --tcp, TC then TCP, --json', { skip }, async () => {
  const a = await alknet(['--home', other.home, 'dns', 'resolve', 'www.example.test', '--server', ready.dns!]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(a.stdout, 'www.example.test.\t300\tIN\tA\t192.0.2.1\n');
  const mx = await alknet(['--home', other.home, 'dns', 'resolve', 'example.test', '-t', 'mx', '--server', ready.dns!, '--tcp']);
  assert.equal(mx.stdout, 'example.test.\t300\tIN\tMX\t10 mail.example.test.\n');
  const big = await alknet(['--home', other.home, 'dns', 'resolve', 'big.example.test', '--type', 'TXT', '--server', ready.dns!, '--json']);
  assert.equal(big.code, 0, big.stderr);
  const json = JSON.parse(big.stdout);
  assert.equal(json.transport, 'tcp', 'the UDP answer was truncated, so it asked again over TCP');
  assert.equal(json.answers.length, 2);
  assert.equal(json.rcode, 'NOERROR');
  assert.equal(json.authoritative, true);
});

test('alknet dns resolve without --server asks the home [dns] listen; over DoQ with NODEID@HOST:PORT', { skip }, async () => {
  const r = await alknet(['--home', other.home, 'dns', 'resolve', 'alias.example.test']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n').map((l) => l.split('\t')[3]), ['CNAME', 'A']);
  const doq = await alknet(['--home', other.home, 'dns', 'resolve', 'www.example.test', '--server', `${ready.nodeId}@${ready.quic}`, '--json']);
  assert.equal(doq.code, 0, doq.stderr);
  assert.equal(JSON.parse(doq.stdout).transport, 'doq');
  assert.equal(JSON.parse(doq.stdout).answers[0].data, '192.0.2.1');
});

test('alknet dns resolve: NXDOMAIN exits 1 with one line; NODATA prints nothing and says so; usage errors exit 2', { skip }, async () => {
  const nx = await alknet(['--home', other.home, 'dns', 'resolve', 'nope.example.test', '--server', ready.dns!]);
  assert.equal(nx.code, 1);
  assert.deepEqual(alknetLines(nx.stderr), [`alknet: nope.example.test: NXDOMAIN from ${ready.dns}`]);
  const nodata = await alknet(['--home', other.home, 'dns', 'resolve', 'mail.example.test', '-t', 'AAAA', '--server', ready.dns!]);
  assert.equal(nodata.code, 0);
  assert.equal(nodata.stdout, '');
  assert.deepEqual(alknetLines(nodata.stderr), ['alknet: mail.example.test has no AAAA record']);
  const badType = await alknet(['--home', other.home, 'dns', 'resolve', 'x.test', '--type', 'NOPE', '--server', ready.dns!]);
  assert.equal(badType.code, 2);
  assert.match(badType.stderr, /--type "NOPE" is not a record type/);
  const badServer = await alknet(['--home', other.home, 'dns', 'resolve', 'x.test', '--server', 'a:b:c:d']);
  assert.equal(badServer.code, 2);
  const noServer = await alknet(['--home', home.home, 'dns', 'resolve', 'x.test']);
  assert.equal(noServer.code, 1);
  assert.match(alknetLines(noServer.stderr)[0] ?? '', /no --server given and .* has no fixed \[dns\] listen address/);
  const down = await alknet(['--home', other.home, 'dns', 'resolve', 'x.test', '--server', '127.0.0.1:9', '--timeout', '300']);
  assert.equal(down.code, 1);
  assert.equal(alknetLines(down.stderr).length, 1);
  assert.match(alknetLines(down.stderr)[0]!, /x\.test: no answer from 127\.0\.0\.1:9 over UDP within 300 ms/);
});

test('alknet node --dns with a bad address is a usage error before the vault is opened', { skip }, async () => {
  const r = await alknet(['--home', home.home, 'node', '--dns', 'nowhere']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--dns "nowhere" must be HOST:PORT/);
});
