// The shipped JavaScript (cli/build.js → dist/): `npm run prepare` (what `npm ci` runs) builds it,
// cli/bin.js runs it without a TypeScript loader, each command loads only what it needs, an edited
// source is transpiled again before it runs (never stale), a removed one leaves nothing importable,
// one that does not parse falls back to the sources through tsx, and the node, the blob commands (and
// the hash worker thread) and the agent all work from dist/.
//
// Everything runs in a copy of the project in a temporary folder whose node_modules holds every
// package but tsx: a command that reached for a TypeScript loader there would fail.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { projectRoot, makeHome, poll, type TestHome } from '../node/helpers.ts';
import { cleanEnv } from './run.ts';
import { COMMANDS, loadAll, loadCommand } from '../../cli/commands/index.ts';

const SOURCES = ['index.ts', 'package.json', 'tsconfig.json', 'tsconfig.build.json', 'bus', 'supervisors', 'actors', 'protocols', 'operations', 'cli', 'lib'];
let copy: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command in the copy, to its end (killed after killAfterMs so a hang fails the test). */
function run(command: string, args: string[], env: Record<string, string> = {}, killAfterMs = 120_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: copy, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const alknet = (args: string[], env: Record<string, string> = {}) => run(process.execPath, [path.join(copy, 'cli', 'bin.js'), ...args], env);

/** alknet with a resolve hook that lists every module it loads (as copy-relative paths or package names). */
async function alknetLoading(args: string[]): Promise<Run & { loaded: string[] }> {
  const log = path.join(copy, `loaded-${Date.now()}.txt`);
  const r = await run(process.execPath, ['--import', path.join(copy, 'register-hook.mjs'), path.join(copy, 'cli', 'bin.js'), ...args], { MODULE_LOG: log });
  const urls = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
  fs.rmSync(log, { force: true });
  const loaded = [...new Set(urls.filter((u) => u.startsWith('file:')).map((u) => path.relative(copy, new URL(u).pathname)))];
  return { ...r, loaded };
}

before(() => {
  copy = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'alk-compiled-')));
  for (const entry of SOURCES) fs.cpSync(path.join(projectRoot, entry), path.join(copy, entry), { recursive: true });
  fs.rmSync(path.join(copy, 'dist'), { recursive: true, force: true });
  // Every installed package but tsx.
  fs.mkdirSync(path.join(copy, 'node_modules'));
  for (const name of fs.readdirSync(path.join(projectRoot, 'node_modules'))) {
    if (name !== 'tsx') fs.symlinkSync(path.join(projectRoot, 'node_modules', name), path.join(copy, 'node_modules', name));
  }
  fs.writeFileSync(path.join(copy, 'hook.mjs'), `import fs from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  fs.appendFileSync(process.env.MODULE_LOG, r.url + '\\n');
  return r;
}\n`);
  fs.writeFileSync(path.join(copy, 'register-hook.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(new URL(`file://${copy}/hook.mjs`).href)});\n`);
});
after(() => fs.rmSync(copy, { recursive: true, force: true }));

