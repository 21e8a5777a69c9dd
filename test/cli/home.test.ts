// The home folder as the CLI treats it: read-only commands never create it and say so in one line
// when it is missing; a home that is a file, or cannot be created (a path under /proc, where Node's
// recursive mkdir used to spin forever), is a one-line failure; commands that write create it 0700.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nodeIdFromPublicKey } from '../../actors/vault/nodeId.ts';
import { newKeys } from '../listener/fixtures.ts';
import { alknet, type Run } from './run.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-cli-home-'));
const NODE_ID = nodeIdFromPublicKey(newKeys().publicKey);
let silent: dgram.Socket;
let silentPort: number;

before(async () => {
  silent = dgram.createSocket('udp4');
  silent.on('message', () => {});
  await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
  silentPort = silent.address().port;
});

after(() => {
  silent.close();
  fs.rmSync(root, { recursive: true, force: true });
});

function failsInOneLine(run: Run, pattern: RegExp, what: string): void {
  assert.equal(run.code, 1, `${what}: exit ${run.code}: ${run.stderr}`);
  assert.equal(run.stdout, '', what);
  assert.equal(run.stderr.split('\n').filter(Boolean).length, 1, `${what}: one line: ${run.stderr}`);
  assert.match(run.stderr, pattern, what);
}

test('read-only commands on a missing home: one line, exit 1, and no folder is created', async () => {
  const missing = path.join(root, 'missing', 'x');
  const reads: string[][] = [
    ['id'],
    ['peer', 'ls'],
    ['token', 'ls'],
    ['token', 'rm', 'some-token'],
    ['peer', 'rm', NODE_ID],
    ['vault', 'derive', "m/74'/0'/0'/0'"],
  ];
  for (const args of reads) {
    const run = await alknet(['--home', missing, ...args], { env: { ALKNET_PASSPHRASE: 'x' } });
    failsInOneLine(run, new RegExp(`^alknet: no home folder at ${missing} \\(run "alknet init"`), args.join(' '));
  }
  // A bare HOST:PORT needs known_nodes to trust on first use: refused before dialling.
  for (const args of [['call', `127.0.0.1:${silentPort}`, 'node/info'], ['ops', `127.0.0.1:${silentPort}`], ['connect', `127.0.0.1:${silentPort}`, '--alpn', 'x']]) {
    const run = await alknet(['--home', missing, ...args]);
    failsInOneLine(run, new RegExp(`has no node id and there is no home at ${missing}.*give NODEID@127\\.0\\.0\\.1:${silentPort}`), args.join(' '));
  }
  // A pinned address needs no home: the call is made (and times out on the silent socket).
  const pinned = await alknet(['--home', missing, 'call', `${NODE_ID}@127.0.0.1:${silentPort}`, 'node/info', '--timeout', '200']);
  failsInOneLine(pinned, /no QUIC answer .* within 200 ms/, 'pinned call');
  assert.equal(fs.existsSync(path.join(root, 'missing')), false, 'no command created the home');
});

test('a home that is a file: one line, exit 1, for readers and writers', async () => {
  const file = path.join(root, 'a-file');
  fs.writeFileSync(file, 'not a folder\n');
  for (const args of [['peer', 'ls'], ['peer', 'add', NODE_ID], ['token', 'create', '--scopes', 'tensor'], ['id'], ['init']]) {
    const run = await alknet(['--home', file, ...args], { env: { ALKNET_PASSPHRASE: 'x' } });
    failsInOneLine(run, new RegExp(`^alknet: home ${file} is not a folder`), args.join(' '));
  }
  const below = await alknet(['--home', path.join(file, 'sub'), 'peer', 'add', NODE_ID]);
  failsInOneLine(below, /cannot exist: a part of the path is a file/, 'home below a file');
  assert.equal(fs.readFileSync(file, 'utf8'), 'not a folder\n');
});

test('a home that cannot be created (under /proc): one line, exit 1, no endless retry', { skip: !fs.existsSync('/proc/self') && 'no /proc here' }, async () => {
  for (const args of [['peer', 'add', NODE_ID], ['token', 'create', '--scopes', 'tensor'], ['init']]) {
    // Killed after 30 s: the old recursive mkdir never returned on this path.
    const run = await alknet(['--home', '/proc/alknet-nope', ...args], { env: { ALKNET_PASSPHRASE: 'x' }, killAfterMs: 30_000 });
    failsInOneLine(run, /^alknet: cannot create home \/proc\/alknet-nope: /, args.join(' '));
  }
  const read = await alknet(['--home', '/proc/alknet-nope', 'peer', 'ls'], { killAfterMs: 30_000 });
  failsInOneLine(read, /^alknet: no home folder at \/proc\/alknet-nope/, 'peer ls');
});

test('commands that write create a missing home, mode 0700', async () => {
  const home = path.join(root, 'new', 'home');
  const run = await alknet(['--home', home, 'peer', 'add', NODE_ID, '--scopes', 'tensor']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(fs.statSync(home).mode & 0o777, 0o700);
  assert.equal(fs.statSync(path.dirname(home)).mode & 0o777, 0o700);
  const ls = await alknet(['--home', home, 'peer', 'ls', '--json']);
  assert.equal(ls.code, 0, ls.stderr);
  assert.equal((JSON.parse(ls.stdout) as { nodeId: string }[])[0]!.nodeId, NODE_ID);
});
