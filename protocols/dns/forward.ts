// Forwarding names the node is not authoritative for to configured upstream resolvers ([dns]
// upstreams). The client's query goes out as it came, under a fresh random id from a fresh UDP socket
// (a random source port per query), to the upstreams in order; an answer counts only from the
// upstream's address and port, with our id and the same question. A truncated UDP answer is asked
// again over TCP when the client itself came over a stream. At most `maxInFlight` queries are
// forwarded at once; past that, and when no upstream answers, the caller answers SERVFAIL.
import dgram from 'node:dgram';
import net from 'node:net';
import { randomInt } from 'node:crypto';
import { FLAG, HEADER_BYTES, MAX_MESSAGE_BYTES } from './wire.ts';
import type { Upstream } from './config.ts';

export interface ForwarderOptions {
  /** Per upstream and attempt (default 2000 ms). */
  timeoutMs?: number;
  /** Queries forwarded at once (default 256). */
  maxInFlight?: number;
}

/** The question section's bytes (after the header), lower-cased, for matching an answer to its query. */
function questionBytes(msg: Uint8Array): Buffer | null {
  let pos = HEADER_BYTES;
  while (pos < msg.length && msg[pos] !== 0) {
    if ((msg[pos]! & 0xc0) !== 0) return null; // a compressed question: not ours
    pos += msg[pos]! + 1;
  }
  if (pos + 5 > msg.length) return null;
  return Buffer.from(msg.subarray(HEADER_BYTES, pos + 5).map((b) => (b >= 0x41 && b <= 0x5a ? b + 32 : b)));
}

export class Forwarder {
  readonly #upstreams: Upstream[];
  readonly #timeoutMs: number;
  readonly #maxInFlight: number;
  #inFlight = 0;
  #closed = false;
  readonly #open = new Set<{ close(): void }>();

  constructor(upstreams: readonly Upstream[], options: ForwarderOptions = {}) {
    this.#upstreams = [...upstreams];
    this.#timeoutMs = options.timeoutMs ?? 2000;
    this.#maxInFlight = options.maxInFlight ?? 256;
  }

  get upstreams(): readonly Upstream[] {
    return this.#upstreams;
  }

  /** The upstream's answer with the client's id, or null (none answered, or too many in flight). */
  async forward(query: Uint8Array, overStream: boolean): Promise<Uint8Array | null> {
    if (this.#closed || this.#inFlight >= this.#maxInFlight || this.#upstreams.length === 0) return null;
    const question = questionBytes(query);
    if (!question) return null;
    this.#inFlight++;
    try {
      const clientId = (query[0]! << 8) | query[1]!;
      for (const upstream of this.#upstreams) {
        const id = randomInt(0, 0x10000);
        const out = Buffer.from(query);
        out.writeUInt16BE(id, 0);
        let answer = await this.#udp(upstream, out, id, question).catch(() => null);
        if (answer && overStream && (answer.readUInt16BE(2) & FLAG.TC) !== 0) answer = await this.#tcp(upstream, out, id, question).catch(() => null);
        if (answer) {
          answer.writeUInt16BE(clientId, 0);
          return answer;
        }
      }
      return null;
    } finally {
      this.#inFlight--;
    }
  }

  #matches(msg: Buffer, id: number, question: Buffer): boolean {
    if (msg.length < HEADER_BYTES || msg.readUInt16BE(0) !== id || (msg.readUInt16BE(2) & FLAG.QR) === 0) return false;
    const q = questionBytes(msg);
    return q !== null && q.equals(question);
  }

  #udp(upstream: Upstream, query: Buffer, id: number, question: Buffer): Promise<Buffer | null> {
    return new Promise((resolve) => {
      const socket = dgram.createSocket(net.isIPv6(upstream.host) ? 'udp6' : 'udp4');
      const handle = { close: () => finish(null) };
      const finish = (answer: Buffer | null): void => {
        clearTimeout(timer);
        this.#open.delete(handle);
        try {
          socket.close();
        } catch {
          // already closed
        }
        resolve(answer);
      };
      const timer = setTimeout(() => finish(null), this.#timeoutMs);
      this.#open.add(handle);
      socket.on('error', () => finish(null));
      socket.on('message', (msg, rinfo) => {
        if (rinfo.port !== upstream.port || net.isIP(upstream.host) && rinfo.address !== upstream.host) return;
        if (this.#matches(msg, id, question)) finish(msg);
      });
      socket.send(query, upstream.port, upstream.host, (err) => {
        if (err) finish(null);
      });
    });
  }

  #tcp(upstream: Upstream, query: Buffer, id: number, question: Buffer): Promise<Buffer | null> {
    return new Promise((resolve) => {
      const socket = net.connect({ host: upstream.host, port: upstream.port });
      const handle = { close: () => finish(null) };
      let buffered = Buffer.alloc(0);
      const finish = (answer: Buffer | null): void => {
        clearTimeout(timer);
        this.#open.delete(handle);
        socket.destroy();
        resolve(answer);
      };
      const timer = setTimeout(() => finish(null), this.#timeoutMs);
      this.#open.add(handle);
      socket.on('error', () => finish(null));
      socket.on('close', () => finish(null));
      socket.on('connect', () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(query.length);
        socket.end(Buffer.concat([len, query]));
      });
      socket.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        if (buffered.length > MAX_MESSAGE_BYTES + 2) return finish(null);
        if (buffered.length < 2) return;
        const len = buffered.readUInt16BE(0);
        if (buffered.length < 2 + len) return;
        const msg = buffered.subarray(2, 2 + len);
        finish(this.#matches(msg, id, question) ? Buffer.from(msg) : null);
      });
    });
  }

  /** Ends every forwarded query now (they answer null). */
  close(): void {
    this.#closed = true;
    for (const open of [...this.#open]) open.close();
  }
}
