// The account shells and commands run as: the node's own user, or (when the node runs as root and
// [ssh] runAs names a user) that user, with its uid, gid, home and login shell from the passwd
// database. Privileges are dropped by util-linux's setpriv (--reuid, --regid, --init-groups: the
// user's own supplementary groups, as sshd's initgroups), never by node-pty's uid/gid options, which
// keep the node's supplementary groups. The environment a child gets is built here from nothing,
// never inherited: the node's own environment may hold ALKNET_PASSPHRASE.
import fs from 'node:fs';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import type { SshConfig } from '../../supervisors/config.ts';

export interface Account {
  name: string;
  uid?: number;
  gid?: number;
  /** With uid/gid: the setpriv program that drops to them. */
  setpriv?: string;
  home: string;
  shell: string;
}

function passwdEntry(name: string): { uid: number; gid: number; home: string; shell: string } {
  let line: string;
  try {
    line = execFileSync('getent', ['passwd', name], { encoding: 'utf8', timeout: 5_000 }).trim().split('\n')[0] ?? '';
  } catch {
    throw new Error(`[ssh] runAs: no user "${name.slice(0, 64)}" in the passwd database`);
  }
  const f = line.split(':');
  if (f.length < 7) throw new Error(`[ssh] runAs: cannot read the passwd entry of "${name.slice(0, 64)}"`);
  return { uid: Number(f[2]), gid: Number(f[3]), home: f[5]!, shell: f[6]! };
}

const SETPRIV_PATHS = ['/usr/bin/setpriv', '/bin/setpriv'];

export function resolveAccount(config: SshConfig): Account {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (config.runAs !== null && config.runAs !== '' && isRoot) {
    const e = passwdEntry(config.runAs);
    const setpriv = SETPRIV_PATHS.find((p) => fs.existsSync(p));
    if (setpriv === undefined) throw new Error(`[ssh] runAs needs setpriv (util-linux) to drop privileges; none in ${SETPRIV_PATHS.join(', ')}`);
    return { name: config.runAs, uid: e.uid, gid: e.gid, setpriv, home: e.home || '/', shell: config.shell ?? (e.shell || '/bin/sh') };
  }
  const me = os.userInfo();
  return { name: me.username, home: me.homedir, shell: config.shell ?? (process.env.SHELL || me.shell || '/bin/sh') };
}

/** Variables a client may set with `SendEnv`/`SetEnv` (as OpenSSH's usual AcceptEnv LANG LC_*). */
export function acceptsEnv(name: string): boolean {
  return /^(LANG|LC_[A-Z]+|TZ|COLORTERM)$/.test(name);
}

export function childEnv(account: Account, extra: Record<string, string>): Record<string, string> {
  return {
    HOME: account.home,
    USER: account.name,
    LOGNAME: account.name,
    SHELL: account.shell,
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    ...extra,
  };
}

/** Where a session starts: the account's home, or "/" when that is not a folder (as sshd does for nobody's /nonexistent). */
export function workingDir(account: Account): string {
  try {
    if (fs.statSync(account.home).isDirectory()) return account.home;
  } catch {
    // no such home
  }
  return '/';
}

/** The program and arguments that run `shell args` as the account (through setpriv when it is another user). */
export function commandLine(account: Account, args: string[]): { file: string; args: string[] } {
  if (account.uid === undefined || account.setpriv === undefined) return { file: account.shell, args };
  return { file: account.setpriv, args: [`--reuid=${account.uid}`, `--regid=${account.gid}`, '--init-groups', '--', account.shell, ...args] };
}
