// `alknet` as a Unix tool: help on stdout with exit 0 for every command, a command group without its
// subcommand lists the group (exit 2), and --version. Help needs no home, vault or network.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { projectRoot } from '../node/helpers.ts';
import { BIN, alknet, cleanEnv } from './run.ts';

const VERSION = (JSON.parse(fs.readFileSync(`${projectRoot}/package.json`, 'utf8')) as { version: string }).version;
// A home that must not be touched: help never reads or creates it.
const HOME = '/nonexistent/alknet-help-home';

test('alknet --help and -h print the command list on stdout, exit 0', async () => {
  for (const flag of ['--help', '-h', 'help']) {
    const run = await alknet(['--home', HOME, flag]);
    assert.equal(run.code, 0, `${flag}: ${run.stderr}`);
    assert.equal(run.stderr, '');
    assert.match(run.stdout, /^usage: alknet /);
    for (const name of ['alknet node', 'alknet call', 'alknet blob get', 'alknet token create']) assert.ok(run.stdout.includes(name), `${flag} lists ${name}`);
    assert.match(run.stdout, /--version/);
  }
});

test('COMMAND --help prints that command\'s usage and flags on stdout, exit 0, whatever else is missing', async () => {
  const cases: [string[], RegExp, string[]][] = [
    [['node', '--help'], /^usage: alknet node /, ['--listen VALUE', '--ready-file VALUE']],
    [['blob', 'get', '--help'], /^usage: alknet blob get HASH/, ['-o, --output VALUE', '--from VALUE  (repeatable)']],
    [['token', 'create', '--help'], /^usage: alknet token create /, ['--scopes VALUE', '--name VALUE']],
    [['call', '-h'], /^usage: alknet call ADDR OPERATION/, ['--timeout VALUE', '--tls']],
    [['peer', 'add', 'NOT-A-NODE-ID', '--help'], /^usage: alknet peer add NODEID/, ['--scopes VALUE']],
    [['help', 'vault', 'derive'], /^usage: alknet vault derive PATH/, []],
    [['id', '--json', '--help'], /^usage: alknet id/, []],
  ];
  for (const [args, usage, flags] of cases) {
    const run = await alknet(['--home', HOME, ...args]);
    assert.equal(run.code, 0, `${args.join(' ')}: ${run.stderr}`);
    assert.equal(run.stderr, '', args.join(' '));
    assert.match(run.stdout, usage, args.join(' '));
    for (const f of flags) assert.ok(run.stdout.includes(f), `${args.join(' ')} --help shows ${f}:\n${run.stdout}`);
  }
  assert.equal(fs.existsSync(HOME), false, 'help created no home');
});

test('a command group without its subcommand lists the subcommands on stderr, exit 2', async () => {
  const groups: Record<string, string[]> = {
    blob: ['alknet blob add', 'alknet blob ls', 'alknet blob get'],
    peer: ['alknet peer add', 'alknet peer ls', 'alknet peer rm'],
    token: ['alknet token create', 'alknet token ls', 'alknet token rm'],
    vault: ['alknet vault derive', 'alknet vault passwd'],
  };
  for (const [group, members] of Object.entries(groups)) {
    const run = await alknet(['--home', HOME, group]);
    assert.equal(run.code, 2, `${group}: ${run.stderr}`);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, new RegExp(`^alknet: "${group}" needs a subcommand\n`));
    assert.doesNotMatch(run.stderr, /unknown command/);
    for (const m of members) assert.ok(run.stderr.includes(m), `${group} lists ${m}`);
  }
  const wrong = await alknet(['--home', HOME, 'blob', 'frob']);
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /^alknet: unknown subcommand "blob frob"\n/);
  assert.ok(wrong.stderr.includes('alknet blob ls'));
  const asked = await alknet(['--home', HOME, 'peer', '--help']);
  assert.equal(asked.code, 0, asked.stderr);
  assert.ok(asked.stdout.includes('alknet peer ls'));
  const unknown = await alknet(['--home', HOME, 'frob']);
  assert.equal(unknown.code, 2);
  assert.equal(unknown.stderr, 'alknet: unknown command "frob"; run "alknet help" for the list\n');
});

test('alknet --version and -V print the package version, exit 0', async () => {
  for (const flag of ['--version', '-V']) {
    const run = await alknet([flag]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, `alknet ${VERSION}\n`);
  }
});

test('alknet with no arguments: the usage on stderr, exit 2', async () => {
  const run = await alknet(['--home', HOME]);
  assert.equal(run.code, 2);
  assert.equal(run.stdout, '');
  assert.match(run.stderr, /^usage: alknet /);
});

test('a reader that closes stdout early (alknet help | head -0) ends alknet quietly, as SIGPIPE would', async () => {
  const child = spawn(process.execPath, [BIN, '--home', HOME, 'help'], { cwd: projectRoot, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy(); // closed before alknet has started, so its first write meets EPIPE
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  assert.equal(code, 141, stderr);
  assert.equal(stderr, '');
});
