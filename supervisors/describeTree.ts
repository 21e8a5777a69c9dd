// A plain, JSON-safe picture of a running supervision tree, for `/node/actors` and the inspector:
// each supervisor's children in start order (also those not running now), other actors' children as
// xstate lists them. Only ids and states: no contexts, so nothing secret or huge leaks out.
import type { AnyActorRef } from 'xstate';
import { isSupervisorLogic } from './supervisor.ts';
import type { SupervisorContext } from './types.ts';

export interface ActorState {
  /** 'active' | 'done' | 'error' | 'stopped'. */
  status: string;
  /** The state value, for state machines. */
  value?: unknown;
}

export interface TreeNode {
  id: string;
  systemId?: string;
  state: ActorState;
  children: TreeNode[];
}

/** Deeper than this, the walk stops (a guard against a runaway tree, not a real limit). */
const MAX_DEPTH = 32;

interface SnapshotLike {
  status?: string;
  value?: unknown;
  context?: unknown;
  children?: Record<string, AnyActorRef | undefined>;
}

/** xstate keeps an actor's systemId on the actor but not in the ActorRef type. */
function systemIdOf(ref: AnyActorRef): string | undefined {
  const systemId = (ref as { systemId?: unknown }).systemId;
  return typeof systemId === 'string' ? systemId : undefined;
}

function stateOf(snapshot: SnapshotLike | undefined): ActorState {
  const status = snapshot?.status ?? 'stopped';
  return snapshot && 'value' in snapshot ? { status, value: snapshot.value } : { status };
}

function walk(ref: AnyActorRef, id: string, systemId: string | undefined, depth: number): TreeNode {
  const snapshot = ref.getSnapshot() as SnapshotLike | undefined;
  const node: TreeNode = { id, ...(systemId === undefined ? {} : { systemId }), state: stateOf(snapshot), children: [] };
  if (depth >= MAX_DEPTH || snapshot?.status !== 'active') return node;
  const live = snapshot.children ?? {};
  if (isSupervisorLogic(ref.src)) {
    const context = snapshot.context as SupervisorContext;
    for (const child of context.children) {
      const childRef = child.instance === null ? undefined : live[child.instance];
      node.children.push(
        childRef
          ? walk(childRef, child.id, child.systemId, depth + 1)
          : { id: child.id, ...(child.systemId === undefined ? {} : { systemId: child.systemId }), state: { status: 'stopped' }, children: [] },
      );
    }
  } else {
    for (const [childId, childRef] of Object.entries(live)) {
      if (childRef) node.children.push(walk(childRef, childId, systemIdOf(childRef), depth + 1));
    }
  }
  return node;
}

/** Describes the tree under `ref` (usually the root supervisor actor). */
export function describeTree(ref: AnyActorRef): TreeNode {
  const snapshot = ref.getSnapshot() as SnapshotLike | undefined;
  const rootId = isSupervisorLogic(ref.src) && snapshot?.context ? (snapshot.context as SupervisorContext).id : ref.id;
  return walk(ref, rootId, systemIdOf(ref), 0);
}
