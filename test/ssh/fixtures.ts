// Fixtures of the SSH/SFTP tests: a node on 127.0.0.1:0 (throwaway home, cheap-KDF vault) serving
// the built-in alknet/ssh and alknet/sftp with a config of the test's choice, its log lines kept for
// assertions, and a throwaway ~/.ssh-like folder: an ed25519 key made by ssh-keygen, a known_hosts
// holding the node's host key, and an ssh_config whose hosts reach the node through
// `alknet connect` as ProxyCommand (one host per transport). Nothing touches the real ~/.ssh.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { createVaultFile } from '../../actors/vault/vaultFile.ts';
import { startNode, type RunningNode } from '../../supervisors/startNode.ts';
import { DEFAULT_CONFIG, type NodeConfig, type SshConfig } from '../../supervisors/config.ts';
import { VAULT_SYSTEM_ID } from '../../actors/vault/messages.ts';
import { sshProtocol } from '../../protocols/ssh/protocol.ts';
import { skipUnlessTool } from '../support/tools.ts';

export const projectRoot = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const BIN = path.join(projectRoot, 'cli', 'bin.js');
export const PASSPHRASE = 'ssh-test passphrase';
/** A suite's `skip` when the OpenSSH client (ssh, scp, sftp, ssh-keygen) is missing; under CI=true the file fails. */
export const needsSsh = skipUnlessTool('ssh', 'openssh-client');
const TEST_KDF = { N: 1024, r: 8, p: 1 };

export async function makeHome(prefix = 'alknet-ssh-'): Promise<string> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  await createVaultFile(home, { passphrase: PASSPHRASE, kdf: TEST_KDF });
  return home;
}

export interface SshNode {
  node: RunningNode;
  home: string;
  /** NODEID@127.0.0.1:PORT */
  address: string;
  /** `ssh-ed25519 AAAA…` of the node's SSH host key. */
  hostKey: string;
  /** The node's log lines so far (pino JSON, parsed). */
  logs: Array<{ msg?: string; [k: string]: unknown }>;
  stop(): Promise<void>;
}

export async function startSshNode(ssh: Partial<SshConfig> = {}, home?: string, opts: { loginGraceMs?: number } = {}): Promise<SshNode> {
  const dir = home ?? (await makeHome());
  const logs: SshNode['logs'] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  const config: NodeConfig = structuredClone(DEFAULT_CONFIG);
  config.ssh = { ...config.ssh, ...ssh };
  // A shorter login grace time replaces the built-in alknet/ssh (without the sftp subsystem).
  const protocols = opts.loginGraceMs !== undefined ? [sshProtocol({ config: config.ssh, loginGraceMs: opts.loginGraceMs })] : [];
  const node = await startNode({ home: dir, passphrase: PASSPHRASE, listen: '127.0.0.1:0', tensor: false, config, logger, protocols });
  const key = await node.bus.request(VAULT_SYSTEM_ID, 'vault.sshHostKey', {}, { deadlineMs: 10_000 });
  return {
    node, home: dir, address: `${node.nodeId}@${node.address}`, hostKey: key.publicKeyOpenSsh, logs,
    async stop() {
      await node.stop();
      if (home === undefined) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface SshClientDir {
  dir: string;
  /** The ssh_config to pass with -F; hosts `alk-quic` and `alk-tls`. */
  config: string;
  key: string;
  publicKey: string;
}

/** A throwaway ssh client folder for `node`: key, known_hosts and ssh_config. */
export function sshClientDir(node: SshNode, opts: { keyName?: string; clientHome?: string } = {}): SshClientDir {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-sshc-'));
  const key = path.join(dir, opts.keyName ?? 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alknet-test', '-f', key]);
  const knownHosts = path.join(dir, 'known_hosts');
  fs.writeFileSync(knownHosts, `alknet-test-node ${node.hostKey}\n`);
  const clientHome = opts.clientHome ?? path.join(dir, 'no-home');
  const proxy = (transport: string) =>
    `${process.execPath} ${BIN} --home ${clientHome} connect ${node.address} --alpn alknet/ssh --${transport}`;
  const host = (name: string, transport: string) => [
    `Host ${name}`,
    '  HostName 127.0.0.1',
    '  User tester',
    `  IdentityFile ${key}`,
    '  IdentitiesOnly yes',
    '  IdentityAgent none',
    '  HostKeyAlias alknet-test-node',
    `  UserKnownHostsFile ${knownHosts}`,
    '  GlobalKnownHostsFile /dev/null',
    '  StrictHostKeyChecking yes',
    '  BatchMode yes',
    '  LogLevel ERROR',
    '  ConnectTimeout 30',
    '  ServerAliveInterval 0',
    `  ProxyCommand ${proxy(transport)}`,
    '',
  ].join('\n');
  const config = path.join(dir, 'ssh_config');
  fs.writeFileSync(config, host('alk-quic', 'quic') + host('alk-tls', 'tls'));
  return { dir, config, key, publicKey: fs.readFileSync(`${key}.pub`, 'utf8').trim() };
}

/** Appends a line to the node's authorized_keys. */
export function authorize(node: SshNode, line: string): void {
  fs.appendFileSync(path.join(node.home, 'authorized_keys'), `${line}\n`, { mode: 0o600 });
}

export interface Run { code: number | null; stdout: string; stderr: string }

/** Runs a program asynchronously (the in-process node must keep serving meanwhile). */
export function run(file: string, args: string[], opts: { input?: string | Buffer; timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(file, args, {
      cwd: opts.cwd ?? projectRoot,
      env: { ...process.env, ...opts.env },
      timeout: opts.timeoutMs ?? 90_000,
      maxBuffer: 64 * 1024 * 1024,
      encoding: 'utf8',
    }, (err, stdout, stderr) => resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0, stdout, stderr }));
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin!.end();
  });
}

export function ssh(client: SshClientDir, host: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<Run> {
  return run('ssh', ['-F', client.config, host, ...args], opts);
}

/** Deterministic pseudo-random bytes (xorshift), so a failure is reproducible. */
export function content(size: number, seed = 1): Buffer {
  const out = Buffer.alloc(size);
  let x = (0x9e3779b9 ^ seed) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Waits until `check` is true, polling; bounded in count and time (never a timing assertion). */
export async function eventually(check: () => boolean, what: string, tries = 200): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`never happened: ${what}`);
}
