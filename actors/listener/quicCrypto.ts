// The crypto hooks js-quic asks for. The server signs its stateless-retry tokens and connection
// ids with an HMAC under a random per-process key (nothing persists, so a restart just makes
// in-flight retry tokens invalid); the client only needs random bytes.
import { createHmac, randomBytes, randomFillSync, timingSafeEqual } from 'node:crypto';
import type { QUICClientCrypto, QUICServerCrypto } from '@matrixai/quic';

function toArrayBuffer(bytes: Buffer): ArrayBuffer {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return copy.buffer;
}

function hmac(key: ArrayBuffer, data: ArrayBuffer): Buffer {
  return createHmac('sha256', Buffer.from(key)).update(Buffer.from(data)).digest();
}

export function quicServerCrypto(): QUICServerCrypto {
  const key = randomBytes(32);
  return {
    key: toArrayBuffer(key),
    ops: {
      async sign(k: ArrayBuffer, data: ArrayBuffer): Promise<ArrayBuffer> {
        return toArrayBuffer(hmac(k, data));
      },
      async verify(k: ArrayBuffer, data: ArrayBuffer, sig: ArrayBuffer): Promise<boolean> {
        const expected = hmac(k, data);
        const given = Buffer.from(sig);
        return given.length === expected.length && timingSafeEqual(given, expected);
      },
    },
  };
}

export function quicClientCrypto(): QUICClientCrypto {
  return {
    ops: {
      async randomBytes(data: ArrayBuffer): Promise<void> {
        randomFillSync(new Uint8Array(data));
      },
    },
  };
}
