// Who may log in over alknet/ssh, decided per authentication request of one SSH connection:
// - a public key listed in HOME/authorized_keys (asked of the peers service: peers.authorizeSshKey),
//   with its options (from=, command=, no-pty, no-port-forwarding);
// - an ssh-ed25519 key whose 32 bytes are a node key the peer list grants the `ssh` scope
//   (peers.authorize), which is how `alknet socks` logs in with the home's node key;
// - a password or keyboard-interactive answer against [ssh.passwords], only when config turns it on.
// Refused attempts are counted per remote address (AuthFailures); past the limit the address is shut
// out for the rest of the minute. Public-key queries (no signature yet) are not failures: a client
// offers each of its keys that way before it signs with one.
import ssh2, { type AuthContext, type Connection as SshConnection } from 'ssh2';
import type { Bus } from '../../bus/bus.ts';
import type { SessionLog } from '../protocol.ts';
import { nodeIdFromPublicKey } from '../../actors/vault/nodeId.ts';
import { PEERS_SYSTEM_ID } from '../../actors/peers/messages.ts';
import { checkPassword } from './passwords.ts';
import type { AuthFailures } from './authFailures.ts';
import type { SshConfig } from '../../supervisors/config.ts';

/** What a login grants: restrictions from authorized_keys, and who it is for log lines. */
export interface LoginGrant {
  /** "key authorized_keys:3 (comment)", "node <id>", "password for <user>". */
  who: string;
  user: string;
  command?: string;
  noPty: boolean;
  noPortForwarding: boolean;
  /** A node that logged in with its key: its id and the scopes its peer entry grants. */
  node?: { nodeId: string; scopes: string[] };
}

/** Attempts (beyond "none") one connection may make, as OpenSSH's MaxAuthTries. */
export const MAX_AUTH_TRIES = 6;

/** The 32 key bytes of an ssh-ed25519 wire blob, or null. */
export function ed25519KeyOf(blob: Uint8Array): Uint8Array | null {
  const b = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  if (b.length !== 4 + 11 + 4 + 32 || b.readUInt32BE(0) !== 11 || b.toString('latin1', 4, 15) !== 'ssh-ed25519' || b.readUInt32BE(15) !== 32) return null;
  return b.subarray(19);
}

interface AuthDeps {
  bus: Bus;
  log: SessionLog;
  alpn: string;
  remote: { host: string; port: number };
  config: SshConfig;
  failures: AuthFailures;
}

type KeyVerdict = { grant: Omit<LoginGrant, 'user'> } | { reason: string };

async function judgeKey(deps: AuthDeps, keyType: string, blob: Buffer): Promise<KeyVerdict> {
  const deadline = { deadlineMs: 10_000 };
  const listed = await deps.bus.request(PEERS_SYSTEM_ID, 'peers.authorizeSshKey', { keyType, publicKey: blob, alpn: deps.alpn, remoteHost: deps.remote.host }, deadline);
  if (listed.allowed) {
    const { command, noPty, noPortForwarding } = listed.options;
    return { grant: { who: `key authorized_keys:${listed.line}${listed.comment ? ` (${listed.comment.slice(0, 60)})` : ''}`, ...(command !== undefined ? { command } : {}), noPty, noPortForwarding } };
  }
  const raw = ed25519KeyOf(blob);
  if (raw === null) return { reason: listed.reason };
  const nodeId = nodeIdFromPublicKey(raw);
  const peer = await deps.bus.request(PEERS_SYSTEM_ID, 'peers.authorize', { nodeId, alpn: deps.alpn, scopes: ['ssh'] }, deadline);
  if (peer.allowed) return { grant: { who: `node ${nodeId}`, noPty: false, noPortForwarding: false, node: { nodeId, scopes: peer.scopes } } };
  return { reason: `${listed.reason}; as node ${nodeId}: ${peer.reason}` };
}

/**
 * Wires the authentication of one SSH connection. `onGrant` is called once, before ssh2's 'ready'.
 * `shutOut` ends the connection when its address is over the failure limit.
 */
