// Run by hardening.test.ts under a low `ulimit -n`: an echo listener whose warn/error log lines go
// to stdout as JSON, one per line. MAX_CONNECTIONS sets limits.maxConnections (0: the derived
// default). The process closes its listener and exits when its stdin ends.
import { readdirSync } from 'node:fs';
import { startListener } from '../../actors/listener/listener.ts';
import { newKeys, TEST_ALPN } from './fixtures.ts';

const out = (line: object): void => {
  process.stdout.write(`${JSON.stringify(line)}\n`);
};
const listener = await startListener({
  host: '127.0.0.1',
  port: 0,
  alpns: [TEST_ALPN],
  identity: newKeys(),
  // Silent sockets stay until the test closes them; per-IP is not what this fixture is about.
  limits: { maxConnections: Number(process.env.MAX_CONNECTIONS ?? 0), handshakeTimeoutMs: 60_000, perIp: 10_000 },
  logger: {
    debug: () => {},
    info: () => {},
    warn: (fields, msg) => out({ level: 'warn', msg, ...fields }),
    error: (fields, msg) => out({ level: 'error', msg, ...fields }),
  },
  onConnection: (conn) => conn.onStream((stream) => stream.pipe(stream)),
});
out({ ready: true, port: listener.tcpPort, nodeId: listener.nodeId, maxConnections: listener.maxConnections,
  fds: readdirSync('/proc/self/fd').length });
process.stdin.resume();
process.stdin.once('end', () => {
  void listener.close().then(() => {
    out({ closed: true });
    process.stdin.pause();
  });
});
