// alknet/ssh: the connection's stream carries plain SSH bytes, served by one ssh2 Server shared by
// the protocol actor's sessions (made in `start`, with the vault's SSH host key m/74'/0'/1'/0', so
// the host key is the same across restarts and derivable from the mnemonic). Each accepted stream
// is injected into that server; the session child wires authentication (auth.ts), session channels
// (sessions.ts) and forwarding (forwarding.ts) for its one SSH connection.
import type { Duplex } from 'node:stream';
import ssh2, { type Connection as SshConnection, type Server } from 'ssh2';
import { sessionFromHandler, type ProtocolSpec, type SessionServices } from '../protocol.ts';
import { VAULT_SYSTEM_ID } from '../../actors/vault/messages.ts';
import { DEFAULT_CONFIG, type SshConfig } from '../../supervisors/config.ts';
import { authenticate, type LoginGrant } from './auth.ts';
import { AuthFailures } from './authFailures.ts';
import { ForwardPolicy } from './forwardPolicy.ts';
import { serveForwarding } from './forwarding.ts';
import { serveSessions, type SftpSubsystem, type SshExecHandler } from './sessions.ts';
import { resolveAccount, type Account } from './account.ts';

export const SSH_ALPN = 'alknet/ssh';

export interface SshProtocolOptions {
  /** config.toml [ssh] (defaults when absent). */
  config?: SshConfig;
  /** Serves the sftp subsystem; without it the subsystem is refused. */
  sftp?: SftpSubsystem;
  /** Commands other protocols serve on exec channels (git-upload-pack, git-receive-pack); others run in the shell. */
  exec?: readonly SshExecHandler[];
  /** A client not logged in this long after its stream opened is disconnected (default 30 s). */
  loginGraceMs?: number;
}

export interface SshShared {
  server: Server;
  /** Streams injected into the server, waiting for ssh2 to announce their SSH connection. */
  waiting: WeakMap<Duplex, (client: SshConnection) => void>;
  failures: AuthFailures;
  destinations: ForwardPolicy;
  binds: ForwardPolicy;
  account: Account;
  hostKeyOpenSsh: string;
}

/** The stream under an ssh2 server-side connection (ssh2 keeps it as `_sock`; typed once here). */
function streamOf(client: SshConnection): Duplex | undefined {
  return (client as unknown as { _sock?: Duplex })._sock;
}

export function sshProtocol(options: SshProtocolOptions = {}): ProtocolSpec<SshShared> {
  const config = options.config ?? DEFAULT_CONFIG.ssh;
  const loginGraceMs = options.loginGraceMs ?? 30_000;
  return {
    alpn: SSH_ALPN,
    async start(services: SessionServices): Promise<SshShared> {
      const hostKey = await services.bus.request(VAULT_SYSTEM_ID, 'vault.sshHostKey', {}, { deadlineMs: 30_000 });
      const waiting = new WeakMap<Duplex, (client: SshConnection) => void>();
      const server = new ssh2.Server({ hostKeys: [hostKey.privateKeyOpenSsh], ident: 'alknet' });
      server.on('connection', (client) => {
        const stream = streamOf(client);
        const handler = stream && waiting.get(stream);
        if (!handler) return client.end();
        waiting.delete(stream!);
        handler(client);
      });
      server.on('error', (err: Error) => services.log.warn({ alpn: SSH_ALPN, error: err.message }, 'ssh server error'));
      return {
        server,
        waiting,
        failures: new AuthFailures({ perMinute: config.maxAuthFailuresPerMinute }),
        destinations: new ForwardPolicy(config.allowDestinations),
        binds: new ForwardPolicy(config.allowBind),
        account: resolveAccount(config),
        hostKeyOpenSsh: hostKey.publicKeyOpenSsh,
      };
    },
    stop(shared) {
      shared.server.removeAllListeners('connection');
    },
    session: sessionFromHandler<SshShared>(({ conn, services, shared }) => {
      const { log, bus } = services;
      const remote = conn.remote;
      const where = `${remote.host}:${remote.port}`;
      let client: SshConnection | undefined;
      let taken = false;
      let shutOut = false;
      let grant: LoginGrant | undefined;
      const close = (reason: string): void => {
        void conn.close(reason).catch(() => {});
      };
      const grace = setTimeout(() => {
        if (!client?.authenticated) {
          log.info({ alpn: SSH_ALPN, remote: where }, `ssh: not logged in within ${loginGraceMs} ms; closing`);
          close('ssh: login grace time is over');
        }
      }, loginGraceMs);
      grace.unref();

      conn.onStream((stream) => {
        // One SSH connection per alknet connection: further QUIC streams are refused.
        if (taken) return stream.destroy();
        taken = true;
        stream.on('error', () => {});
        shared.waiting.set(stream, (c) => {
          client = c;
          c.on('error', (err: Error & { level?: string }) => {
            log.info({ alpn: SSH_ALPN, remote: where, error: err.message.slice(0, 200) }, 'ssh connection error');
          });
          c.on('close', () => close('ssh connection ended'));
          authenticate(c, { bus, log, alpn: SSH_ALPN, remote, config, failures: shared.failures }, (g) => {
            grant = g;
          }, (reason) => {
            // Once per connection: a client may send another request before the end reaches it.
            if (shutOut) return;
            shutOut = true;
            log.warn({ alpn: SSH_ALPN, remote: where }, `ssh: ${reason}; closing`);
            c.end();
            close(`ssh: ${reason}`);
          });
          c.on('ready', () => {
            clearTimeout(grace);
            const g = grant!;
            log.info({ alpn: SSH_ALPN, remote: where, who: g.who, user: g.user.slice(0, 64), transport: conn.transport }, 'ssh login');
            serveSessions(c, { account: shared.account, grant: g, log, remote, bus, ...(options.sftp ? { sftp: options.sftp } : {}), ...(options.exec ? { exec: options.exec } : {}) });
            serveForwarding(c, { grant: g, log, remote, destinations: shared.destinations, binds: shared.binds });
          });
        });
        shared.server.injectSocket(stream as never);
      });
      return () => {
        clearTimeout(grace);
        try {
          client?.end();
        } catch {
          // already gone
        }
      };
    }),
  };
}
