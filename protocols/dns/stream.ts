// DNS over a byte stream: plain TCP (RFC 7766) and DoT (RFC 7858) carry messages each prefixed by
// a 2-byte big-endian length; DoQ (RFC 9250) carries one such message per QUIC stream.
//
// Limits: a length of 0 or above `maxQueryBytes` closes the connection (no byte of it is buffered);
// at most `maxInFlight` queries of one connection are answered at once (reading pauses past it, and
// while the client does not read its answers); a connection with no query for `idleMs` is closed.
// Answers go back as they are ready (RFC 7766 6.2.1.1 allows any order; each carries its query's id).
import type { Duplex } from 'node:stream';
import type { DnsClient, DnsCore } from './core.ts';
import { messageId } from './wire.ts';

export interface DnsStreamOptions {
  core: DnsCore;
  client: DnsClient;
  maxQueryBytes: number;
  idleMs: number;
  /** Queries of this connection answered at once (default 32). */
  maxInFlight?: number;
  /** Bytes of answers waiting for the client to read before reading stops (default 256 KiB). */
  maxPendingWriteBytes?: number;
  /** Told once why the connection was closed by us (a bad length, idle). */
  onClose?: (reason: string) => void;
}

/** A 2-byte big-endian length, then the message. */
export function frame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(2 + message.length);
  out.writeUInt16BE(message.length, 0);
  out.set(message, 2);
  return out;
}

/** Serves length-prefixed DNS messages on `stream` until it ends; resolves when it has closed. */
export function serveDnsStream(stream: Duplex, options: DnsStreamOptions): Promise<void> {
  const maxInFlight = options.maxInFlight ?? 32;
  const maxPending = options.maxPendingWriteBytes ?? 256 * 1024;
  let chunks: Buffer[] = [];
  let buffered = 0;
  let inFlight = 0;
  let ended = false;
  let closed = false;
  let idle: NodeJS.Timeout | undefined;

  const close = (reason: string): void => {
    if (closed) return;
    closed = true;
    clearTimeout(idle);
    options.onClose?.(reason);
    stream.destroy();
  };
  const armIdle = (): void => {
    clearTimeout(idle);
    if (options.idleMs > 0) idle = setTimeout(() => close('idle'), options.idleMs);
  };
  const finishIfDone = (): void => {
    if (ended && inFlight === 0 && !closed) {
      clearTimeout(idle);
      stream.end();
    }
  };
  const canRead = (): boolean => inFlight < maxInFlight && stream.writableLength < maxPending;
  const resume = (): void => {
    if (!closed && stream.isPaused() && canRead()) {
      stream.resume();
      drain();
    }
  };

  /** Takes every complete message out of the buffer. */
  const drain = (): void => {
    while (!closed && buffered >= 2 && canRead()) {
      const head = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      chunks = [head];
      const length = head.readUInt16BE(0);
      if (length === 0 || length > options.maxQueryBytes) return close(`length prefix ${length} (at most ${options.maxQueryBytes})`);
      if (buffered < 2 + length) return;
      const message = head.subarray(2, 2 + length);
      const rest = head.subarray(2 + length);
      chunks = rest.length > 0 ? [rest] : [];
      buffered = rest.length;
      armIdle();
      inFlight++;
      void options.core
        .answer(message, options.client)
        .catch(() => null)
        .then((answer) => {
          inFlight--;
          if (closed) return;
          // Nothing to answer (a response, a cut header): a stream client would wait for it; close instead.
          if (!answer) return close(`message ${messageId(message)} cannot be answered`);
          stream.write(frame(answer));
          resume();
          finishIfDone();
        });
    }
    if (!closed && !canRead()) stream.pause();
  };

  return new Promise<void>((resolve) => {
    armIdle();
    stream.on('data', (chunk: Buffer) => {
      if (closed) return;
      chunks.push(chunk);
      buffered += chunk.length;
      // Never more than one message's worth buffered before it is checked.
      if (buffered > options.maxQueryBytes + 2 + 65_536) return close('too many bytes buffered');
      drain();
    });
    stream.on('drain', resume);
    stream.on('end', () => {
      ended = true;
      finishIfDone();
    });
    stream.on('error', () => close('stream error'));
    stream.on('close', () => {
      closed = true;
      clearTimeout(idle);
      resolve();
    });
  });
}

export interface DoqStreamOptions {
  core: DnsCore;
  client: DnsClient;
  maxQueryBytes: number;
  /** The stream's whole query must arrive within this (ms). */
  timeoutMs: number;
  /** A protocol error that closes the whole connection (RFC 9250 4.3.3: DOQ_PROTOCOL_ERROR). */
  onProtocolError: (reason: string) => void;
}

/**
 * One DoQ stream (RFC 9250 4.2): one length-prefixed query with message id 0, then the client's FIN;
 * we answer once on the same stream and end it. A non-zero id, a second message or a length over
 * the limit is a protocol error of the connection.
 */
export function serveDoqStream(stream: Duplex, options: DoqStreamOptions): Promise<void> {
  return new Promise<void>((resolve) => {
    let buffered: Buffer = Buffer.alloc(0);
    let answered = false;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve();
    };
    const fail = (reason: string): void => {
      if (done) return;
      stream.destroy();
      finish();
      options.onProtocolError(reason);
    };
    const timer = setTimeout(() => {
      stream.destroy();
      finish();
    }, options.timeoutMs);
    stream.on('data', (chunk: Buffer) => {
      if (done) return;
      if (answered) return fail('DoQ: more than one message on a stream');
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      if (buffered.length < 2) return;
      const length = buffered.readUInt16BE(0);
      if (length === 0 || length > options.maxQueryBytes) return fail(`DoQ: length prefix ${length} (at most ${options.maxQueryBytes})`);
      if (buffered.length > 2 + length) return fail('DoQ: more than one message on a stream');
      if (buffered.length < 2 + length) return;
      answered = true;
      const message = buffered.subarray(2);
      if (message.length < 2 || messageId(message) !== 0) return fail('DoQ: message id must be 0 (RFC 9250 4.2.1)');
      void options.core
        .answer(message, options.client)
        .catch(() => null)
        .then((answer) => {
          if (done) return;
          if (!answer) return fail('DoQ: the message cannot be answered');
          stream.end(frame(answer));
        });
    });
    stream.on('error', finish);
    stream.on('close', finish);
    stream.on('finish', finish);
  });
}