export function authenticate(client: SshConnection, deps: AuthDeps, onGrant: (grant: LoginGrant) => void, shutOut: (reason: string) => void): void {
  const { config, failures, log, remote } = deps;
  let tries = 0;
  let refusedQueries = 0;
  let counted = false;
  const methods = ['publickey', ...(config.passwordAuthentication ? ['password'] : []), ...(config.keyboardInteractive ? ['keyboard-interactive'] : [])] as AuthContext['method'][];

  const refuse = (ctx: AuthContext, why: string): void => {
    const count = failures.fail(remote.host);
    counted = true;
    log.warn({ alpn: deps.alpn, remote: `${remote.host}:${remote.port}`, user: ctx.username.slice(0, 64), method: ctx.method, failures: count }, `ssh login refused: ${why}`);
    ctx.reject(methods as never);
    if (failures.blocked(remote.host)) shutOut(`too many refused logins from ${remote.host}`);
  };

  // A connection that offered keys and ended without logging in counts once, so that a client
  // probing key after key (each a query, never a signature) still meets the limit.
  client.once('close', () => {
    if (!client.authenticated && refusedQueries > 0 && !counted) failures.fail(remote.host);
  });

  client.on('authentication', (ctx) => {
    if (failures.blocked(remote.host)) {
      ctx.reject();
      shutOut(`too many refused logins from ${remote.host}`);
      return;
    }
    if (ctx.method === 'none') return ctx.reject(methods as never);
    if (++tries > MAX_AUTH_TRIES) {
      refuse(ctx, `more than ${MAX_AUTH_TRIES} attempts on one connection`);
      shutOut('too many authentication attempts');
      return;
    }
    void (async () => {
      switch (ctx.method) {
        case 'publickey': {
          const verdict = await judgeKey(deps, ctx.key.algo, ctx.key.data);
          if ('reason' in verdict) {
            if (ctx.signature === undefined) {
              refusedQueries++;
              log.info({ alpn: deps.alpn, remote: `${remote.host}:${remote.port}`, user: ctx.username.slice(0, 64) }, `ssh key offered and refused: ${verdict.reason}`);
              return ctx.reject(methods as never);
            }
            return refuse(ctx, verdict.reason);
          }
          if (ctx.signature === undefined) return ctx.accept(); // "this key would do": the client signs next
          const key = ssh2.utils.parseKey(ctx.key.data);
          const valid = !(key instanceof Error) && ctx.blob !== undefined && key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true;
          if (!valid) return refuse(ctx, 'bad public-key signature');
          onGrant({ ...verdict.grant, user: ctx.username });
          return ctx.accept();
        }
        case 'password': {
          if (!config.passwordAuthentication) return refuse(ctx, 'password authentication is off ([ssh] passwordAuthentication)');
          if (!(await checkPassword(config.passwords[ctx.username], ctx.password))) return refuse(ctx, 'wrong password or unknown user');
          onGrant({ who: `password for ${ctx.username.slice(0, 64)}`, user: ctx.username, noPty: false, noPortForwarding: false });
          return ctx.accept();
        }
        case 'keyboard-interactive': {
          if (!config.keyboardInteractive) return refuse(ctx, 'keyboard-interactive authentication is off ([ssh] keyboardInteractive)');
          ctx.prompt([{ prompt: 'Password: ', echo: false }], (answers) => {
            void checkPassword(config.passwords[ctx.username], answers[0] ?? '').then((ok) => {
              if (!ok) return refuse(ctx, 'wrong password or unknown user');
              onGrant({ who: `password for ${ctx.username.slice(0, 64)}`, user: ctx.username, noPty: false, noPortForwarding: false });
              ctx.accept();
            });
          });
          return;
        }
        default:
          return refuse(ctx, `method ${ctx.method} is not offered`);
      }
    })().catch((err: unknown) => {
      log.warn({ alpn: deps.alpn, remote: `${remote.host}:${remote.port}`, error: err instanceof Error ? err.message : String(err) }, 'ssh login could not be checked');
      try {
        ctx.reject();
      } catch {
        // the connection is gone
      }
    });
  });
}
