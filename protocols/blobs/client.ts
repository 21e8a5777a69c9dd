// One connection to one provider: requests go one after the other on one stream (TLS carries one
// stream per connection; QUIC could carry more, one suffices for sequential fetches).
import type { Duplex } from 'node:stream';
import type { Connection, TransportKind } from '../../actors/listener/connection.ts';
import { dial } from '../../actors/listener/dial.ts';
import type { NodeKeyPair } from '../../actors/listener/tlsIdentity.ts';
import type { ByteRange } from '../../actors/fs/hash/bao.ts';
import { ByteReader } from './byteReader.ts';
import { BLOBS_ALPN, BlobsWireError, MAX_RESPONSE_BYTES, decodeResponse, encodeRequest, sliceLength } from './wire.ts';
import type { TransportLogger } from '../../actors/listener/logger.ts';

export interface BlobsClientOptions {
  /** Default 'auto': the node's TLS/TCP path for this bulk ALPN, QUIC if that cannot connect. */
  transport?: TransportKind | 'auto';
  /** Told which path was used ("connected over TLS/TCP"), for verbose output. */
  logger?: TransportLogger;
  knownNodesPath?: string;
  identity?: NodeKeyPair;
  /** Give up when the provider sends nothing for this long (default 30 s). */
  idleMs?: number;
  /** Handshake deadline (default 10 s). */
  timeoutMs?: number;
}

/** The provider answered with an error frame (NOT_FOUND, INVALID_INPUT, …). */
export class ProviderRefusal extends Error {
  override name = 'ProviderRefusal';
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export interface SliceResponse {
  size: number;
  /** Exactly `len` bytes of bao slice; must be read to the end before the next request. */
  body: AsyncIterableIterator<Uint8Array>;
  len: number;
}

export class BlobsClient {
  /** The provider's node id (its verified certificate key). */
  readonly nodeId: string;
  readonly address: string;
  readonly #conn: Connection;
  readonly #stream: Duplex;
  readonly #reader: ByteReader;
  #busy = false;

  private constructor(address: string, conn: Connection, stream: Duplex, idleMs: number) {
    this.address = address;
    this.#conn = conn;
    this.nodeId = conn.peer?.nodeId ?? 'unknown';
    this.#stream = stream;
    this.#stream.on('error', () => {}); // surfaced through the reader
    this.#reader = new ByteReader(stream, { idleMs });
  }

  static async connect(address: string, opts: BlobsClientOptions = {}): Promise<BlobsClient> {
    const conn = await dial(address, {
      alpn: BLOBS_ALPN,
      transport: opts.transport ?? 'auto',
      ...(opts.logger ? { logger: opts.logger } : {}),
      ...(opts.knownNodesPath ? { knownNodesPath: opts.knownNodesPath } : {}),
      ...(opts.identity ? { identity: opts.identity } : {}),
      ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
    });
    try {
      const stream = await conn.openStream();
      return new BlobsClient(address, conn, stream, opts.idleMs ?? 30_000);
    } catch (err) {
      await conn.close('could not open a stream').catch(() => {});
      throw err;
    }
  }

  /**
   * Asks for `ranges` of `hash` (all when none). Resolves with the size the provider claims and
   * the slice bytes to verify; rejects with ProviderRefusal for an error frame.
   */
  async request(hash: string, ranges?: readonly ByteRange[]): Promise<SliceResponse> {
    if (this.#busy) throw new Error('BlobsClient: one request at a time (read the previous body to its end)');
    this.#busy = true;
    try {
      if (!this.#stream.write(encodeRequest(hash, ranges))) await new Promise((r) => this.#stream.once('drain', r));
      const body = await this.#reader.readFrame(MAX_RESPONSE_BYTES, 'response');
      if (body === null) throw new BlobsWireError('the provider closed the stream without answering');
      const response = decodeResponse(body);
      if (response.type === 'error') {
        this.#busy = false;
        throw new ProviderRefusal(response.code, response.message);
      }
      const expected = sliceLength(response.size, ranges);
      if (response.len !== expected) {
        throw new BlobsWireError(`the provider announced a ${response.len}-byte slice; ${expected} bytes prove those ranges of ${response.size} bytes`);
      }
      return {
        size: response.size,
        len: response.len,
        body: this.#reader.pieces(response.len, 'slice', () => {
          this.#busy = false;
        }),
      };
    } catch (err) {
      if (!(err instanceof ProviderRefusal)) this.#busy = true; // the stream's framing is lost: unusable
      throw err;
    }
  }

  /** `abort`: the stream's framing is lost (mid-slice); reset it instead of a graceful end. */
  async close(reason = 'done', opts: { abort?: boolean } = {}): Promise<void> {
    this.#reader.release();
    if (opts.abort || this.#busy) this.#stream.destroy();
    else this.#stream.end();
    await this.#conn.close(reason).catch(() => {});
  }
}
