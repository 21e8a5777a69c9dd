// The data a supervisor is made of (OTP's child specs and supervisor flags) and the small, serialisable
// context it keeps. Nothing here holds a logic, an input or an error: the inspector shows contexts, so
// they stay free of anything secret or huge.
import type { AnyActorLogic, AnyActorRef } from 'xstate';

/** permanent: always restarted; transient: restarted only after an error; temporary: never. */
export type Restart = 'permanent' | 'transient' | 'temporary';

export type Strategy = 'one_for_one' | 'one_for_all' | 'rest_for_one';

export interface ChildSpec {
  /** Unique among the supervisor's children; names the child in the tree and in events. */
  id: string;
  /** Registered in the actor system (and on the bus, when one is given) while the child runs. */
  systemId?: string;
  logic: AnyActorLogic;
  input?: unknown;
  restart: Restart;
  /**
   * Time the child has to reach a final state after `{type: 'shutdown'}` before it is stopped
   * forcibly. Default 5000. `Infinity` waits for ever (OTP's `infinity`, meant for supervisors).
   */
  shutdownMs?: number;
  /** Bus mailbox of the child (requests in flight plus waiting) when it has a systemId; past it, BUSY. Default: the bus's (1024). */
  mailbox?: number;
}

export interface Intensity {
  maxRestarts: number;
  withinMs: number;
}

export interface SupervisorSpec {
  id: string;
  strategy: Strategy;
  /** More than maxRestarts restarts within withinMs make the supervisor fail. Default 3 in 5000. */
  intensity?: Intensity;
  children: ChildSpec[];
}

/** What the supervisor needs from the bus: register a running child, get back its unregister. */
export interface BusRegistry {
  register(systemId: string, ref: AnyActorRef, options?: { mailbox?: number }): () => void;
}

export interface SupervisorInput {
  bus?: BusRegistry;
}

/** One child as the supervisor tracks it, in start order. */
export interface ChildRecord {
  id: string;
  systemId?: string;
  restart: Restart;
  /** The running instance's actor id (`<id>#<generation>`), or null while the child is not running. */
  instance: string | null;
  /** How many instances of this child have been started. */
  generation: number;
}

export interface SupervisorContext {
  id: string;
  strategy: Strategy;
  maxRestarts: number;
  withinMs: number;
  children: ChildRecord[];
  /** Restarts counted inside the current intensity window. */
  restarts: number;
  /** Children still to stop, next first (reverse start order). */
  stopQueue: string[];
  /** The child being stopped now: sent `shutdown`, waiting for its exit or its timeout. */
  current: { id: string; instance: string } | null;
  /** Children to (re)start once stopQueue is drained, in start order. */
  startQueue: string[];
  /** Why the supervisor is escalating, once it is. */
  escalation: { childId: string; reason: string } | null;
}
