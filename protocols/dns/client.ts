// A small DNS client: one question over UDP (again over TCP when the answer comes back truncated),
// over TCP, or over a stream of a QUIC connection (DoQ: message id 0, one query per stream). Used by
// `alknet dns resolve` and the tests. Answers are decoded by dns-packet (which refuses forward
// compression pointers); one it cannot decode, or with another id, is an error with a reason.
import dgram from 'node:dgram';
import net from 'node:net';
import { randomInt } from 'node:crypto';
import type { Duplex } from 'node:stream';
import dnsPacket from 'dns-packet';
import { frame } from './stream.ts';
import { FLAG, MAX_MESSAGE_BYTES, typeName, typeNumber } from './wire.ts';
import type { Upstream } from './config.ts';

export interface DnsQuestionOptions {
  name: string;
  /** Mnemonic ('A', 'TXT', ...) or a number. */
  type: string | number;
  /** EDNS(0) UDP size to offer (default 1232); 0 sends no OPT record. */
  udpSize?: number;
  /** Recursion desired (default true). */
  recursion?: boolean;
  /** Message id (default random; DoQ uses 0). */
  id?: number;
}

export interface DnsResult {
  rcode: string;
  /** Header flags as dns-packet reads them. */
  aa: boolean;
  tc: boolean;
  ra: boolean;
  answers: dnsPacket.Answer[];
  authorities: dnsPacket.Answer[];
  /** 'udp', 'tcp' (also after a truncated UDP answer) or 'doq'. */
  transport: 'udp' | 'tcp' | 'doq';
  bytes: number;
}

export function buildQuery(options: DnsQuestionOptions): Buffer {
  const type = typeof options.type === 'number' ? options.type : typeNumber(options.type);
  if (!type) throw new Error(`unknown record type "${String(options.type).slice(0, 20)}"`);
  const udpSize = options.udpSize ?? 1232;
  return dnsPacket.encode({
    type: 'query',
    id: options.id ?? randomInt(0, 0x10000),
    flags: options.recursion === false ? 0 : dnsPacket.RECURSION_DESIRED,
    questions: [{ name: options.name, type: typeName(type) as dnsPacket.RecordType, class: 'IN' }],
    ...(udpSize > 0 ? { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: udpSize } as unknown as dnsPacket.Answer] } : {}),
  });
}

function decodeAnswer(bytes: Buffer, id: number, transport: DnsResult['transport']): DnsResult {
  if (bytes.length < 12) throw new Error(`answer of ${bytes.length} bytes is no DNS message`);
  let packet: dnsPacket.DecodedPacket;
  try {
    packet = dnsPacket.decode(bytes);
  } catch (err) {
    throw new Error(`malformed answer: ${(err as Error).message}`);
  }
  if (packet.id !== id) throw new Error(`answer id ${packet.id} does not match the query's ${id}`);
  const flags = packet.flags ?? 0;
  return {
    rcode: (packet as { rcode?: string }).rcode ?? 'NOERROR',
    aa: (flags & FLAG.AA) !== 0,
    tc: (flags & FLAG.TC) !== 0,
    ra: (flags & FLAG.RA) !== 0,
    answers: packet.answers ?? [],
    authorities: packet.authorities ?? [],
    transport,
    bytes: bytes.length,
  };
}

/** One UDP exchange; resolves with the raw answer. */
export function udpExchange(server: Upstream, query: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket(net.isIPv6(server.host) ? 'udp6' : 'udp4');
    const id = query.readUInt16BE(0);
    const done = (err: Error | null, answer?: Buffer): void => {
      clearTimeout(timer);
      socket.close();
      if (err) reject(err);
      else resolve(answer!);
    };
    const timer = setTimeout(() => done(new Error(`no answer from ${server.host}:${server.port} over UDP within ${timeoutMs} ms`)), timeoutMs);
    socket.on('error', (err) => done(err));
    socket.on('message', (msg) => {
      if (msg.length >= 2 && msg.readUInt16BE(0) === id) done(null, msg);
    });
    socket.send(query, server.port, server.host, (err) => {
      if (err) done(err);
    });
  });
}

/** Reads one length-prefixed message from a stream (at most MAX_MESSAGE_BYTES). */
export function readFramed(stream: Duplex, timeoutMs: number, what: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const done = (err: Error | null, msg?: Buffer): void => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onEnd);
      if (err) reject(err);
      else resolve(msg!);
    };
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) done(null, buffered.subarray(2, 2 + buffered.readUInt16BE(0)));
      else if (buffered.length > MAX_MESSAGE_BYTES + 2) done(new Error(`${what}: answer too long`));
    };
    const onEnd = (): void => done(new Error(`${what}: the server closed the stream without an answer`));
    const onError = (err: Error): void => done(new Error(`${what}: ${err.message}`));
    const timer = setTimeout(() => done(new Error(`${what}: no answer within ${timeoutMs} ms`)), timeoutMs);
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('close', onEnd);
    stream.on('error', onError);
  });
}

/** One TCP exchange (a fresh connection); resolves with the raw answer. */
export async function tcpExchange(server: Upstream, query: Buffer, timeoutMs: number): Promise<Buffer> {
  const socket = net.connect({ host: server.host, port: server.port });
  socket.setNoDelay(true);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`cannot connect to ${server.host}:${server.port} over TCP within ${timeoutMs} ms`)), timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    const answer = readFramed(socket, timeoutMs, `${server.host}:${server.port} over TCP`);
    socket.write(frame(query));
    return await answer;
  } finally {
    socket.destroy();
  }
}

/** Asks `server` over UDP (then TCP if the answer is truncated), or over TCP only. */
export async function resolveDns(server: Upstream, question: DnsQuestionOptions, options: { transport?: 'udp' | 'tcp'; timeoutMs?: number } = {}): Promise<DnsResult> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const query = buildQuery(question);
  const id = query.readUInt16BE(0);
  if (options.transport !== 'tcp') {
    const result = decodeAnswer(await udpExchange(server, query, timeoutMs), id, 'udp');
    if (!result.tc) return result;
  }
  return decodeAnswer(await tcpExchange(server, query, timeoutMs), id, 'tcp');
}

/** Asks over DoQ on a stream of a QUIC connection made with ALPN "doq" (message id 0). */
export async function resolveDoq(openStream: () => Promise<Duplex>, question: DnsQuestionOptions, timeoutMs = 5000): Promise<DnsResult> {
  const query = buildQuery({ ...question, id: 0 });
  const stream = await openStream();
  try {
    const answer = readFramed(stream, timeoutMs, 'DoQ');
    stream.end(frame(query));
    return decodeAnswer(await answer, 0, 'doq');
  } finally {
    stream.destroy();
  }
}
