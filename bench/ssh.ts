// SSH and SFTP through alknet next to a private OpenSSH sshd, in one run, with the same stock
// OpenSSH clients on both sides:
//   sftp get / put    `sftp -b` of one file (256 MiB; --short: 8 MiB), MiB/s of the whole sftp run
//                     (login included), best of 2; every copy is checked with SHA-256 afterwards
//   connection + true `ssh HOST true` one after another: logins per second
// Sides: a node in this process (alknet/ssh with its sftp subsystem, reached through `alknet
// connect NODEID@127.0.0.1:PORT --alpn alknet/ssh --quic|--tls` as ProxyCommand, one CLI process
// per connection, as a user would), and /usr/sbin/sshd run as a non-daemon on a loopback port with
// its own temporary host key and config (`Subsystem sftp internal-sftp`, public-key login only).
//   npx tsx bench/ssh.ts [--short]
// Never fails on timing. Needs ssh, sftp, ssh-keygen and /usr/sbin/sshd (scripts/system-deps.sh).
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { createVaultFile } from '../actors/vault/vaultFile.ts';
import { VAULT_SYSTEM_ID } from '../actors/vault/messages.ts';
import { startNode, type RunningNode } from '../supervisors/startNode.ts';

const SHORT = process.argv.includes('--short');
const FILE_MIB = SHORT ? 8 : 256;
const REPEATS = SHORT ? 1 : 2;
const LOGINS = SHORT ? 3 : 20;
const SSHD = '/usr/sbin/sshd';
const root = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const BIN = path.join(root, 'cli', 'bin.js');

interface Run {
  code: number | null;
  stderr: string;
  seconds: number;
}

function run(file: string, args: string[], cwd: string): Promise<Run> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = execFile(file, args, { cwd, timeout: 600_000, maxBuffer: 16 << 20, encoding: 'utf8' }, (err, _out, stderr) => {
      resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0, stderr, seconds: (performance.now() - t0) / 1000 });
    });
    child.stdin!.end();
  });
}

function sha256File(file: string): string {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(4 << 20);
  try {
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) hash.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`sshd exited (${child.exitCode}): ${log().slice(0, 500)}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sshd never listened on 127.0.0.1:${port}: ${log().slice(0, 500)}`);
}

interface Sshd {
  port: number;
  hostKey: string;
  stop(): Promise<void>;
}

