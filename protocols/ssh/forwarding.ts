// Port forwarding of one logged-in SSH connection, under config.toml [ssh] allowDestinations and
// allowBind: direct-tcpip channels (`ssh -L`, `ssh -D`) connect out to an allowed destination;
// tcpip-forward requests (`ssh -R`) listen on an allowed address and open a forwarded-tcpip channel
// back per accepted connection. A refusal is logged with the connection's remote address and reason.
import net from 'node:net';
import { lookup } from 'node:dns/promises';
import type { Connection as SshConnection, ServerChannel } from 'ssh2';
import type { SessionLog } from '../protocol.ts';
import type { LoginGrant } from './auth.ts';
import type { ForwardPolicy } from './forwardPolicy.ts';

/** `ssh -R` listeners one connection may hold. */
export const MAX_LISTENERS_PER_CONNECTION = 16;
/** direct-tcpip channels one connection may hold at once. */
export const MAX_TUNNELS_PER_CONNECTION = 256;

export interface ForwardingDeps {
  grant: LoginGrant;
  log: SessionLog;
  remote: { host: string; port: number };
  destinations: ForwardPolicy;
  binds: ForwardPolicy;
}

function join(channel: ServerChannel, socket: net.Socket): void {
  channel.on('error', () => socket.destroy());
  socket.on('error', () => channel.destroy());
  socket.pipe(channel).pipe(socket);
  channel.on('close', () => socket.destroy());
  socket.on('close', () => channel.destroy());
}

/** The address to connect to for a name or an address; null when it does not resolve. */
async function resolve(host: string): Promise<string | null> {
  if (net.isIP(host) !== 0) return host;
  try {
    return (await lookup(host)).address;
  } catch {
    return null;
  }
}

/** 'localhost' and '' as OpenSSH clients send them for `-R PORT:…` → the address to listen on. */
function bindAddressOf(requested: string): string {
  if (requested === '' || requested === '*') return '0.0.0.0';
  if (requested === 'localhost') return '127.0.0.1';
  return requested;
}

export function serveForwarding(client: SshConnection, deps: ForwardingDeps): void {
  const { grant, log, remote } = deps;
  const where = `${remote.host}:${remote.port}`;
  let tunnels = 0;
  const listeners = new Map<string, net.Server>();
  client.once('close', () => {
    for (const server of listeners.values()) server.close();
    listeners.clear();
  });

  client.on('tcpip', (accept, reject, info) => {
    const dest = `${String(info.destIP).slice(0, 255)}:${info.destPort}`;
    const refuse = (why: string): void => {
      log.warn({ remote: where, who: grant.who, destination: dest }, `ssh forwarding refused: ${why}`);
      reject();
    };
    if (grant.noPortForwarding) return refuse('no-port-forwarding in authorized_keys');
    if (tunnels >= MAX_TUNNELS_PER_CONNECTION) return refuse(`more than ${MAX_TUNNELS_PER_CONNECTION} tunnels on one connection`);
    tunnels++;
    let counted = true;
    const release = (): void => {
      if (counted) tunnels--;
      counted = false;
    };
    void resolve(info.destIP).then((address) => {
      if (address === null) {
        release();
        return refuse('the destination does not resolve');
      }
      const names = address === info.destIP ? [] : [info.destIP];
      if (!deps.destinations.allows(address, info.destPort, names)) {
        release();
        return refuse(`${address}:${info.destPort} is not in [ssh] allowDestinations (${deps.destinations.describe()})`);
      }
      const socket = net.connect({ host: address, port: info.destPort });
      socket.once('error', (err) => {
        release();
        log.info({ remote: where, destination: dest }, `ssh forwarding: cannot connect: ${err.message}`);
        reject();
      });
      socket.once('connect', () => {
        socket.removeAllListeners('error');
        const channel = accept();
        channel.once('close', release);
        join(channel, socket);
      });
    });
  });

  client.on('request', (accept, reject, name, info) => {
    if (name !== 'tcpip-forward' && name !== 'cancel-tcpip-forward') return reject?.();
    const key = `${info.bindAddr}:${info.bindPort}`;
    if (name === 'cancel-tcpip-forward') {
      const server = listeners.get(key);
      if (!server) return reject?.();
      server.close();
      listeners.delete(key);
      return accept?.();
    }
    const address = bindAddressOf(String(info.bindAddr));
    const refuse = (why: string): void => {
      log.warn({ remote: where, who: grant.who, bind: `${String(info.bindAddr).slice(0, 255)}:${info.bindPort}` }, `ssh remote forwarding refused: ${why}`);
      reject?.();
    };
    if (grant.noPortForwarding) return refuse('no-port-forwarding in authorized_keys');
    if (listeners.size >= MAX_LISTENERS_PER_CONNECTION) return refuse(`more than ${MAX_LISTENERS_PER_CONNECTION} listeners on one connection`);
    if (net.isIP(address) === 0) return refuse('the bind address must be an IP address or localhost');
    // Port 0 lets the node pick: only a rule allowing any port on that address covers it.
    if (info.bindPort === 0 ? !deps.binds.allowsAnyPort(address) : !deps.binds.allows(address, info.bindPort)) {
      return refuse(`${address}:${info.bindPort} is not in [ssh] allowBind (${deps.binds.describe()})`);
    }
    const server = net.createServer((socket) => {
      const port = (server.address() as net.AddressInfo).port;
      client.forwardOut(String(info.bindAddr), port, socket.remoteAddress ?? '', socket.remotePort ?? 0, (err, channel) => {
        if (err) return socket.destroy();
        join(channel, socket);
      });
    });
    server.once('error', (err) => refuse(`cannot listen: ${err.message}`));
    server.listen({ host: address, port: info.bindPort }, () => {
      server.removeAllListeners('error');
      server.on('error', () => {});
      const port = (server.address() as net.AddressInfo).port;
      listeners.set(`${info.bindAddr}:${port}`, server);
      if (info.bindPort === 0) listeners.set(key, server);
      log.info({ remote: where, who: grant.who, bind: `${address}:${port}` }, 'ssh remote forwarding listening');
      accept?.(port);
    });
  });
}
