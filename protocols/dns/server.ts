// Plain DNS on its own port (`alknet node --dns HOST:PORT`, [dns] listen): UDP and TCP on the same
// port number, both answered by one DnsCore. UDP queries in flight are bounded (past the bound a
// query is dropped, as a busy server's would be); TCP connections are bounded in all and per address,
// and each is served by serveDnsStream (length prefix limit, idle timeout, pipelining bound).
import dgram from 'node:dgram';
import net from 'node:net';
import type { DnsCore } from './core.ts';
import { serveDnsStream } from './stream.ts';

export interface PlainDnsOptions {
  host: string;
  /** 0 picks a free port (the same number for UDP and TCP). */
  port: number;
  core: DnsCore;
  maxQueryBytes: number;
  tcpIdleMs: number;
  maxTcpConnections: number;
  maxTcpConnectionsPerIp: number;
  /** UDP queries being answered at once (default 4096). */
  maxUdpInFlight?: number;
  log?: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
}

export interface PlainDnsServer {
  host: string;
  port: number;
  /** host:port ([v6]:port). */
  address: string;
  close(): Promise<void>;
}

function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function normalize(host: string): string {
  return host.startsWith('::ffff:') && host.includes('.') ? host.slice(7) : host;
}

async function bindUdp(host: string, port: number): Promise<dgram.Socket> {
  const socket = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4', reuseAddr: false });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return socket;
}

async function listenTcp(server: net.Server, host: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export async function startPlainDns(options: PlainDnsOptions): Promise<PlainDnsServer> {
  const { core, host } = options;
  const maxUdpInFlight = options.maxUdpInFlight ?? 4096;
  let udpInFlight = 0;
  const sockets = new Set<net.Socket>();
  const perIp = new Map<string, number>();

  const tcp = net.createServer({ pauseOnConnect: false }, (socket) => {
    const address = normalize(socket.remoteAddress ?? '');
    const count = perIp.get(address) ?? 0;
    if (sockets.size >= options.maxTcpConnections || count >= options.maxTcpConnectionsPerIp) {
      socket.destroy();
      return;
    }
    perIp.set(address, count + 1);
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => {});
    void serveDnsStream(socket, { core, client: { address, transport: 'tcp' }, maxQueryBytes: options.maxQueryBytes, idleMs: options.tcpIdleMs }).then(() => {
      sockets.delete(socket);
      const left = (perIp.get(address) ?? 1) - 1;
      if (left > 0) perIp.set(address, left);
      else perIp.delete(address);
    });
  });
  tcp.on('error', (err) => options.log?.warn({ error: err.message }, 'dns: tcp server error'));

  // Port 0: the UDP port is chosen first and TCP takes the same number; retried when TCP's is taken.
  let udp: dgram.Socket | null = null;
  let lastError: unknown;
  for (let attempt = 0; attempt < (options.port === 0 ? 8 : 1) && !udp; attempt++) {
    const socket = await bindUdp(host, options.port);
    const port = socket.address().port;
    try {
      await listenTcp(tcp, host, port);
      udp = socket;
    } catch (err) {
      lastError = err;
      socket.close();
    }
  }
  if (!udp) throw lastError instanceof Error ? lastError : new Error('no free port for DNS on UDP and TCP');
  const port = udp.address().port;
  const udpSocket = udp;

  let closing: Promise<void> | null = null;
  udpSocket.on('message', (msg, rinfo) => {
    if (udpInFlight >= maxUdpInFlight) return;
    udpInFlight++;
    void core
      .answer(msg, { address: normalize(rinfo.address), transport: 'udp' })
      .catch(() => null)
      .then((answer) => {
        udpInFlight--;
        if (!answer || closing) return;
        try {
          udpSocket.send(answer, rinfo.port, rinfo.address, () => {});
        } catch {
          // the socket closed while this query was answered
        }
      });
  });
  udpSocket.on('error', (err) => options.log?.warn({ error: err.message }, 'dns: udp socket error'));
  options.log?.info({ address: formatAddress(host, port) }, 'dns: listening on UDP and TCP');

  return {
    host,
    port,
    address: formatAddress(host, port),
    close() {
      closing ??= (async () => {
        await new Promise<void>((resolve) => udpSocket.close(() => resolve()));
        const closed = new Promise<void>((resolve) => tcp.close(() => resolve()));
        for (const s of sockets) s.destroy();
        await closed;
      })();
      return closing;
    },
  };
}
