// alknet/sftp: the stream is an SFTP session with no SSH around it (`sftp -D "alknet connect ADDR
// --alpn alknet/sftp"`). The caller is the node key it showed in its certificate, allowed when the
// peer list grants it scope `sftp` (or `ssh`). The same file server serves the `sftp` subsystem of
// alknet/ssh (wired in protocols/builtin.ts: `sftpSubsystem`).
import type { SFTPWrapper } from 'ssh2';
import { sessionFromHandler, type ProtocolSpec, type SessionLog } from '../protocol.ts';
import { PEERS_SYSTEM_ID } from '../../actors/peers/messages.ts';
import { SftpRoot } from './rootPath.ts';
import { serveSftp } from './fileServer.ts';
import { sftpOverStream } from './rawSession.ts';

export const SFTP_ALPN = 'alknet/sftp';

export interface SftpShared {
  root: SftpRoot;
}

/** The `sftp` subsystem for alknet/ssh: the same file server on an SSH channel. */
export function sftpSubsystem(rootDir: string): (sftp: SFTPWrapper, who: { who: string; remote: string; log: SessionLog }) => void {
  return (sftp, who) => {
    // Synchronously: ssh2 answers "unsupported" to a request that arrives before a handler exists.
    let root: SftpRoot;
    try {
      root = SftpRoot.openSync(rootDir);
    } catch (err) {
      who.log.warn({ root: rootDir, error: (err as Error).message }, 'sftp root unavailable');
      sftp.end();
      return;
    }
    serveSftp(sftp, root, who);
  };
}

export function sftpProtocol(opts: { root: string }): ProtocolSpec<SftpShared> {
  return {
    alpn: SFTP_ALPN,
    async start() {
      return { root: await SftpRoot.open(opts.root) };
    },
    session: sessionFromHandler<SftpShared>(({ conn, services, shared }) => {
      const { log, bus } = services;
      const remote = `${conn.remote.host}:${conn.remote.port}`;
      let taken = false;
      conn.onStream((stream) => {
        if (taken) return stream.destroy();
        taken = true;
        stream.on('error', () => {});
        // Hold the stream's bytes until the caller is known: nothing is parsed before that.
        stream.pause();
        const nodeId = conn.peer?.nodeId ?? null;
        void (async () => {
          for (const scope of ['sftp', 'ssh']) {
            const r = await bus.request(PEERS_SYSTEM_ID, 'peers.authorize', { nodeId, alpn: SFTP_ALPN, scopes: [scope] }, { deadlineMs: 10_000 });
            if (r.allowed) return `node ${nodeId}`;
          }
          return null;
        })().then((who) => {
          if (who === null) {
            log.warn({ alpn: SFTP_ALPN, remote, peer: nodeId ?? 'anonymous' }, 'sftp refused: the caller has neither scope "sftp" nor "ssh"');
            void conn.close('alknet/sftp needs scope "sftp" or "ssh"');
            return;
          }
          log.info({ alpn: SFTP_ALPN, remote, who }, 'sftp session');
          const sftp = sftpOverStream(stream);
          serveSftp(sftp, shared.root, { log, who, remote });
          stream.resume();
        }, (err: Error) => {
          log.warn({ alpn: SFTP_ALPN, remote, error: err.message }, 'sftp: could not check the caller');
          void conn.close('alknet/sftp: authorization unavailable');
        });
      });
    }),
  };
}
