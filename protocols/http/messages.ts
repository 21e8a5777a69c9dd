// The HTTP front end's own bus event: one per call it served, so that every HTTP protocol actor
// (h2, http/1.1, alknet/http) counts the calls of all three in /metrics.
import { Type as T } from '@sinclair/typebox';
import { defineMessages, type MessagesOf } from '../../bus/catalogue.ts';

export const httpMessages = defineMessages({
  /** A call through REST, batch, subscribe or MCP ended with this code ('OK' on success). Event. */
  'http.called': {
    request: T.Object({
      operation: T.String({ maxLength: 256 }),
      code: T.String({ maxLength: 32 }),
      alpn: T.String({ maxLength: 255 }),
    }),
  },
});

declare module '../../bus/catalogue.ts' {
  interface Catalogue extends MessagesOf<typeof httpMessages> {}
}
