// config.toml in the node's home folder. Every key is optional; a missing file means all defaults.
// A malformed file or a wrong type is a one-line ConfigError naming the key, never a stack trace
// (the CLI prints its message as is). Node-level: startNode reads it, and so does the CLI.
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'smol-toml';
import { DEFAULT_DNS_CONFIG, readDnsConfig, type DnsConfig } from '../protocols/dns/config.ts';
import { DEFAULT_GIT_CONFIG, readGitConfig, type GitConfig } from '../protocols/git/config.ts';
import { DEFAULT_HTTP_LIMITS, type HttpLimits } from '../protocols/http/limits.ts';


/** config.toml is unreadable or wrong; the message names the file and the key. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface NodeConfig {
  /** host:port for QUIC (UDP) and TLS (TCP), same port number. */
  listen: string;
  /** [dns]: the DNS front end (protocols/dns/config.ts; docs/dns.md). `dns = "HOST:PORT"` sets only its listen address. */
  dns: DnsConfig;
  limits: {
    perIp: number;
    idleTimeoutMs: number;
    maxStreamsPerConnection: number;
    drainMs: number;
    quicRetryAbove: number;
    /** A TLS or QUIC handshake not finished within this is dropped, ms (TLS: counted from the TCP accept). */
    handshakeTimeoutMs: number;
    /** Connections at once, TLS + QUIC, handshakes included; 0 = derived from the open-file limit (docs/transport.md). */
    maxConnections: number;
    /** Refusal log lines per kind per second; the rest are counted in a "suppressed" line. */
    refusalLogsPerSecond: number;
    /** Largest request frame from a caller that is not a known peer (alknet/call), bytes. */
    maxFirstFrameBytes: number;
    /** Largest frame from a known peer, bytes. */
    maxFrameBytes: number;
    /** Bytes the whole node buffers on behalf of clients (large partial frames), bytes. */
    clientBufferBytes: number;
    /** Per-call cost budget of tensor/run (sum over ops of elements × op factor; docs/tensor.md). */
    tensorMaxCost: number;
  };
  log: { level: string };
  ssh: SshConfig;
  http: HttpConfig;
  pkarr: PkarrConfig;
  /** [git]: the git server's limits (protocols/git/config.ts; docs/git.md). */
  git: GitConfig;
}

/** [pkarr] in config.toml: signed records, relays and the Mainline DHT (docs/pkarr.md). */
export interface PkarrConfig {
  /** Relays to publish to and resolve from: pkarr relay URLs (https://…) or alknet nodes (NODEID@host:port). */
  relays: string[];
  /** Run a Mainline DHT node (BEP44) for publishing and resolving (default false). */
  dht: boolean;
  /** UDP host:port of the DHT node (default "0.0.0.0:0": any free port). */
  dhtListen: string;
  /**
   * host:port of DHT nodes to join through. Empty (the default) joins nobody: never the public DHT
   * unless it is listed (docs/pkarr.md gives the Mainline routers a deployment sets).
   */
  dhtBootstrap: string[];
  /** Signed packets kept (the node's own and other keys'); past it the least recently stored go (default 10000). */
  maxRecords: number;
  /** Addresses to publish instead of the listen address (e.g. a public address behind NAT). */
  addresses: string[];
  /** Publish the node's own packet at start and every republishMinutes (default false). */
  publish: boolean;
  /** Minutes between republishing the node's own packet when publish is on (default 60). */
  republishMinutes: number;
  /** DNS servers (host:port) asked for _alknet.<id> TXT when connecting to a node by id alone. */
  dnsServers: string[];
  /**
   * The relay API's PUTs per minute from one address (IPv4, or IPv6 /64); past it 429 with
   * Retry-After, so one client cannot evict everyone's records by flooding new keys (default 120; 0: no limit).
   */
  relayPutsPerMinute: number;
  /** PUTs one address may make at once before the per-minute rate applies (default 30). */
  relayPutBurst: number;
}

/** [http] in config.toml: the HTTP front end's limits (h2, http/1.1, alknet/http; docs/http.md). */
export type HttpConfig = HttpLimits;