test('npm run prepare (what npm ci runs) builds dist/ from every source; a second build has nothing to do', async () => {
  const first = await run('npm', ['run', '--silent', 'prepare']);
  assert.equal(first.code, 0, first.stderr);
  const built = Number(/alknet build: (\d+) file\(s\)/.exec(first.stdout)?.[1]);
  assert.ok(built >= 100, first.stdout);
  for (const f of ['dist/cli/main.js', 'dist/supervisors/startNode.js', 'dist/actors/fs/hash/blake3-worker.js', 'dist/index.js']) assert.ok(fs.existsSync(path.join(copy, f)), f);
  const pkg = JSON.parse(fs.readFileSync(path.join(copy, 'dist/package.json'), 'utf8')) as { type: string; version: string };
  assert.equal(pkg.type, 'module');
  assert.equal(pkg.version, (JSON.parse(fs.readFileSync(path.join(copy, 'package.json'), 'utf8')) as { version: string }).version);
  // The worker entry is copied with its import rewritten to the compiled body.
  assert.match(fs.readFileSync(path.join(copy, 'dist/actors/fs/hash/blake3-worker.mjs'), 'utf8'), /import\(["']\.\/blake3-worker\.js["']\)/);
  assert.doesNotMatch(fs.readFileSync(path.join(copy, 'dist/cli/main.js'), 'utf8'), /from ["']\.[^"']*\.ts["']/, 'no .ts import left');
  const second = await run(process.execPath, ['cli/build.js']);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /alknet build: 0 file\(s\)/);
});

test('help is data: every row of cli/commands/index.ts has its implementation, and every implementation a row', async () => {
  const implemented = await loadAll();
  assert.deepEqual(implemented.map((c) => c.name).sort(), COMMANDS.map((c) => c.name).sort());
  for (const row of COMMANDS) {
    const command = await loadCommand(row);
    assert.equal(command.usage, row.usage);
    assert.equal(command.summary, row.summary);
  }
});

test('alknet --help runs from dist/ without a TypeScript loader and loads no command and no package', async () => {
  const r = await alknetLoading(['--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^usage: alknet /);
  assert.ok(r.loaded.includes('dist/cli/main.js'), r.loaded.join('\n'));
  assert.deepEqual(r.loaded.filter((f) => f.endsWith('.ts')), [], 'no TypeScript source');
  assert.deepEqual(r.loaded.filter((f) => f.startsWith('dist/cli/commands/') && f !== 'dist/cli/commands/index.js'), [], 'no command implementation');
  assert.deepEqual(r.loaded.filter((f) => f.startsWith('node_modules/')), [], 'no package');
  const version = await alknet(['--version']);
  assert.match(version.stdout, /^alknet \d+\.\d+\.\d+\n$/);
});

test('alknet call loads neither LMDB, WebGPU, the tensor engine, the blob store nor other commands', async () => {
  // A pinned id at a port nobody serves: the command fails after loading everything a call needs.
  const r = await alknetLoading(['--home', path.join(copy, 'no-home'), 'call', `${'y'.repeat(52)}@127.0.0.1:1`, 'node/info', '--timeout', '1000']);
  assert.equal(r.code, 1, r.stderr);
  assert.ok(r.loaded.includes('dist/cli/commands/call.js'), r.loaded.join('\n'));
  assert.ok(r.loaded.some((f) => f.includes('@matrixai/quic')), 'it did load the QUIC client');
  const heavy = r.loaded.filter((f) => /node_modules\/(lmdb|webgpu|ssh2|@statelyai|pino)\/|^dist\/actors\/(tensor|fs)\/|^dist\/cli\/commands\/(vault|node|peer|blob)\.js$|^dist\/supervisors\//.test(f));
  assert.deepEqual(heavy, []);
});

test('an edited source runs edited: bin.js transpiles it again first', async () => {
  const out = path.join(copy, 'dist/cli/commands/index.js');
  const before = await alknet(['--help']);
  assert.equal(before.code, 0, before.stderr);
  const past = new Date(Date.now() - 3_600_000);
  fs.utimesSync(out, past, past); // the output is older than any edit from here on
  const src = path.join(copy, 'cli/commands/index.ts');
  fs.writeFileSync(src, fs.readFileSync(src, 'utf8').replace("'run the node until SIGINT/SIGTERM'", "'run the node until SIGINT/SIGTERM (edited)'"));
  const after = await alknet(['--help']);
  assert.equal(after.code, 0, after.stderr);
  assert.match(after.stdout, /run the node until SIGINT\/SIGTERM \(edited\)/);
  assert.match(fs.readFileSync(out, 'utf8'), /\(edited\)/);
});

test('a removed source leaves no output behind in dist/', async () => {
  fs.writeFileSync(path.join(copy, 'lib/extra.ts'), 'export const extra: number = 1;\n');
  assert.equal((await run(process.execPath, ['cli/build.js'])).code, 0);
  assert.ok(fs.existsSync(path.join(copy, 'dist/lib/extra.js')));
  fs.rmSync(path.join(copy, 'lib/extra.ts'));
  assert.equal((await run(process.execPath, ['cli/build.js'])).code, 0);
  assert.equal(fs.existsSync(path.join(copy, 'dist/lib/extra.js')), false);
});

test('a source that does not parse: the CLI runs the sources through tsx instead (ALKNET_DEBUG says why)', async () => {
  const broken = path.join(copy, 'cli/commands/peer.ts');
  const text = fs.readFileSync(broken, 'utf8');
  const tsx = path.join(copy, 'node_modules', 'tsx');
  fs.symlinkSync(path.join(projectRoot, 'node_modules', 'tsx'), tsx);
  try {
    fs.writeFileSync(broken, `${text}\nexport const = ;\n`);
    const r = await alknet(['--help'], { ALKNET_DEBUG: '1' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^usage: alknet /);
    assert.match(r.stderr, /^alknet: running from the sources \(tsx\): cli\/commands\/peer\.ts/m);
  } finally {
    fs.writeFileSync(broken, text);
    fs.rmSync(tsx);
  }
  const fixed = await alknet(['--help'], { ALKNET_DEBUG: '1' });
  assert.equal(fixed.code, 0, fixed.stderr);
  assert.equal(fixed.stderr, '', 'built again, from dist/');
});

test('from dist/ without tsx: blob add, alknet node, and a call through its agent', async () => {
  const homeA = await makeHome('alk-dist-a-');
  const node = { proc: undefined as ReturnType<typeof spawn> | undefined, stderr: '' };
  try {
    const env = { ALKNET_PASSPHRASE: homeA.passphrase };
    const file = path.join(homeA.home, 'data.bin');
    fs.writeFileSync(file, Buffer.alloc(300_000, 7));
    const added = await alknet(['--home', homeA.home, 'blob', 'add', file], env);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /^[0-9a-f]{64}\n$/);

    const ready = path.join(homeA.home, 'ready.json');
    node.proc = spawn(process.execPath, [path.join(copy, 'cli/bin.js'), '--home', homeA.home, 'node', '--listen', '127.0.0.1:0', '--ready-file', ready], {
      cwd: copy, env: cleanEnv(env), stdio: ['ignore', 'ignore', 'pipe'],
    });
    node.proc.stderr!.on('data', (d: Buffer) => (node.stderr += d));
    const info = JSON.parse(await poll(() => (fs.existsSync(ready) ? fs.readFileSync(ready, 'utf8') : undefined), 60_000, 'the ready file')) as { nodeId: string; quic: string };
    await poll(() => (fs.existsSync(path.join(homeA.home, 'agent.sock')) ? true : undefined), 10_000, 'the agent socket');
    const actors = await alknet(['--home', homeA.home, 'call', `${info.nodeId}@${info.quic}`, 'node/actors']);
    assert.equal(actors.code, 0, actors.stderr);
    assert.equal((JSON.parse(actors.stdout) as { root: { id: string } }).root.id, 'node');

    const exited = new Promise<number | null>((resolve) => node.proc!.once('exit', (code) => resolve(code)));
    node.proc.kill('SIGTERM');
    assert.equal(await exited, 0, node.stderr);
  } finally {
    node.proc?.kill('SIGKILL');
    homeA.cleanup();
  }
});

test('from dist/ without tsx: a BLAKE3 hash worker thread starts and hashes', async () => {
  // The worker entry (blake3-worker.mjs) must find its compiled body: no loader in a worker here.
  const script = `
    const { Blake3Pool } = await import(${JSON.stringify(path.join(copy, 'dist/actors/fs/hash/blake3-pool.js'))});
    const { blake3 } = await import('hash-wasm');
    const data = new Uint8Array(1024).fill(7);
    const pool = new Blake3Pool(1);
    const cv = await pool.hash([{ data, startChunk: 0, isRoot: true }]);
    await pool.close();
    console.log(Buffer.from(cv).toString('hex') === (await blake3(data)) ? 'same' : 'different');`;
  const r = await run(process.execPath, ['--input-type=module', '-e', script]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'same');
});
