// Fixtures of the git interop tests: a node on 127.0.0.1:0 (throwaway home, cheap-KDF vault) with
// its git service, a client home whose node key the server lists with git:read and git:write, and
// the stock git CLI set up for each way in:
// - alknet: git://NODEID/NAME.git through GIT_PROXY_COMMAND, a two-line script running `alknet connect`;
// - ssh: ssh://alk/NAME.git through the real OpenSSH client (ProxyCommand `alknet connect --alpn alknet/ssh`),
//   logged in with an authorized_keys entry;
// - http: https://127.0.0.1:PORT/git/NAME.git through git's own HTTP client, with a bearer token and the
//   node's key pinned (http.pinnedPubkey).
// git runs with a throwaway HOME and no system config; every program runs asynchronously so the
// in-process node keeps serving.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile, execFileSync } from 'node:child_process';
import { pino } from 'pino';
import { makeHome, BIN, PASSPHRASE, projectRoot, type TestHome } from '../node/helpers.ts';
import { startNode, type RunningNode } from '../../supervisors/startNode.ts';
import { DEFAULT_CONFIG, type NodeConfig } from '../../supervisors/config.ts';
import { addPeer, addToken } from '../../actors/peers/peersFile.ts';
import { VAULT_SYSTEM_ID } from '../../actors/vault/messages.ts';
import { nodeIdFromPublicKey } from '../../actors/vault/nodeId.ts';
import { homeIdentity } from '../node/helpers.ts';
import type { GitConfig } from '../../protocols/git/config.ts';
import { spkiPin } from '../http/helpers.ts';

export { PASSPHRASE, BIN, projectRoot };

export type Transport = 'alknet' | 'ssh' | 'http';
export const TRANSPORTS: readonly Transport[] = ['alknet', 'ssh', 'http'];

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Why there is no exit code: killed at the timeout, or an error before it ran (e.g. ENOENT). */
  why?: string;
}

/** Runs a program asynchronously; never rejects. */
export function run(file: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: Buffer | string; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(file, args, {
      cwd: opts.cwd ?? projectRoot,
      env: opts.env ?? process.env,
      timeout: opts.timeoutMs ?? 90_000,
      maxBuffer: 64 * 1024 * 1024,
      encoding: 'buffer',
    }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: unknown; killed?: boolean; signal?: string | null }) | null;
      const code = e ? (typeof e.code === 'number' ? e.code : null) : 0;
      resolve({
        code,
        stdout: stdout.toString('latin1'),
        stderr: stderr.toString('utf8'),
        ...(e && code === null ? { why: e.killed ? `killed (${e.signal ?? 'signal'}) at the ${opts.timeoutMs ?? 90_000} ms timeout` : String(e.code ?? e.message) } : {}),
      });
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin!.end();
  });
}

export interface GitNode {
  node: RunningNode;
  home: TestHome;
  logs: Array<{ msg?: string; [k: string]: unknown }>;
  repoDir(name: string): string;
  stop(): Promise<void>;
}

export async function startGitNode(git: Partial<GitConfig> = {}): Promise<GitNode> {
  const home = await makeHome('alknet-git-');
  const logs: GitNode['logs'] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  const config: NodeConfig = structuredClone(DEFAULT_CONFIG);
  config.git = { ...config.git, ...git };
  const node = await startNode({ home: home.home, passphrase: home.passphrase, listen: '127.0.0.1:0', tensor: false, agent: false, config, logger });
  return {
    node, home, logs,
    repoDir: (name) => path.join(home.home, 'git', `${name}.git`),
    async stop() {
      await node.stop();
      home.cleanup();
    },
  };
}

/** `git fsck --strict` in a server repository: exit 0 and no error lines. */
export async function fsck(dir: string): Promise<Run> {
  const r = await run('git', ['fsck', '--strict', '--no-progress'], { cwd: dir, env: gitEnv({}) });
  return r;
}

/** git's environment: a throwaway HOME, no system config, no prompts, fixed identity. */
export function gitEnv(extra: Record<string, string>, config: Array<[string, string]> = []): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: gitHome(),
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: 'Tester', GIT_AUTHOR_EMAIL: 'tester@example.test',
    GIT_COMMITTER_NAME: 'Tester', GIT_COMMITTER_EMAIL: 'tester@example.test',
    LC_ALL: 'C',
    ...extra,
  };
  const all: Array<[string, string]> = [['init.defaultBranch', 'main'], ['advice.detachedHead', 'false'], ['gc.auto', '0'], ...config];
  env.GIT_CONFIG_COUNT = String(all.length);
  all.forEach(([k, v], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = k;
    env[`GIT_CONFIG_VALUE_${i}`] = v;
  });
  return env;
}

let sharedGitHome: string | null = null;
function gitHome(): string {
  sharedGitHome ??= fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-githome-'));
  return sharedGitHome;
}

