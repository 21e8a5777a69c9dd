// The envelope a bus message travels in when it leaves the process: msgpack (bus/codec.ts) of
// {type, correlationId, to?, deadlineMs?, payload}. Binary payload fields stay binary (msgpack bin),
// no base64. Decoding is size-limited and never throws anything but BusError('INVALID_INPUT').
import { Type as T, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { decode, encode } from './codec.ts';
import { BusError } from './errors.ts';

/** Same default limit as a call frame (DESIGN.md: 16 MiB). */
export const MAX_ENVELOPE_BYTES = 16 * 1024 * 1024;

export const EnvelopeSchema = T.Object({
  type: T.String({ minLength: 1, maxLength: 128 }),
  correlationId: T.String({ minLength: 1, maxLength: 128 }),
  /** The target actor's systemId on the receiving node. */
  to: T.Optional(T.String({ minLength: 1, maxLength: 128 })),
  /** Time left when sent (relative: clocks of two nodes disagree). */
  deadlineMs: T.Optional(T.Integer({ minimum: 0, maximum: 2 ** 31 - 1 })),
  payload: T.Unknown(),
});
export type Envelope = Static<typeof EnvelopeSchema>;

const checkEnvelope = TypeCompiler.Compile(EnvelopeSchema);

function firstError(value: unknown): string {
  const e = checkEnvelope.Errors(value).First();
  if (!e) return 'does not match the schema';
  return `field "${e.path === '' ? '(value)' : e.path.slice(1).replace(/\//g, '.')}": ${e.message}`;
}

export function encodeEnvelope(envelope: Envelope, maxBytes = MAX_ENVELOPE_BYTES): Uint8Array {
  if (!checkEnvelope.Check(envelope)) throw new BusError('INVALID_INPUT', `invalid envelope: ${firstError(envelope)}`);
  const bytes = encode(envelope);
  if (bytes.length > maxBytes) throw new BusError('INVALID_INPUT', `envelope of ${bytes.length} bytes is over the limit of ${maxBytes}`);
  return bytes;
}

export function decodeEnvelope(bytes: Uint8Array, maxBytes = MAX_ENVELOPE_BYTES): Envelope {
  if (bytes.length === 0) throw new BusError('INVALID_INPUT', 'empty envelope');
  if (bytes.length > maxBytes) throw new BusError('INVALID_INPUT', `envelope of ${bytes.length} bytes is over the limit of ${maxBytes}`);
  let value: unknown;
  try {
    value = decode(bytes);
  } catch {
    // The decoder's own message can quote the decoded data: keep it out of errors and logs.
    throw new BusError('INVALID_INPUT', 'envelope is not one msgpack value');
  }
  let ok: boolean;
  try {
    ok = checkEnvelope.Check(value);
  } catch {
    throw new BusError('INVALID_INPUT', 'envelope could not be checked');
  }
  if (!ok) throw new BusError('INVALID_INPUT', `invalid envelope: ${firstError(value)}`);
  return value as Envelope;
}