/** A private sshd: its own host key, config and authorized_keys under `dir`, on a loopback port. */
async function startSshd(dir: string, clientPublicKey: string): Promise<Sshd> {
  fs.mkdirSync(dir, { recursive: true });
  const hostKey = path.join(dir, 'ssh_host_ed25519_key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bench-sshd', '-f', hostKey]);
  fs.writeFileSync(path.join(dir, 'authorized_keys'), `${clientPublicKey}\n`, { mode: 0o600 });
  const port = await freePort();
  const config = path.join(dir, 'sshd_config');
  fs.writeFileSync(config, [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${hostKey}`,
    `PidFile ${path.join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
    `AllowUsers ${os.userInfo().username}`,
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    'UsePAM no',
    'StrictModes no',
    'UseDNS no',
    'PrintMotd no',
    'MaxStartups 100',
    'Subsystem sftp internal-sftp',
    '',
  ].join('\n'));
  // As root, sshd needs its privilege-separation folder (Debian's service makes it at boot).
  if (process.getuid?.() === 0 && !fs.existsSync('/run/sshd')) fs.mkdirSync('/run/sshd', { mode: 0o755 });
  let log = '';
  const child = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitForPort(port, child, () => log);
  return {
    port,
    hostKey: fs.readFileSync(`${hostKey}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' '),
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

interface Side {
  name: string;
  host: string;
  /** The big file as the server sees it (sftp path), and where that is on disk. */
  remoteSource: string;
  /** Where a put lands: sftp path and disk path. */
  remoteTarget: string;
  targetOnDisk: string;
}

interface Figures {
  get: number;
  put: number;
  logins: number;
  failed: number;
}

const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '—');

async function main(): Promise<void> {
  for (const tool of ['ssh', 'sftp', 'ssh-keygen']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      throw new Error(`bench/ssh needs ${tool} (scripts/system-deps.sh installs it)`);
    }
  }
  if (!fs.existsSync(SSHD)) throw new Error(`bench/ssh needs ${SSHD} (scripts/system-deps.sh installs openssh-server)`);

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-bench-ssh-'));
  let node: RunningNode | undefined;
  let sshd: Sshd | undefined;
  try {
    // The client: one key for both servers, one ssh_config with a host per side.
    const key = path.join(work, 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bench', '-f', key]);
    const publicKey = fs.readFileSync(`${key}.pub`, 'utf8').trim();

    // The file: random bytes, written once, copied to each server's side.
    const local = path.join(work, 'local');
    fs.mkdirSync(local);
    const source = path.join(local, 'big.bin');
    const fd = fs.openSync(source, 'w');
    for (let i = 0; i < FILE_MIB; i++) fs.writeSync(fd, randomBytes(1 << 20));
    fs.closeSync(fd);
    const digest = sha256File(source);

    // The alknet node (this process): home with a cheap-KDF vault, the key in authorized_keys.
    const home = path.join(work, 'home');
    fs.mkdirSync(home);
    await createVaultFile(home, { passphrase: 'bench', kdf: { N: 1024, r: 8, p: 1 } });
    fs.writeFileSync(path.join(home, 'authorized_keys'), `${publicKey}\n`, { mode: 0o600 });
    node = await startNode({ home, passphrase: 'bench', listen: '127.0.0.1:0', tensor: false, logger: pino({ level: 'silent' }) });
    const nodeHostKey = (await node.bus.request(VAULT_SYSTEM_ID, 'vault.sshHostKey', {}, { deadlineMs: 10_000 })).publicKeyOpenSsh.trim();
    const filesRoot = path.join(home, 'files');
    fs.mkdirSync(filesRoot, { recursive: true });
    fs.copyFileSync(source, path.join(filesRoot, 'big.bin'));

    sshd = await startSshd(path.join(work, 'sshd'), publicKey);
    const sshdFiles = path.join(work, 'sshd-files');
    fs.mkdirSync(sshdFiles);
    fs.copyFileSync(source, path.join(sshdFiles, 'big.bin'));

    const knownHosts = path.join(work, 'known_hosts');
    fs.writeFileSync(knownHosts, `bench-alknet ${nodeHostKey}\nbench-sshd ${sshd.hostKey}\n`);
    const common = (alias: string) => [
      `  HostKeyAlias ${alias}`,
      `  User ${os.userInfo().username}`,
      `  IdentityFile ${key}`,
      '  IdentitiesOnly yes',
      '  IdentityAgent none',
      `  UserKnownHostsFile ${knownHosts}`,
      '  GlobalKnownHostsFile /dev/null',
      '  StrictHostKeyChecking yes',
      '  BatchMode yes',
      '  LogLevel ERROR',
      '  ControlMaster no',
      '  ControlPath none',
    ];
    const proxy = (transport: string) => `${process.execPath} ${BIN} --home ${path.join(work, 'client-home')} connect ${node!.nodeId}@${node!.address} --alpn alknet/ssh --${transport}`;
    const sshConfig = path.join(work, 'ssh_config');
    fs.writeFileSync(sshConfig, [
      'Host sshd', '  HostName 127.0.0.1', `  Port ${sshd.port}`, ...common('bench-sshd'),
      'Host alk-quic', '  HostName 127.0.0.1', ...common('bench-alknet'), `  ProxyCommand ${proxy('quic')}`,
      'Host alk-tls', '  HostName 127.0.0.1', ...common('bench-alknet'), `  ProxyCommand ${proxy('tls')}`,
      '',
    ].join('\n'));

    const sides: Side[] = [
      { name: 'OpenSSH sshd', host: 'sshd', remoteSource: path.join(sshdFiles, 'big.bin'), remoteTarget: path.join(sshdFiles, 'up.bin'), targetOnDisk: path.join(sshdFiles, 'up.bin') },
      { name: 'alknet QUIC', host: 'alk-quic', remoteSource: 'big.bin', remoteTarget: 'up.bin', targetOnDisk: path.join(filesRoot, 'up.bin') },
      { name: 'alknet TLS', host: 'alk-tls', remoteSource: 'big.bin', remoteTarget: 'up.bin', targetOnDisk: path.join(filesRoot, 'up.bin') },
    ];

    const sftpBatch = async (side: Side, line: string): Promise<number> => {
      const batch = path.join(work, 'batch');
      fs.writeFileSync(batch, `${line}\n`);
      const r = await run('sftp', ['-F', sshConfig, '-b', batch, side.host], local);
      if (r.code !== 0) throw new Error(`${side.name}: sftp "${line}" failed (${r.code}): ${r.stderr.slice(0, 500)}`);
      return r.seconds;
    };
    const check = (file: string, what: string): void => {
      if (sha256File(file) !== digest) throw new Error(`${what}: the copy differs from the original`);
      fs.rmSync(file);
    };

    const figures: Figures[] = [];
    for (const side of sides) {
      let get = 0;
      let put = 0;
      for (let i = 0; i < REPEATS; i++) {
        const got = path.join(local, 'got.bin');
        const seconds = await sftpBatch(side, `get ${side.remoteSource} got.bin`);
        check(got, `${side.name} get`);
        get = Math.max(get, FILE_MIB / seconds);
        const upSeconds = await sftpBatch(side, `put big.bin ${side.remoteTarget}`);
        check(side.targetOnDisk, `${side.name} put`);
        put = Math.max(put, FILE_MIB / upSeconds);
      }
      let ok = 0;
      let failed = 0;
      await run('ssh', ['-F', sshConfig, side.host, 'true'], local); // warm-up (page cache, JIT)
      const t0 = performance.now();
      for (let i = 0; i < LOGINS; i++) {
        const r = await run('ssh', ['-F', sshConfig, side.host, 'true'], local);
        if (r.code === 0) ok++;
        else failed++;
      }
      figures.push({ get, put, logins: ok / ((performance.now() - t0) / 1000), failed });
    }

    const [base] = figures;
    const ratio = (f: Figures, k: 'get' | 'put' | 'logins') => fmt(f[k] / base![k], 2);
    const rows: string[][] = [
      ['measure', ...sides.map((s) => s.name), 'QUIC ÷ sshd', 'TLS ÷ sshd'],
      [`sftp get ${FILE_MIB} MiB, MiB/s`, ...figures.map((f) => fmt(f.get, 1)), ratio(figures[1]!, 'get'), ratio(figures[2]!, 'get')],
      [`sftp put ${FILE_MIB} MiB, MiB/s`, ...figures.map((f) => fmt(f.put, 1)), ratio(figures[1]!, 'put'), ratio(figures[2]!, 'put')],
      ['connection + `true`, per second', ...figures.map((f) => fmt(f.logins, 1)), ratio(figures[1]!, 'logins'), ratio(figures[2]!, 'logins')],
      ['failed logins', ...figures.map((f) => String(f.failed)), '', ''],
    ];
    process.stdout.write(`SSH/SFTP: stock OpenSSH clients; sftp best of ${REPEATS} per direction, ${LOGINS} logins one after another${SHORT ? ' (--short)' : ''}; ${os.cpus().length} CPUs\n\n`);
    for (const [i, row] of rows.entries()) {
      process.stdout.write(`| ${row.join(' | ')} |\n`);
      if (i === 0) process.stdout.write(`|${row.map(() => '---').join('|')}|\n`);
    }
  } finally {
    await sshd?.stop().catch(() => {});
    await node?.stop().catch(() => {});
    fs.rmSync(work, { recursive: true, force: true });
  }
}

await main();
