// The catalogue of bus message types: one TypeBox schema per request (and per reply), with the
// TypeScript types derived from them.
//
// How a module adds its messages (the plainest way that keeps inference, see docs/bus.md):
//
//   // actors/vault/messages.ts
//   import { Type as T } from '@sinclair/typebox';
//   import { defineMessages } from '../../bus/catalogue.ts';
//   export const vaultMessages = defineMessages({
//     'vault.publicKey': { request: T.Object({ path: T.String() }), reply: T.Object({ publicKey: T.String() }) },
//   });
//   declare module '../../bus/catalogue.ts' {
//     interface Catalogue extends MessagesOf<typeof vaultMessages> {}
//   }
//
// `defineMessages` registers the schemas at run time (for `validate`), the `declare module` block
// adds the types to the one `Catalogue` interface (declaration merging) so `bus.request('vault.publicKey', …)`
// is checked everywhere. A message with no `reply` is an event: it is published or sent, never requested.
import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { BusError } from './errors.ts';

export interface MessageSpec {
  /** The payload of the message (for an event, its only schema). */
  request: TSchema;
  /** The reply's payload; absent for an event. */
  reply?: TSchema;
}

export type MessageGroup = Record<string, MessageSpec>;

/**
 * Every message type of the node, by name. Empty here: each group adds itself by declaration
 * merging (see the top of this file). bus/coreMessages.ts is the first example.
 */
export interface Catalogue {}

/** Turns `typeof group` into something an interface can extend. */
export type MessagesOf<G extends MessageGroup> = { [K in keyof G]: G[K] };

export type MessageType = keyof Catalogue & string;

/** The message types that have a reply, i.e. that `bus.request` accepts. */
export type RequestType = {
  [K in MessageType]: Catalogue[K] extends { reply: TSchema } ? K : never;
}[MessageType];

/** The message types without a reply: events for `publish`/`subscribe`. */
export type EventType = Exclude<MessageType, RequestType>;

export type RequestOf<K extends MessageType> = Catalogue[K] extends { request: infer S extends TSchema } ? Static<S> : never;
/** The payload of an event (same as RequestOf; reads better at a publish site). */
export type PayloadOf<K extends MessageType> = RequestOf<K>;
export type ReplyOf<K extends MessageType> = Catalogue[K] extends { reply: infer R extends TSchema } ? Static<R> : void;

interface Registered {
  spec: MessageSpec;
  request: TypeCheck<TSchema>;
  reply?: TypeCheck<TSchema>;
}

const registry = new Map<string, Registered>();

const NAME = /^[a-z][a-zA-Z0-9_-]*(\.[a-zA-Z0-9_-]+)+$/;

/**
 * Declares a group of message types and registers their schemas for `validate`. Names are
 * `area.verb` (at least one dot); `xstate.*` is xstate's own and refused. Declaring the same name
 * twice with a different spec throws: two modules must not disagree on one message.
 */
export function defineMessages<G extends MessageGroup>(group: G): G {
  for (const [name, spec] of Object.entries(group)) {
    if (!NAME.test(name) || name.startsWith('xstate.')) {
      throw new Error(`bad message type name "${name}": use "area.verb" (letters, digits, "-", "_"), not "xstate.*"`);
    }
    const existing = registry.get(name);
    if (existing) {
      if (existing.spec === spec) continue;
      throw new Error(`message type "${name}" is defined twice`);
    }
    // Compiled checks are ~10x faster than Value.Check and are built once per type.
    registry.set(name, {
      spec,
      request: TypeCompiler.Compile(spec.request),
      reply: spec.reply ? TypeCompiler.Compile(spec.reply) : undefined,
    });
  }
  return group;
}

export function isKnownMessageType(type: string): boolean {
  return registry.has(type);
}

/** True for a registered type that has a reply (may be requested). */
export function hasReply(type: string): boolean {
  return registry.get(type)?.reply !== undefined;
}

/** The registered spec, e.g. for `/services/schema`-style discovery. */
export function messageSpec(type: string): MessageSpec | undefined {
  return registry.get(type)?.spec;
}

export function messageTypes(): string[] {
  return [...registry.keys()].sort();
}

/** How many field errors a BusError's details carry at most. */
const MAX_REPORTED_ERRORS = 8;

export interface FieldError {
  /** JSON pointer of the field, "" for the value itself. */
  path: string;
  message: string;
}

/** "/peer/nodeId" -> "peer.nodeId"; "" -> "(value)". */
function fieldName(pointer: string): string {
  if (pointer === '') return '(value)';
  return pointer
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .join('.');
}

/**
 * Checks a message that crossed a process boundary. Returns the value (typed) or a BusError
 * INVALID_INPUT whose message names the first bad field; it never throws, so a caller inside an
 * actor can answer with the error instead of crashing.
 */
export function validate<K extends MessageType>(type: K, part: 'request', value: unknown): RequestOf<K> | BusError;
export function validate<K extends MessageType>(type: K, part: 'reply', value: unknown): ReplyOf<K> | BusError;
export function validate(type: string, part: 'request' | 'reply', value: unknown): unknown;
export function validate(type: string, part: 'request' | 'reply', value: unknown): unknown {
  const entry = registry.get(type);
  if (!entry) return new BusError('INVALID_INPUT', `unknown message type "${String(type).slice(0, 100)}"`);
  const check = part === 'request' ? entry.request : entry.reply;
  if (!check) return new BusError('INVALID_INPUT', `message type "${type}" has no reply`);
  try {
    if (check.Check(value)) return value;
    const errors: FieldError[] = [];
    for (const e of check.Errors(value)) {
      errors.push({ path: e.path, message: e.message });
      if (errors.length >= MAX_REPORTED_ERRORS) break;
    }
    const first = errors[0] ?? { path: '', message: 'does not match the schema' };
    return new BusError('INVALID_INPUT', `invalid ${type} ${part}: field "${fieldName(first.path)}": ${first.message}`, {
      retryable: false,
      details: { errors },
    });
  } catch {
    // A schema that cannot check a value (e.g. a hostile deeply nested one) is still just bad input.
    return new BusError('INVALID_INPUT', `invalid ${type} ${part}: value could not be checked`, { retryable: false });
  }
}
