// The one msgpack codec of the project (msgpackr), shared by the bus bridge and the wire protocols.
// Records/structures are off so every message decodes on its own, without shared state between peers.
import { Packr } from 'msgpackr';

const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

export function encode(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** Throws if the bytes are not exactly one msgpack value. */
export function decode(bytes: Uint8Array): unknown {
  return packr.unpack(bytes);
}