/** [ssh] in config.toml: the alknet/ssh and alknet/sftp servers (docs/ssh.md). */
export interface SshConfig {
  /** `HOST:PORT` patterns `ssh -L`/`-D` may reach (HOST: an IP, a CIDR, a name or `*`; PORT: a number or `*`). */
  allowDestinations: string[];
  /** `HOST:PORT` patterns `ssh -R` may listen on, same form. */
  allowBind: string[];
  /** Password authentication against [ssh.passwords] (off by default). */
  passwordAuthentication: boolean;
  /** Keyboard-interactive authentication against [ssh.passwords] (off by default). */
  keyboardInteractive: boolean;
  /** user → `scrypt:<salt base64>:<hash base64>` (docs/ssh.md says how to make one). */
  passwords: Record<string, string>;
  /** Refused logins per remote address per minute before that address is shut out (default 5). */
  maxAuthFailuresPerMinute: number;
  /** When the node runs as root: the user shells, commands and SFTP run as (null: the node's user). */
  runAs: string | null;
  /** The folder SFTP serves, relative to the home folder or absolute (default "files"). */
  sftpRoot: string;
  /** The login shell for `ssh` without a command (default: $SHELL, else /bin/sh). */
  shell: string | null;
}

export const DEFAULT_CONFIG: NodeConfig = {
  listen: '127.0.0.1:4433',
  dns: DEFAULT_DNS_CONFIG,
  limits: {
    perIp: 100,
    idleTimeoutMs: 30_000,
    maxStreamsPerConnection: 100,
    drainMs: 2_000,
    quicRetryAbove: 16,
    handshakeTimeoutMs: 10_000,
    maxConnections: 0,
    refusalLogsPerSecond: 10,
    maxFirstFrameBytes: 64 * 1024,
    maxFrameBytes: 16 * 1024 * 1024,
    clientBufferBytes: 256 * 1024 * 1024,
    tensorMaxCost: 1e10,
  },
  log: { level: 'info' },
  ssh: {
    allowDestinations: ['127.0.0.1:*'],
    allowBind: ['127.0.0.1:*'],
    passwordAuthentication: false,
    keyboardInteractive: false,
    passwords: {},
    maxAuthFailuresPerMinute: 5,
    runAs: null,
    sftpRoot: 'files',
    shell: null,
  },
  http: DEFAULT_HTTP_LIMITS,
  pkarr: {
    relays: [],
    dht: false,
    dhtListen: '0.0.0.0:0',
    dhtBootstrap: [],
    maxRecords: 10_000,
    addresses: [],
    publish: false,
    republishMinutes: 60,
    dnsServers: [],
    relayPutsPerMinute: 120,
    relayPutBurst: 30,
  },
  git: DEFAULT_GIT_CONFIG,
};

export function configPath(home: string): string {
  return path.join(home, 'config.toml');
}

