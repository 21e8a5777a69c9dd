// The catalogue's own bus event: one per call from a front end (alknet/call, the HTTP gateway,
// MCP), so /metrics counts every call whichever way it came. Nested calls from handlers are not
// counted (they carry no `via`).
import { Type as T } from '@sinclair/typebox';
import { defineMessages, type MessagesOf } from '../bus/catalogue.ts';

export const operationsMessages = defineMessages({
  /** A call ended with this code ('OK' on success; a subscription when it ends). Event. */
  'operations.called': {
    request: T.Object({
      operation: T.String({ maxLength: 256 }),
      code: T.String({ maxLength: 32 }),
      /** The front end's ALPN (alknet/call, h2, http/1.1, alknet/http). */
      via: T.String({ maxLength: 255 }),
    }),
  },
});

declare module '../bus/catalogue.ts' {
  interface Catalogue extends MessagesOf<typeof operationsMessages> {}
}
