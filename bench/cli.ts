// CLI start-up benchmark: wall time of whole `alknet` processes, as a user waits for them, each row
// next to a baseline measured in the same run:
//   alknet --help                     vs  node -e 0 (a Node process that does nothing)
//   alknet call ADDR node/info        vs  a bare node:tls connect + handshake to the same node
//     anonymous (no home), with a passphrase (a client home whose vault is unlocked: scrypt at
//     the default cost), through the agent (the node's own home, no passphrase)
//   the same call and --help from the TypeScript sources (ALKNET_FROM_SOURCE=1: tsx at each start),
//     which is what the compiled dist/ saves
//   the vault unlock alone (a process that unlocks and derives the node key) vs node -e 0: the cost the
//     passphrase row may add over the anonymous one (the last row compares the two differences)
// Run: node --import tsx bench/cli.ts [--short] [--runs N]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const BIN = path.join(root, 'cli', 'bin.js');
const short = process.argv.includes('--short');
const runsFlag = process.argv.indexOf('--runs');
const RUNS = runsFlag > 0 ? Number(process.argv[runsFlag + 1]) : short ? 3 : 15;
const PASS = 'bench passphrase';

/** Env without the caller's ALKNET_* settings. */
function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ALKNET_'))), ...extra };
}

/** Runs a process to its end; resolves with its wall time in ms (and fails loudly on a non-zero exit). */
function timed(args: string[], extraEnv: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, { cwd: root, env: env(extraEnv), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const ms = performance.now() - started;
      if (code === 0) resolve(ms);
      else reject(new Error(`${args.slice(1).join(' ')} exited ${code}: ${stderr.trim().split('\n').at(-1)}`));
    });
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

interface Row {
  name: string;
  ms: number;
  baseline: string;
  baselineMs: number;
}

/** Alternates the case and its baseline run by run, so drifting load hits both alike. */
async function pair(name: string, args: string[], extra: Record<string, string>, baseline: string, baseArgs: string[]): Promise<Row> {
  await timed(args, extra); // warm: disk cache, a first rebuild of dist/
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    a.push(await timed(args, extra));
    b.push(await timed(baseArgs));
  }
  return { name, ms: median(a), baseline, baselineMs: median(b) };
}

async function main(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'alk-bench-cli-'));
  const nodeHome = path.join(tmp, 'node');
  const clientHome = path.join(tmp, 'client');
  let node: ReturnType<typeof spawn> | undefined;
  try {
    // Two homes with real vaults (the default scrypt cost): the node's, and a client's.
    for (const home of [nodeHome, clientHome]) await timed([BIN, '--home', home, 'init'], { ALKNET_PASSPHRASE: PASS });
    const ready = path.join(tmp, 'ready.json');
    node = spawn(process.execPath, [BIN, '--home', nodeHome, 'node', '--listen', '127.0.0.1:0', '--ready-file', ready], {
      cwd: root, env: env({ ALKNET_PASSPHRASE: PASS }), stdio: ['ignore', 'ignore', 'ignore'],
    });
    for (let i = 0; i < 600 && !(fs.existsSync(ready) && fs.existsSync(path.join(nodeHome, 'agent.sock'))); i++) await new Promise((r) => setTimeout(r, 100));
    const info = JSON.parse(fs.readFileSync(ready, 'utf8')) as { nodeId: string; quic: string; tcp: string };
    const addr = `${info.nodeId}@${info.quic}`;
    const [host, port] = [info.tcp.slice(0, info.tcp.lastIndexOf(':')), info.tcp.slice(info.tcp.lastIndexOf(':') + 1)];

    const nodeNothing = ['-e', '0'];
    // The least a TLS client process can do against this node: connect, handshake, close.
    const bareTls = ['-e', `const s = require('node:tls').connect({ host: ${JSON.stringify(host)}, port: ${port}, ALPNProtocols: ['alknet/call'], rejectUnauthorized: false }, () => s.end()); s.on('error', (e) => { console.error(e.message); process.exit(1); });`];
    const noHome = path.join(tmp, 'absent');

    const rows: Row[] = [];
    rows.push(await pair('alknet --help', [BIN, '--help'], {}, 'node -e 0', nodeNothing));
    rows.push(await pair('alknet --help (sources, tsx)', [BIN, '--help'], { ALKNET_FROM_SOURCE: '1' }, 'node -e 0', nodeNothing));
    rows.push(await pair('call node/info, anonymous', [BIN, '--home', noHome, 'call', addr, 'node/info'], {}, 'bare node:tls connect', bareTls));
    rows.push(await pair('call node/info, anonymous (sources, tsx)', [BIN, '--home', noHome, 'call', addr, 'node/info'], { ALKNET_FROM_SOURCE: '1' }, 'bare node:tls connect', bareTls));
    rows.push(await pair('call node/info, passphrase (client home)', [BIN, '--home', clientHome, 'call', addr, 'node/info'], { ALKNET_PASSPHRASE: PASS }, 'bare node:tls connect', bareTls));
    rows.push(await pair('call node/actors, via the agent (node home)', [BIN, '--home', nodeHome, 'call', addr, 'node/actors'], {}, 'bare node:tls connect', bareTls));

    // The unlock alone, as the CLI pays it: a fresh process that loads the vault code from dist/,
    // runs scrypt and derives the node key. The passphrase row may cost this much over the anonymous one.
    const unlockScript = `const vf = await import(${JSON.stringify(path.join(root, 'dist/actors/vault/vaultFile.js'))});
      const k = await import(${JSON.stringify(path.join(root, 'dist/actors/vault/keys.js'))});
      const s = await vf.openVaultFile(${JSON.stringify(clientHome)}, ${JSON.stringify(PASS)}); k.nodeKeys(s.seed); s.wipe();`;
    const unlock = await pair('unlock + node key alone (fresh process)', ['--input-type=module', '-e', unlockScript], {}, 'node -e 0', nodeNothing);
    rows.push(unlock);

    const header = ['case', 'median ms', 'baseline', 'baseline ms', 'ratio'];
    const cells = rows.map((r) => [r.name, r.ms.toFixed(0), r.baseline, r.baselineMs.toFixed(0), `${(r.ms / r.baselineMs).toFixed(2)}x`]);
    const anon = rows.find((r) => r.name === 'call node/info, anonymous')!;
    const withPass = rows.find((r) => r.name.startsWith('call node/info, passphrase'))!;
    const unlockCost = unlock.ms - unlock.baselineMs;
    cells.push(['passphrase call minus anonymous call', (withPass.ms - anon.ms).toFixed(0), 'unlock minus node -e 0', unlockCost.toFixed(0), `${((withPass.ms - anon.ms) / unlockCost).toFixed(2)}x`]);
    const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
    const line = (r: string[]) => `| ${r.map((c, i) => (i === 0 || i === 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
    console.log(`alknet CLI wall times — Node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, median of ${RUNS} runs each (case and baseline alternated), load ${os.loadavg()[0]!.toFixed(2)}`);
    console.log(line(header));
    console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
    for (const c of cells) console.log(line(c));
  } finally {
    node?.kill('SIGTERM');
    if (node && node.exitCode === null) await new Promise((r) => node!.once('exit', r));
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
