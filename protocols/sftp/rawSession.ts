// An SFTP session straight on a stream (alknet/sftp: no SSH around it). ssh2's SFTP class parses and
// writes the SFTP packets; it expects to sit on an SSH channel, so it is given the small part of a
// channel it uses: a write (channelData), a close (channelClose) and a send window. The window is
// unbounded; back-pressure comes from the stream instead: while the stream's write buffer is full,
// no more requests are read, so a client that never reads its answers stops being served.
import type { Duplex } from 'node:stream';
import { createRequire } from 'node:module';
import type { SFTPWrapper } from 'ssh2';

const require = createRequire(import.meta.url);
// Not part of ssh2's public exports; pinned by package-lock and covered by test/ssh/sftp.test.ts.
const { SFTP } = require('ssh2/lib/protocol/SFTP.js') as { SFTP: new (client: unknown, chanInfo: unknown, cfg: unknown) => SFTPWrapper & { push(data: Buffer | null): void } };

export function sftpOverStream(stream: Duplex): SFTPWrapper {
  const outgoing = { id: 0, state: 'open', window: Number.POSITIVE_INFINITY, packetSize: 1 << 30 };
  let sftp: (SFTPWrapper & { push(data: Buffer | null): void }) | undefined;
  const protocol = {
    // The OpenSSH client's argument order for SYMLINK is the one `sftp -D` and ssh2 expect.
    _remoteIdentRaw: 'SSH-2.0-OpenSSH_alknet-sftp',
    channelData(_id: number, data: Buffer): void {
      if (stream.destroyed) return;
      if (!stream.write(data)) {
        stream.pause();
        stream.once('drain', () => stream.resume());
      }
    },
    channelEOF(): void {
      stream.end();
    },
    channelClose(): void {
      outgoing.state = 'closed';
      stream.end();
    },
  };
  sftp = new SFTP({ _protocol: protocol }, { type: 'sftp', incoming: { id: 0, window: Number.POSITIVE_INFINITY, packetSize: 1 << 30, state: 'open' }, outgoing }, { server: true });
  stream.on('data', (chunk: Buffer) => sftp!.push(chunk));
  stream.on('end', () => sftp!.push(null));
  stream.on('close', () => {
    outgoing.state = 'closed';
    sftp!.emit('close');
  });
  return sftp;
}
