// A local SOCKS5 server whose CONNECTs leave through an SSH connection's direct-tcpip channels (what
// `alknet socks` runs; the node then applies its [ssh] forwarding policy). One TCP connection at a
// time goes through greeting → optional username/password → request → tunnel; a malformed message
// gets its reply code (where RFC 1928 has one) and the connection is closed, the others go on.
import net from 'node:net';
import { timingSafeEqual, createHash } from 'node:crypto';
import type { Client, ClientChannel } from 'ssh2';
import {
  METHOD, REPLY, authReply, methodReply, parseCredentials, parseGreeting, parseRequest, requestReply,
  type Parsed,
} from './socks5.ts';

export interface SocksServerOptions {
  /** The SSH client to open tunnels on; asked per CONNECT (it may reconnect). */
  ssh: () => Promise<Client>;
  /** RFC 1929 credentials required of clients; without them, no authentication. */
  credentials?: { username: string; password: string };
  /** A client that has not finished its SOCKS handshake in this long is closed (default 10 s). */
  handshakeMs?: number;
  log?: (line: string) => void;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

type Stage = 'greeting' | 'credentials' | 'request' | 'tunnel';

export function createSocksServer(opts: SocksServerOptions): net.Server {
  const log = opts.log ?? (() => {});
  return net.createServer((socket) => {
    let buf = Buffer.alloc(0);
    let stage: Stage = 'greeting';
    socket.setNoDelay(true);
    socket.on('error', () => {});
    const timer = setTimeout(() => {
      log(`socks: ${socket.remoteAddress}:${socket.remotePort} did not finish its handshake; closed`);
      socket.destroy();
    }, opts.handshakeMs ?? 10_000);
    timer.unref();

    const refuse = (reason: string, reply: Buffer | null): void => {
      log(`socks: ${socket.remoteAddress}:${socket.remotePort}: ${reason}; closed`);
      clearTimeout(timer);
      if (reply) socket.end(reply);
      else socket.destroy();
      stage = 'tunnel'; // read nothing more
    };
    const step = <T>(parsed: Parsed<T>, then: (value: T) => void): boolean => {
      if (parsed.kind === 'need') return false;
      if (parsed.kind === 'error') {
        refuse(parsed.reason, parsed.reply);
        return false;
      }
      buf = buf.subarray(parsed.used);
      then(parsed.value);
      return true;
    };

    const connect = (host: string, port: number): void => {
      socket.pause();
      opts.ssh().then((client) => {
        client.forwardOut('127.0.0.1', 0, host, port, (err: Error | undefined, channel: ClientChannel) => {
          if (err) {
            // SSH's open-failure reason 1 is "administratively prohibited"; ssh2's server sends
            // "connect failed" (2) for every refusal, policy included, so that is the usual answer.
            const code = (err as Error & { reason?: number }).reason === 1 ? REPLY.NOT_ALLOWED : REPLY.CONNECTION_REFUSED;
            return refuse(`CONNECT ${host}:${port} refused by the node: ${err.message}`, requestReply(code));
          }
          clearTimeout(timer);
          socket.write(requestReply(REPLY.SUCCEEDED));
          if (buf.length > 0) channel.write(buf);
          socket.pipe(channel).pipe(socket);
          channel.on('error', () => socket.destroy());
          channel.on('close', () => socket.destroy());
          socket.on('close', () => channel.destroy());
          socket.resume();
        });
      }, (err: Error) => refuse(`no SSH connection to the node: ${err.message}`, requestReply(REPLY.GENERAL_FAILURE)));
    };

    const onData = (chunk: Buffer): void => {
      if ((stage as Stage) === 'tunnel') return;
      buf = Buffer.concat([buf, chunk]);
      for (let progressed = true; progressed && (stage as Stage) !== 'tunnel';) {
        progressed = false;
        if (stage === 'greeting') {
          progressed = step(parseGreeting(buf), ({ methods }) => {
            const want = opts.credentials ? METHOD.USER_PASS : METHOD.NO_AUTH;
            if (!methods.includes(want)) return refuse(`no acceptable method among [${methods.join(',')}]`, methodReply(METHOD.NONE_ACCEPTABLE));
            socket.write(methodReply(want));
            stage = opts.credentials ? 'credentials' : 'request';
          });
        } else if (stage === 'credentials') {
          progressed = step(parseCredentials(buf), ({ username, password }) => {
            const c = opts.credentials!;
            // Both compared, always, so the time taken does not say which one was wrong.
            const ok = sameSecret(username, c.username) && sameSecret(password, c.password);
            if (!ok) return refuse('wrong username or password', authReply(false));
            socket.write(authReply(true));
            stage = 'request';
          });
        } else if (stage === 'request') {
          progressed = step(parseRequest(buf), ({ host, port }) => {
            stage = 'tunnel';
            socket.removeListener('data', onData);
            connect(host, port);
          });
        }
      }
    };
    socket.on('data', onData);
    socket.on('close', () => clearTimeout(timer));
  });
}
