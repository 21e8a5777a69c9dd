// SOCKS5 (RFC 1928) and its username/password sub-negotiation (RFC 1929), server side, as pure
// functions over the bytes received so far. Each parser answers "need more", a parsed message with
// how many bytes it used, or an error with the reply to send before closing. No message is longer
// than MAX_SOCKS_MESSAGE_BYTES; a client that has sent more than that without completing one is
// refused (lying lengths cannot make the server wait for or hold more).
import { isIPv4, isIPv6 } from 'node:net';

export const MAX_SOCKS_MESSAGE_BYTES = 515;

export const SOCKS_VERSION = 5;
export const METHOD = { NO_AUTH: 0x00, USER_PASS: 0x02, NONE_ACCEPTABLE: 0xff } as const;
export const REPLY = {
  SUCCEEDED: 0x00,
  GENERAL_FAILURE: 0x01,
  NOT_ALLOWED: 0x02,
  NETWORK_UNREACHABLE: 0x03,
  HOST_UNREACHABLE: 0x04,
  CONNECTION_REFUSED: 0x05,
  COMMAND_NOT_SUPPORTED: 0x07,
  ADDRESS_TYPE_NOT_SUPPORTED: 0x08,
} as const;
export const COMMAND = { CONNECT: 0x01, BIND: 0x02, UDP_ASSOCIATE: 0x03 } as const;

export type Parsed<T> =
  | { kind: 'need' }
  | { kind: 'ok'; value: T; used: number }
  | { kind: 'error'; reason: string; reply: Buffer | null };

export interface Greeting {
  methods: number[];
}
export interface Credentials {
  username: string;
  password: string;
}
export interface ConnectRequest {
  command: number;
  host: string;
  port: number;
  addressType: 'ipv4' | 'ipv6' | 'domain';
}

function tooLong<T>(buf: Uint8Array, what: string, reply: Buffer | null): Parsed<T> | null {
  return buf.length > MAX_SOCKS_MESSAGE_BYTES ? { kind: 'error', reason: `${what} longer than ${MAX_SOCKS_MESSAGE_BYTES} bytes`, reply } : null;
}

/** The method-selection reply: [5, METHOD]. */
export function methodReply(method: number): Buffer {
  return Buffer.from([SOCKS_VERSION, method]);
}

/** RFC 1929's status reply: [1, 0 = success]. */
export function authReply(ok: boolean): Buffer {
  return Buffer.from([0x01, ok ? 0x00 : 0x01]);
}

/** A request reply with a zero IPv4 bound address (clients ignore it for CONNECT through a tunnel). */
export function requestReply(code: number): Buffer {
  return Buffer.from([SOCKS_VERSION, code, 0x00, 0x01, 0, 0, 0, 0, 0, 0]);
}

export function parseGreeting(buf: Uint8Array): Parsed<Greeting> {
  if (buf.length < 2) return tooLong(buf, 'greeting', null) ?? { kind: 'need' };
  if (buf[0] !== SOCKS_VERSION) return { kind: 'error', reason: `not SOCKS5 (version byte ${buf[0]})`, reply: null };
  const n = buf[1]!;
  if (n === 0) return { kind: 'error', reason: 'greeting lists no methods', reply: methodReply(METHOD.NONE_ACCEPTABLE) };
  if (buf.length < 2 + n) return tooLong(buf, 'greeting', methodReply(METHOD.NONE_ACCEPTABLE)) ?? { kind: 'need' };
  return { kind: 'ok', value: { methods: [...buf.subarray(2, 2 + n)] }, used: 2 + n };
}

export function parseCredentials(buf: Uint8Array): Parsed<Credentials> {
  const fail = authReply(false);
  if (buf.length < 2) return { kind: 'need' };
  if (buf[0] !== 0x01) return { kind: 'error', reason: `bad username/password version ${buf[0]}`, reply: fail };
  const ulen = buf[1]!;
  if (ulen === 0) return { kind: 'error', reason: 'empty username', reply: fail };
  if (buf.length < 2 + ulen + 1) return tooLong(buf, 'credentials', fail) ?? { kind: 'need' };
  const plen = buf[2 + ulen]!;
  const end = 3 + ulen + plen;
  if (buf.length < end) return tooLong(buf, 'credentials', fail) ?? { kind: 'need' };
  const td = new TextDecoder('utf-8', { fatal: false });
  return { kind: 'ok', value: { username: td.decode(buf.subarray(2, 2 + ulen)), password: td.decode(buf.subarray(3 + ulen, end)) }, used: end };
}

export function parseRequest(buf: Uint8Array): Parsed<ConnectRequest> {
  if (buf.length < 5) return { kind: 'need' };
  if (buf[0] !== SOCKS_VERSION) return { kind: 'error', reason: `request version ${buf[0]}`, reply: requestReply(REPLY.GENERAL_FAILURE) };
  const command = buf[1]!;
  const atyp = buf[3]!;
  let host: string;
  let at: number;
  let addressType: ConnectRequest['addressType'];
  if (atyp === 0x01) {
    if (buf.length < 10) return { kind: 'need' };
    host = [...buf.subarray(4, 8)].join('.');
    at = 8;
    addressType = 'ipv4';
  } else if (atyp === 0x04) {
    if (buf.length < 22) return { kind: 'need' };
    const b = Buffer.from(buf.subarray(4, 20));
    host = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2).toString(16)).join(':');
    at = 20;
    addressType = 'ipv6';
  } else if (atyp === 0x03) {
    const len = buf[4]!;
    if (len === 0) return { kind: 'error', reason: 'empty domain name', reply: requestReply(REPLY.GENERAL_FAILURE) };
    if (buf.length < 5 + len + 2) return { kind: 'need' };
    host = new TextDecoder('utf-8', { fatal: false }).decode(buf.subarray(5, 5 + len));
    if (!/^[A-Za-z0-9._-]+$/.test(host) && !isIPv4(host) && !isIPv6(host)) {
      return { kind: 'error', reason: 'domain name has characters no host name has', reply: requestReply(REPLY.HOST_UNREACHABLE) };
    }
    at = 5 + len;
    addressType = 'domain';
  } else {
    return { kind: 'error', reason: `address type ${atyp}`, reply: requestReply(REPLY.ADDRESS_TYPE_NOT_SUPPORTED) };
  }
  const port = (buf[at]! << 8) | buf[at + 1]!;
  const used = at + 2;
  if (command !== COMMAND.CONNECT) {
    return { kind: 'error', reason: command === COMMAND.BIND ? 'BIND is not supported' : command === COMMAND.UDP_ASSOCIATE ? 'UDP ASSOCIATE is not supported' : `command ${command}`, reply: requestReply(REPLY.COMMAND_NOT_SUPPORTED) };
  }
  return { kind: 'ok', value: { command, host, port, addressType }, used };
}