export interface GitClient {
  /** The client's own alknet home (its node key is a listed peer of the server). */
  home: TestHome;
  nodeId: string;
  /** A scratch folder for work trees. */
  dir: string;
  /** The remote URL of repository `name` over `transport`. */
  url(transport: Transport, name: string): string;
  /** Runs git with the environment for `transport` (cwd relative to dir). */
  git(transport: Transport, args: string[], cwd?: string, opts?: { timeoutMs?: number }): Promise<Run>;
  env(transport: Transport): NodeJS.ProcessEnv;
  /** The bearer token used over HTTP (git:read, git:write). */
  token: string;
  sshConfig: string;
  stop(): void;
}

export async function gitClient(server: GitNode, opts: { scopes?: string[]; tokenScopes?: string[] } = {}): Promise<GitClient> {
  const home = await makeHome('alknet-gitc-');
  const identity = await homeIdentity(home.home);
  const nodeId = nodeIdFromPublicKey(identity.publicKey);
  const scopes = opts.scopes ?? ['git:read', 'git:write'];
  if (scopes.length > 0) addPeer(server.home.home, nodeId, { scopes });
  const token = addToken(server.home.home, `git-${nodeId.slice(0, 8)}-${Math.random().toString(36).slice(2, 8)}`, opts.tokenScopes ?? ['git:read', 'git:write']).token;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-gitw-'));
  const port = server.node.tcpPort;

  // alknet/git: git runs "$GIT_PROXY_COMMAND HOST PORT"; HOST is the node id of git://NODEID/…
  const proxy = path.join(dir, 'alknet-git-proxy');
  fs.writeFileSync(proxy, `#!/bin/sh\nexec "${process.execPath}" "${BIN}" --home "${home.home}" connect "$1@127.0.0.1:${port}" --alpn alknet/git\n`, { mode: 0o755 });

  // SSH: a client key in the server's authorized_keys, the node's host key pinned.
  const key = path.join(dir, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'git-test', '-f', key]);
  fs.appendFileSync(path.join(server.home.home, 'authorized_keys'), `${fs.readFileSync(`${key}.pub`, 'utf8').trim()}\n`, { mode: 0o600 });
  const hostKey = await server.node.bus.request(VAULT_SYSTEM_ID, 'vault.sshHostKey', {}, { deadlineMs: 10_000 });
  const knownHosts = path.join(dir, 'known_hosts');
  fs.writeFileSync(knownHosts, `alknet-git-node ${hostKey.publicKeyOpenSsh}\n`);
  const sshConfig = path.join(dir, 'ssh_config');
  fs.writeFileSync(sshConfig, [
    'Host alk',
    '  HostName 127.0.0.1',
    '  User git',
    `  IdentityFile ${key}`,
    '  IdentitiesOnly yes',
    '  IdentityAgent none',
    '  HostKeyAlias alknet-git-node',
    `  UserKnownHostsFile ${knownHosts}`,
    '  GlobalKnownHostsFile /dev/null',
    '  StrictHostKeyChecking yes',
    '  BatchMode yes',
    '  LogLevel ERROR',
    `  ProxyCommand "${process.execPath}" "${BIN}" --home "${path.join(dir, 'no-home')}" connect ${server.node.nodeId}@127.0.0.1:${port} --alpn alknet/ssh --tls`,
    '',
  ].join('\n'));

  const envs: Record<Transport, NodeJS.ProcessEnv> = {
    alknet: gitEnv({ GIT_PROXY_COMMAND: proxy, ALKNET_PASSPHRASE: PASSPHRASE }),
    ssh: gitEnv({ GIT_SSH_COMMAND: `ssh -F ${sshConfig}` }),
    // The certificate is self-signed with the node key: no CA check, the key pinned instead.
    http: gitEnv({}, [['http.sslVerify', 'false'], ['http.pinnedPubkey', spkiPin(server.node.nodeId)], ['http.extraHeader', `Authorization: Bearer ${token}`]]),
  };
  return {
    home, nodeId, dir, token, sshConfig,
    url(transport, name) {
      if (transport === 'alknet') return `git://${server.node.nodeId}/${name}.git`;
      if (transport === 'ssh') return `ssh://alk/${name}.git`;
      return `https://127.0.0.1:${port}/git/${name}.git`;
    },
    env: (transport) => envs[transport],
    git(transport, args, cwd, o = {}) {
      return run('git', args, { cwd: cwd ? path.resolve(dir, cwd) : dir, env: envs[transport], ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}) });
    },
    stop() {
      home.cleanup();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
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

/** Asserts a git run succeeded, with its output in the message. */
export function ok(r: Run, what: string): Run {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}${r.why ? `: ${r.why}` : ''}):\n${r.stderr}\n${r.stdout.slice(0, 2000)}`);
  return r;
}
