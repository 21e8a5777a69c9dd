// The bus's public API. Import from here, except when augmenting the Catalogue interface:
// `declare module '<path>/bus/catalogue.ts'` must name the file that declares it.
export {
  defineMessages,
  validate,
  isKnownMessageType,
  hasReply,
  messageSpec,
  messageTypes,
  type Catalogue,
  type MessageSpec,
  type MessageGroup,
  type MessagesOf,
  type MessageType,
  type RequestType,
  type EventType,
  type RequestOf,
  type ReplyOf,
  type PayloadOf,
  type FieldError,
} from './catalogue.ts';
export { coreMessages, Peer, Remote } from './coreMessages.ts';
export {
  BusError,
  ERROR_CODES,
  ErrorShapeSchema,
  isBusError,
  isErrorCode,
  toErrorShape,
  fromErrorShape,
  type ErrorCode,
  type ErrorShape,
  type BusErrorOptions,
} from './errors.ts';
export {
  replyTo,
  failTo,
  failWith,
  childOf,
  isBusRequestEvent,
  type BusRequestEvent,
  type RequestMeta,
  type EventMeta,
  type ReplyPort,
  type Sender,
  type EventHandler,
} from './events.ts';
export {
  Bus,
  createBus,
  type Address,
  type BusOptions,
  type BusLogger,
  type BusHandler,
  type HandlerMap,
  type HandlerMeta,
  type RegisterOptions,
  type RequestOptions,
  type RemoteTransport,
  type RemoteRequestOptions,
  type SendResult,
  type TraceRecord,
} from './bus.ts';
export { encodeEnvelope, decodeEnvelope, EnvelopeSchema, MAX_ENVELOPE_BYTES, type Envelope } from './envelope.ts';