export function loadConfig(home: string): NodeConfig {
  const file = configPath(home);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return structuredClone(DEFAULT_CONFIG);
    throw new ConfigError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let raw: Record<string, unknown>;
  try {
    raw = parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(`${file} is not valid TOML: ${(err as Error).message.split('\n')[0]}`);
  }
  const config = structuredClone(DEFAULT_CONFIG);
  const str = (key: string, v: unknown): string => {
    if (typeof v !== 'string') throw new ConfigError(`${file}: "${key}" must be a string`);
    return v;
  };
  const num = (key: string, v: unknown): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ConfigError(`${file}: "${key}" must be a non-negative number`);
    return v;
  };
  if (raw.listen !== undefined) config.listen = str('listen', raw.listen);
  try {
    config.dns = readDnsConfig(raw.dns);
  } catch (err) {
    throw new ConfigError(`${file}: ${(err as Error).message}`);
  }
  try {
    config.git = readGitConfig(raw.git);
  } catch (err) {
    throw new ConfigError(`${file}: ${(err as Error).message}`);
  }
  const limits = raw.limits as Record<string, unknown> | undefined;
  if (limits !== undefined) {
    if (typeof limits !== 'object' || limits === null) throw new ConfigError(`${file}: [limits] must be a table`);
    for (const key of Object.keys(config.limits) as (keyof NodeConfig['limits'])[]) {
      if (limits[key] !== undefined) config.limits[key] = num(`limits.${key}`, limits[key]);
    }
  }
  const httpTable = raw.http as Record<string, unknown> | undefined;
  if (httpTable !== undefined) {
    if (typeof httpTable !== 'object' || httpTable === null || Array.isArray(httpTable)) throw new ConfigError(`${file}: [http] must be a table`);
    for (const key of Object.keys(httpTable)) {
      if (!(key in config.http)) throw new ConfigError(`${file}: unknown key "http.${key}"`);
      config.http[key as keyof HttpConfig] = num(`http.${key}`, httpTable[key]);
    }
  }
  const log = raw.log as Record<string, unknown> | undefined;
  if (log?.level !== undefined) config.log.level = str('log.level', log.level);
  const ssh = raw.ssh as Record<string, unknown> | undefined;
  if (ssh !== undefined) {
    if (typeof ssh !== 'object' || ssh === null) throw new ConfigError(`${file}: [ssh] must be a table`);
    const bool = (key: string, v: unknown): boolean => {
      if (typeof v !== 'boolean') throw new ConfigError(`${file}: "${key}" must be true or false`);
      return v;
    };
    const strings = (key: string, v: unknown): string[] => {
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new ConfigError(`${file}: "${key}" must be an array of strings`);
      return v as string[];
    };
    const c = config.ssh;
    if (ssh.allowDestinations !== undefined) c.allowDestinations = strings('ssh.allowDestinations', ssh.allowDestinations);
    if (ssh.allowBind !== undefined) c.allowBind = strings('ssh.allowBind', ssh.allowBind);
    if (ssh.passwordAuthentication !== undefined) c.passwordAuthentication = bool('ssh.passwordAuthentication', ssh.passwordAuthentication);
    if (ssh.keyboardInteractive !== undefined) c.keyboardInteractive = bool('ssh.keyboardInteractive', ssh.keyboardInteractive);
    if (ssh.maxAuthFailuresPerMinute !== undefined) c.maxAuthFailuresPerMinute = num('ssh.maxAuthFailuresPerMinute', ssh.maxAuthFailuresPerMinute);
    if (ssh.runAs !== undefined) c.runAs = str('ssh.runAs', ssh.runAs);
    if (ssh.sftpRoot !== undefined) c.sftpRoot = str('ssh.sftpRoot', ssh.sftpRoot);
    if (ssh.shell !== undefined) c.shell = str('ssh.shell', ssh.shell);
    if (ssh.passwords !== undefined) {
      if (typeof ssh.passwords !== 'object' || ssh.passwords === null || Array.isArray(ssh.passwords)) throw new ConfigError(`${file}: [ssh.passwords] must be a table`);
      for (const [user, hash] of Object.entries(ssh.passwords)) c.passwords[user] = str(`ssh.passwords.${user}`, hash);
    }
  }
  const pkarr = raw.pkarr as Record<string, unknown> | undefined;
  if (pkarr !== undefined) {
    if (typeof pkarr !== 'object' || pkarr === null || Array.isArray(pkarr)) throw new ConfigError(`${file}: [pkarr] must be a table`);
    const c = config.pkarr;
    for (const key of Object.keys(pkarr)) {
      const v = pkarr[key];
      const at = `pkarr.${key}`;
      switch (key) {
        case 'relays': case 'dhtBootstrap': case 'addresses': case 'dnsServers':
          if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new ConfigError(`${file}: "${at}" must be an array of strings`);
          c[key] = v as string[];
          break;
        case 'dht': case 'publish':
          if (typeof v !== 'boolean') throw new ConfigError(`${file}: "${at}" must be true or false`);
          c[key] = v;
          break;
        case 'dhtListen':
          c.dhtListen = str(at, v);
          break;
        case 'maxRecords': case 'republishMinutes': case 'relayPutsPerMinute': case 'relayPutBurst':
          c[key] = num(at, v);
          break;
        default:
          throw new ConfigError(`${file}: unknown key "${at}"`);
      }
    }
  }
  return config;
}
