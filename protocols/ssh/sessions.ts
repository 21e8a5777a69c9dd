// Session channels of one SSH connection: exec and shell (with or without a PTY), env, window-change,
// signals, exit status, and the sftp subsystem. Commands run through the account's shell
// (`shell -c COMMAND`), as the node's user or [ssh] runAs; a forced command from authorized_keys
// replaces whatever the client asked for (the original is in SSH_ORIGINAL_COMMAND).
import { spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import * as pty from '@lydell/node-pty';
import type { Connection as SshConnection, PseudoTtyInfo, ServerChannel, SFTPWrapper } from 'ssh2';
import type { Duplex, Writable } from 'node:stream';
import type { Bus } from '../../bus/bus.ts';
import type { SessionLog } from '../protocol.ts';
import type { LoginGrant } from './auth.ts';
import { acceptsEnv, childEnv, commandLine, workingDir, type Account } from './account.ts';

/** Serves SFTP on an accepted subsystem channel (given by the node: protocols/sftp's file server). */
export type SftpSubsystem = (sftp: SFTPWrapper, who: { user: string; who: string; remote: string; log: SessionLog }) => void;

/**
 * A command another protocol serves itself on an exec channel (e.g. `git-upload-pack '/repo.git'`),
 * given by the node (protocols/builtin.ts) as the sftp subsystem is. A handler that claims the
 * command returns how to run it; one that does not returns null and the account's shell runs it.
 * A forced command (authorized_keys command=) is never offered to handlers.
 */
export interface SshExecRequest {
  command: string;
  user: string;
  /** For log lines: "key authorized_keys:3 (comment)", "node <id>", "password for <user>". */
  who: string;
  /** The node that logged in with its node key, or null for an account login (authorized_keys, password). */
  nodeId: string | null;
  /** A node login: its peer entry's scopes. An account login can run any command as the node's user, so it holds every scope ("*"). */
  scopes: ReadonlySet<string>;
  remote: string;
  log: SessionLog;
  bus: Bus;
}
export interface SshExecChannel {
  /** The client's stdin (readable) and stdout (writable). */
  stream: Duplex;
  stderr: Writable;
  /** Sends the exit status and closes the channel. */
  exit(code: number): void;
}
export type SshExecHandler = (request: SshExecRequest) => ((channel: SshExecChannel) => void) | null;

/** Session channels one connection may hold at once (OpenSSH's MaxSessions). */
export const MAX_SESSIONS_PER_CONNECTION = 10;

const SIGNALS = new Set(['ABRT', 'ALRM', 'FPE', 'HUP', 'ILL', 'INT', 'KILL', 'PIPE', 'QUIT', 'SEGV', 'TERM', 'USR1', 'USR2']);

export interface SessionDeps {
  account: Account;
  grant: LoginGrant;
  log: SessionLog;
  remote: { host: string; port: number };
  sftp?: SftpSubsystem;
  /** Commands other protocols serve (git); tried in order before the shell. */
  exec?: readonly SshExecHandler[];
  bus?: Bus;
}

/** A running child, with or without a PTY: what signals and window changes act on. */
interface Running {
  kill(signal: string): void;
  resize(cols: number, rows: number): void;
}

function exitWith(channel: ServerChannel, code: number | null, signal: string | null): void {
  try {
    if (signal) channel.exit(signal.replace(/^SIG/, ''), false, '');
    else channel.exit(code ?? 0);
    channel.end();
  } catch {
    // the channel is already closed
  }
}

function runPiped(channel: ServerChannel, deps: SessionDeps, args: string[], env: Record<string, string>): Running {
  const { account } = deps;
  const line = commandLine(account, args);
  const child = spawn(line.file, line.args, { cwd: workingDir(account), env, stdio: 'pipe' });
  let done = false;
  child.stdin.on('error', () => {}); // the command may exit without reading its input
  channel.on('error', () => {});
  channel.pipe(child.stdin);
  child.stdout.pipe(channel, { end: false });
  child.stderr.pipe(channel.stderr, { end: false });
  child.on('error', (err) => {
    if (done) return;
    done = true;
    channel.stderr.write(`alknet: cannot start ${account.shell}: ${err.message}\n`);
    exitWith(channel, 127, null);
  });
  child.on('close', (code, signal) => {
    if (done) return;
    done = true;
    exitWith(channel, code, signal);
  });
  channel.on('close', () => {
    if (!done && child.exitCode === null) child.kill('SIGHUP');
  });
  return {
    kill: (signal) => child.kill(`SIG${signal}` as NodeJS.Signals),
    resize: () => {},
  };
}

function runWithPty(channel: ServerChannel, deps: SessionDeps, args: string[], env: Record<string, string>, info: PseudoTtyInfo): Running {
  const { account } = deps;
  const line = commandLine(account, args);
  const term = pty.spawn(line.file, line.args, {
    name: env.TERM ?? 'xterm',
    cols: Math.max(1, Math.min(info.cols || 80, 1000)),
    rows: Math.max(1, Math.min(info.rows || 24, 1000)),
    cwd: workingDir(account),
    env,
    encoding: null,
  });
  let done = false;
  term.onData((data) => channel.write(data));
  channel.on('data', (data: Buffer) => term.write(data as unknown as string));
  channel.on('error', () => {});
  term.onExit(({ exitCode, signal }) => {
    if (done) return;
    done = true;
    exitWith(channel, exitCode, signalName(signal));
  });
  channel.on('close', () => {
    if (!done) term.kill('SIGHUP');
  });
  return {
    kill: (signal) => term.kill(`SIG${signal}`),
    resize: (cols, rows) => {
      if (!done) term.resize(Math.max(1, Math.min(cols, 1000)), Math.max(1, Math.min(rows, 1000)));
    },
  };
}

function signalName(signal: number | undefined): string | null {
  if (!signal) return null;
  return Object.entries(osConstants.signals).find(([, n]) => n === signal)?.[0] ?? null;
}

/** Handles the 'session' channels of one logged-in connection. */
export function serveSessions(client: SshConnection, deps: SessionDeps): void {
  const { grant, log, remote } = deps;
  let open = 0;
  const where = `${remote.host}:${remote.port}`;
  client.on('session', (acceptSession, rejectSession) => {
    if (open >= MAX_SESSIONS_PER_CONNECTION) {
      log.warn({ remote: where }, `ssh session refused: more than ${MAX_SESSIONS_PER_CONNECTION} at once on one connection`);
      return rejectSession();
    }
    open++;
    const session = acceptSession();
    session.once('close', () => open--);
    let ptyInfo: PseudoTtyInfo | undefined;
    let running: Running | undefined;
    const env: Record<string, string> = {};

    session.on('pty', (accept, reject, info) => {
      if (grant.noPty) {
        log.info({ remote: where }, 'ssh pty refused: no-pty in authorized_keys');
        return reject?.();
      }
      ptyInfo = info;
      accept?.();
    });
    session.on('window-change', (accept, _reject, info) => {
      if (ptyInfo) ptyInfo = { ...ptyInfo, cols: info.cols, rows: info.rows };
      running?.resize(info.cols, info.rows);
      accept?.();
    });
    session.on('env', (accept, reject, info) => {
      if (!acceptsEnv(info.key) || String(info.val).length > 4096) return reject?.();
      env[info.key] = String(info.val);
      accept?.();
    });
    session.on('signal', (accept, reject, info) => {
      if (!running || !SIGNALS.has(info.name)) return reject?.();
      running.kill(info.name);
      accept?.();
    });
    session.on('auth-agent', (_accept, reject) => reject?.());
    session.on('x11', (_accept, reject) => reject?.());

    const start = (channel: ServerChannel, requested: string | null): void => {
      const command = grant.command ?? requested;
      const extra: Record<string, string> = {
        ...env,
        SSH_CONNECTION: `${remote.host} ${remote.port} 0.0.0.0 0`,
        ...(grant.command !== undefined && requested !== null ? { SSH_ORIGINAL_COMMAND: requested } : {}),
        ...(ptyInfo ? { TERM: ptyInfo.term || 'xterm' } : {}),
      };
      const args = command === null ? ['-l'] : ['-c', command];
      log.info({ remote: where, who: grant.who, pty: ptyInfo !== undefined, kind: command === null ? 'shell' : 'exec' }, 'ssh session started');
      try {
        running = ptyInfo ? runWithPty(channel, deps, args, childEnv(deps.account, extra), ptyInfo) : runPiped(channel, deps, args, childEnv(deps.account, extra));
      } catch (err) {
        channel.stderr.write(`alknet: cannot start a session: ${(err as Error).message}\n`);
        exitWith(channel, 127, null);
      }
    };
    session.on('exec', (accept, _reject, info) => {
      if (grant.command === undefined && deps.bus) {
        const request: SshExecRequest = {
          command: info.command, user: grant.user, who: grant.who, nodeId: grant.node?.nodeId ?? null,
          scopes: new Set(grant.node ? grant.node.scopes : ['*']), remote: where, log, bus: deps.bus,
        };
        for (const handler of deps.exec ?? []) {
          const run = handler(request);
          if (!run) continue;
          const channel = accept();
          channel.on('error', () => {});
          run({ stream: channel, stderr: channel.stderr, exit: (code) => exitWith(channel, code, null) });
          return;
        }
      }
      start(accept(), info.command);
    });
    session.on('shell', (accept) => start(accept(), null));
    session.on('sftp', (accept, reject) => {
      if (grant.command !== undefined) {
        // A forced command replaces every request, sftp included (as in OpenSSH).
        return start(accept() as unknown as ServerChannel, 'internal-sftp');
      }
      if (!deps.sftp) return reject();
      const sftp = accept();
      // scp and sftp read the subsystem's exit status; ssh2's SFTP object has no exit(), so it is
      // sent on its channel here, before the file server closes the channel on the client's EOF.
      sftp.once('end', () => {
        const raw = sftp as unknown as { _protocol?: { exitStatus?(id: number, status: number): void }; outgoing?: { id: number; state: string } };
        if (raw.outgoing?.state === 'open') raw._protocol?.exitStatus?.(raw.outgoing.id, 0);
      });
      deps.sftp(sftp, { user: grant.user, who: grant.who, remote: where, log });
    });
    session.on('subsystem', (_accept, reject, info) => {
      log.info({ remote: where, subsystem: String(info.name).slice(0, 64) }, 'ssh subsystem refused: only sftp is served');
      reject();
    });
  });
}
