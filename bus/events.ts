// What an actor receives from the bus, and the helpers a machine uses to answer.
//
//   types: { events: {} as BusRequestEvent<'vault.publicKey' | 'vault.sign'> },
//   on: { 'vault.publicKey': { actions: ({ event }) => replyTo(event, { publicKey }) } }
//
// A machine answers exactly once through `event.replyTo`; the first answer wins and later ones are
// ignored, so a retry path cannot double-answer. Answering is a side effect: do it in an action.
import type { MessageType, ReplyOf, RequestOf } from './catalogue.ts';
import { toErrorShape, type ErrorCode } from './errors.ts';

/** A node's id (z-base-32 of its Ed25519 key). Declared here so the bus imports nothing above it. */
export type NodeId = string;

/**
 * On whose behalf a request runs: set by the operation catalogue once the caller was authorized
 * (its node id, or null for a caller without one). A service uses it to own per-caller state
 * (the tensor engine's handles); authorization itself has already happened.
 */
export interface OnBehalfOf {
  nodeId: NodeId | null;
}

/** Who sent a request: a local systemId, or a remote node (and its actor, when known). */
export type Sender = string | { node: NodeId; actor?: string };

export interface RequestMeta {
  /** Shared by every message caused by one original request, so a trace can follow it. */
  correlationId: string;
  /** Epoch milliseconds after which nobody waits for the answer any more. */
  deadline: number;
  from?: Sender;
  caller?: OnBehalfOf;
}

/** Meta of a published event. */
export interface EventMeta {
  correlationId: string;
}

export interface ReplyPort<R = unknown> {
  reply(payload: R): void;
  fail(code: ErrorCode, message: string, details?: unknown): void;
  /** True once answered, timed out, aborted or failed: further answers are ignored. */
  readonly settled: boolean;
}

/** The event a bus request (or send) delivers to an actor. Distributes over a union of types. */
export type BusRequestEvent<K extends MessageType = MessageType> = K extends MessageType
  ? { type: K; payload: RequestOf<K>; meta: RequestMeta; replyTo: ReplyPort<ReplyOf<K>> }
  : never;

/** The callback form of a published event. */
export type EventHandler<K extends MessageType = MessageType> = (payload: RequestOf<K>, meta: EventMeta) => void | Promise<void>;

/** Answers a bus request from inside an xstate action. */
export function replyTo<R>(event: { replyTo: ReplyPort<R> }, payload: R): void {
  event.replyTo.reply(payload);
}

/** Fails a bus request with a code the caller can act on. */
export function failTo(event: { replyTo: ReplyPort<unknown> }, code: ErrorCode, message: string, details?: unknown): void {
  event.replyTo.fail(code, message, details);
}

/**
 * Fails a bus request with whatever was caught: a BusError keeps its code, anything else becomes a
 * generic INTERNAL (its text is not sent, it may hold internals).
 */
export function failWith(event: { replyTo: ReplyPort<unknown> }, err: unknown): void {
  const shape = toErrorShape(err);
  event.replyTo.fail(shape.code, shape.message, shape.details);
}

/** The options a request made while handling `meta` should carry: same correlation id, no later deadline. */
export function childOf(meta: RequestMeta): { correlationId: string; deadline: number } {
  return { correlationId: meta.correlationId, deadline: meta.deadline };
}

export function isBusRequestEvent(value: unknown): value is BusRequestEvent {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.type === 'string' && typeof v.meta === 'object' && typeof v.replyTo === 'object' && v.replyTo !== null;
}
