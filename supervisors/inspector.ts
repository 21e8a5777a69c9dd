// `alknet node --inspect[=PORT]`: the actor system's inspection stream for the Stately inspector.
// A WebSocket relay bound to 127.0.0.1 only (the stock inspector server listens on every interface).
// Only the node itself feeds it, in-process (no socket of its own); viewers are read-only, must come
// from this host (Origin checked: a web page elsewhere cannot read the node's state through the
// viewer's browser), and every buffer is bounded. Contexts and events are sanitized first: no key
// material, no live objects, only data.
import http from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { WebSocket as WsSocket } from 'ws';
import type { createInspector, StatelyInspectionEvent } from '@statelyai/inspect';
import type { AnyActorRef, InspectionEvent } from 'xstate';
import { Type as T } from '@sinclair/typebox';
import { defineMessages, type MessagesOf } from '../bus/catalogue.ts';
import type { Bus } from '../bus/bus.ts';
import { isSupervisorLogic } from './supervisor.ts';

/** `--inspect` without a port. Not 9229, which is Node's own debugger (`node --inspect`). */
export const INSPECT_DEFAULT_PORT = 9339;

export interface InspectorLimits {
  /** Viewers connected at once; more are refused with 503 (default 16). */
  maxViewers?: number;
  /** Largest message a viewer may send, bytes (ws maxPayload). Viewers are read-only: any message closes them (default 4096). */
  maxViewerMessageBytes?: number;
  /** Recent events replayed to a new viewer: at most this many (default 500)… */
  maxBufferedEvents?: number;
  /** …and at most this many bytes in all (default 8 MiB). */
  maxBufferedBytes?: number;
  /** An event larger than this (serialized) is not relayed; `dropped` counts it (default 1 MiB). */
  maxEventBytes?: number;
  /** A viewer with more than this many bytes queued (it does not read) is disconnected (default 16 MiB). */
  maxViewerBacklogBytes?: number;
}

export const DEFAULT_INSPECTOR_LIMITS: Required<InspectorLimits> = {
  maxViewers: 16,
  maxViewerMessageBytes: 4096,
  maxBufferedEvents: 500,
  maxBufferedBytes: 8 * 1024 * 1024,
  maxEventBytes: 1024 * 1024,
  maxViewerBacklogBytes: 16 * 1024 * 1024,
};

/** The inspector's port is taken (by another node, or Node's debugger): one line for the CLI to print. */
export class InspectorPortBusyError extends Error {
  override name = 'InspectorPortBusyError';
  constructor(readonly port: number) {
    super(`the inspector port 127.0.0.1:${port} is already in use; choose another with --inspect=PORT`);
  }
}

/** WebSocket close codes the relay uses (RFC 6455 §7.4.1). */
export const CLOSE_READ_ONLY = 1008; // policy violation: a viewer sent something
export const CLOSE_SLOW_VIEWER = 1013; // try again later: the viewer did not keep up

const SECRET_KEY = /secret|private|passphrase|seed|mnemonic|password|token|keyPem/i;
const CONTEXT_DEPTH = 6;
/** Whole inspection events: the context sits three levels down (event.snapshot.context). */
const EVENT_DEPTH = 10;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Plain data only: class instances become their name, bytes their length, secret-named keys "[redacted]". */
function sanitizeForInspector(value: unknown, depth = 0, maxDepth = CONTEXT_DEPTH): unknown {
  if (value === null || typeof value !== 'object') return typeof value === 'function' ? '[function]' : value;
  if (value instanceof Uint8Array) return `[${value.byteLength} bytes]`;
  if (depth >= maxDepth) return '[…]';
  if (Array.isArray(value)) return value.slice(0, 100).map((v) => sanitizeForInspector(v, depth + 1, maxDepth));
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    const json = (value as { toJSON?: () => unknown }).toJSON;
    if (typeof json === 'function') return sanitizeForInspector(json.call(value), depth + 1, maxDepth);
    return `[${(value as object).constructor?.name ?? 'object'}]`;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? '[redacted]' : sanitizeForInspector(v, depth + 1, maxDepth);
  return out;
}

/**
 * A browser puts the page's origin on every WebSocket it opens; CLI tools send none. Accepted: no
 * Origin, or an http page served from this inspector's own host and port. Anything else (a web
 * page anywhere, "null" from a sandboxed frame or a file) could be a site reading the node's state
 * through the visitor's browser.
 */
export function originAllowed(origin: string | undefined, port: number): boolean {
  if (origin === undefined) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  return url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname) && url.port === String(port);
}

export interface RunningInspector {
  port: number;
  /** Pass to createActor / startNode: the node's actors report here, in-process. */
  inspect: ReturnType<typeof createInspector>['inspect'];
  /** Events held for replay to new viewers now. */
  buffered(): { events: number; bytes: number };
  /** Events not relayed because they were larger than maxEventBytes. */
  dropped(): number;
  stop(): void;
}

/** Answers an upgrade we refuse with a plain HTTP status, then closes the socket. */
function refuseUpgrade(socket: Socket, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${text.length}\r\n\r\n${text}`);
  socket.destroySoon?.();
}

export async function startInspector(port: number = INSPECT_DEFAULT_PORT, limitsIn: InspectorLimits = {}): Promise<RunningInspector> {
  // Loaded here, not at the top: startNode imports this module for the inspection feed below, and
  // a node without --inspect should not load the relay's WebSocket server and the Stately client.
  const { WebSocketServer, WebSocket } = await import('ws');
  const { createInspector } = await import('@statelyai/inspect');
  const limits = { ...DEFAULT_INSPECTOR_LIMITS, ...limitsIn };
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('alknet inspector: connect the Stately inspector to this address over WebSocket\n');
  });
  server.maxConnections = limits.maxViewers * 2; // viewers plus a few plain HTTP requests
  // Upgrades are checked by hand (noServer), before ws reads a byte of WebSocket data.
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxViewerMessageBytes });
  const recent: { text: string; bytes: number }[] = [];
  let recentBytes = 0;
  let droppedEvents = 0;
  let actualPort = port;

  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => {});
    if (!originAllowed(req.headers.origin, actualPort)) return refuseUpgrade(socket, 403, 'Forbidden');
    if (wss.clients.size >= limits.maxViewers) return refuseUpgrade(socket, 503, 'Service Unavailable');
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  wss.on('connection', (ws: WsSocket) => {
    ws.on('error', () => {}); // a viewer's protocol error (e.g. 1009, message too big) closes only it
    // Read-only: only the node feeds the stream. A viewer that sends anything is closed, and what
    // it sent is never relayed or replayed.
    ws.on('message', () => ws.close(CLOSE_READ_ONLY, 'viewers are read-only'));
    for (const { text } of recent) ws.send(text);
  });

  function relay(event: StatelyInspectionEvent): void {
    const text = JSON.stringify(sanitizeForInspector(event, 0, EVENT_DEPTH));
    const bytes = Buffer.byteLength(text);
    if (bytes > limits.maxEventBytes) {
      droppedEvents++;
      return;
    }
    recent.push({ text, bytes });
    recentBytes += bytes;
    while (recent.length > limits.maxBufferedEvents || recentBytes > limits.maxBufferedBytes) recentBytes -= recent.shift()!.bytes;
    for (const client of wss.clients) {
      if (client.readyState !== WebSocket.OPEN) continue;
      // ws queues what the viewer has not read yet: a viewer that stops reading is cut off
      // rather than allowed to grow the node's memory.
      if (client.bufferedAmount > limits.maxViewerBacklogBytes) client.terminate();
      else client.send(text);
    }
  }

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    wss.close();
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new InspectorPortBusyError(port);
    throw new Error(`cannot start the inspector on 127.0.0.1:${port}: ${(err as Error).message}`);
  }
  actualPort = (server.address() as AddressInfo).port;
  // createInspector (not createWebSocketInspector): the node's events go straight to `relay`.
  const inspector = createInspector({ send: relay }, {
    sanitizeContext: (context) => sanitizeForInspector(context) as typeof context,
    sanitizeEvent: (event) => sanitizeForInspector(event) as typeof event,
  });
  return {
    port: actualPort,
    inspect: inspector.inspect,
    buffered: () => ({ events: recent.length, bytes: recentBytes }),
    dropped: () => droppedEvents,
    stop() {
      inspector.stop();
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.close();
      server.closeAllConnections();
    },
  };
}

// ---- The inspection feed: the actor system's inspection stream on the bus -------------------
//
// startNode attaches this observer to the root actor, so it sees every actor of the node from the
// start. It keeps a small, plain picture of the live actors (id, parent, systemId, state value,
// status and — for state machines — the statechart's shape) and of the recent events (type names
// only: never a payload, a context or a live object), answers `inspection.snapshot` on the bus, and
// publishes what changed as `inspection.changes` events, batched every 100 ms. The HTTP front end's
// /debug page is fed from those. Cheap when nobody watches: per inspection event a map lookup and a
// small record; event payloads and contexts are never copied or serialised.

/** The shape of one state node of a statechart, as plain data. */
export interface ChartNode {
  /** The state node's id (`machine.a.b`). */
  id: string;
  key: string;
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  /** The initial child's key (compound states). */
  initial?: string;
  /** Outgoing transitions: the event (`(always)` for eventless ones) and target ids (none: internal). */
  on: { event: string; targets: string[]; guarded?: boolean }[];
  /** What the state invokes (source names). */
  invoke: string[];
  states: ChartNode[];
}

const ActorInfoSchema = T.Object({
  /** The actor's session id in this node's actor system (unique while the node runs). */
  sid: T.String(),
  parent: T.Union([T.String(), T.Null()]),
  /** The actor's id; a supervisor's child shows its child id (`fs`, without the `#generation`). */
  name: T.String(),
  systemId: T.Optional(T.String()),
  kind: T.Union([T.Literal('machine'), T.Literal('supervisor'), T.Literal('actor')]),
  /** Key into `charts` (machines and supervisors). */
  chart: T.Optional(T.String()),
  status: T.String(),
  value: T.Optional(T.Unknown()),
});
export type InspectedActor = {
  sid: string;
  parent: string | null;
  name: string;
  systemId?: string;
  kind: 'machine' | 'supervisor' | 'actor';
  chart?: string;
  status: string;
  value?: unknown;
};

const ChangeSchema = T.Object({
  seq: T.Integer({ minimum: 0 }),
  /** ms since the epoch */
  t: T.Number(),
  kind: T.Union([T.Literal('spawn'), T.Literal('state'), T.Literal('event'), T.Literal('stop')]),
  sid: T.String(),
  /** spawn: the actor, and its statechart's shape when this is the first actor of that logic. */
  actor: T.Optional(ActorInfoSchema),
  chart: T.Optional(T.Unknown()),
  /** state/stop: the new state value and status. */
  value: T.Optional(T.Unknown()),
  status: T.Optional(T.String()),
  /** event: the event's type (never its payload) and who sent it. */
  event: T.Optional(T.String()),
  source: T.Optional(T.String()),
});
export type InspectionChange = {
  seq: number;
  t: number;
  kind: 'spawn' | 'state' | 'event' | 'stop';
  sid: string;
  actor?: InspectedActor;
  chart?: ChartNode;
  value?: unknown;
  status?: string;
  event?: string;
  source?: string;
};

const SnapshotSchema = T.Object({
  /** The seq of the last change included; later `inspection.changes` continue from here. */
  seq: T.Integer({ minimum: 0 }),
  actors: T.Array(ActorInfoSchema),
  /** Statechart shapes by key (ChartNode trees). */
  charts: T.Record(T.String(), T.Unknown()),
  /** The most recent events, oldest first. */
  recent: T.Array(ChangeSchema),
  /** Restarts seen since the node started, per supervisor name. */
  restarts: T.Record(T.String(), T.Integer({ minimum: 0 })),
  /** Changes not published because too many piled up between two flushes (a viewer should resync). */
  dropped: T.Integer({ minimum: 0 }),
});
export type InspectionSnapshot = {
  seq: number;
  actors: InspectedActor[];
  charts: Record<string, ChartNode>;
  recent: InspectionChange[];
  restarts: Record<string, number>;
  dropped: number;
};

export const INSPECTION_SYSTEM_ID = 'inspection';

export const inspectionMessages = defineMessages({
  /** The live actors, their statecharts, the recent events and restart counts, now. */
  'inspection.snapshot': { request: T.Object({}, { additionalProperties: false }), reply: SnapshotSchema },
  /** What changed since the last batch (published every 100 ms while something changes). Event. */
  'inspection.changes': { request: T.Object({ changes: T.Array(ChangeSchema), dropped: T.Integer({ minimum: 0 }) }) },
});

declare module '../bus/catalogue.ts' {
  interface Catalogue extends MessagesOf<typeof inspectionMessages> {}
}

export interface InspectionFeedLimits {
  /** Actors tracked at once; more are not shown (default 20,000). */
  maxActors?: number;
  /** Recent events kept for a new viewer (default 200). */
  recentEvents?: number;
  /** Changes held between two flushes; more are dropped and counted (default 5,000). */
  maxPending?: number;
  /** Flush interval, ms (default 100). */
  flushMs?: number;
}

export interface InspectionFeed {
  /** Give to createActor's `inspect`. */
  observe(event: InspectionEvent): void;
  snapshot(): InspectionSnapshot;
  /** Stops publishing and unregisters from the bus. */
  close(): void;
}

const CHART_DEPTH = 16;

function chartOf(node: StateNodeLike, depth = 0): ChartNode {
  const on: ChartNode['on'] = [];
  const transitions = depth < CHART_DEPTH ? node.on ?? {} : {};
  for (const [event, list] of Object.entries(transitions)) {
    for (const t of list ?? []) on.push({ event, targets: (t.target ?? []).map((n) => n.id), ...(t.guard ? { guarded: true } : {}) });
  }
  for (const t of node.always ?? []) on.push({ event: '(always)', targets: (t.target ?? []).map((n) => n.id), ...(t.guard ? { guarded: true } : {}) });
  const states = depth < CHART_DEPTH ? Object.values(node.states ?? {}).map((child) => chartOf(child, depth + 1)) : [];
  const initialTarget = node.type === 'compound' ? node.initial?.target?.[0]?.key : undefined;
  return {
    id: node.id,
    key: node.key,
    type: node.type,
    ...(initialTarget !== undefined ? { initial: initialTarget } : {}),
    on,
    invoke: (node.invoke ?? []).map((i) => (typeof i.src === 'string' ? i.src : (i.id ?? 'actor'))),
    states,
  };
}

interface StateNodeLike {
  id: string;
  key: string;
  type: ChartNode['type'];
  on?: Record<string, { target?: readonly { id: string }[]; guard?: unknown }[] | undefined>;
  always?: { target?: readonly { id: string }[]; guard?: unknown }[];
  initial?: { target?: readonly { key: string }[] };
  invoke?: { src: unknown; id?: string }[];
  states?: Record<string, StateNodeLike>;
}

/** The actor's logic: `src` names it for actors spawned by name, so take the actor's own `logic`. */
function logicOf(ref: AnyActorRef): unknown {
  const logic = (ref as { logic?: unknown }).logic;
  return typeof logic === 'object' && logic !== null ? logic : typeof ref.src === 'object' ? ref.src : undefined;
}

interface Tracked {
  info: InspectedActor;
  /** JSON of the last value sent, to send only real changes. */
  valueJson: string | undefined;
}

/** A state value as plain data: strings and nested objects of strings (anything else is dropped). */
function plainValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value;
  if (typeof value !== 'object' || value === null || depth > CHART_DEPTH) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = plainValue(v, depth + 1);
  return out;
}

export function createInspectionFeed(bus: Bus, limitsIn: InspectionFeedLimits = {}): InspectionFeed {
  const limits = { maxActors: 20_000, recentEvents: 200, maxPending: 5_000, flushMs: 100, ...limitsIn };
  const actors = new Map<string, Tracked>();
  const charts = new Map<string, ChartNode>();
  const chartKeys = new WeakMap<object, string>();
  const restarts: Record<string, number> = {};
  const recent: InspectionChange[] = [];
  let pending: InspectionChange[] = [];
  let dropped = 0;
  let seq = 0;
  let timer: NodeJS.Timeout | null = null;
  let closed = false;

  function flush(): void {
    timer = null;
    if (closed || pending.length === 0) return;
    const changes = pending;
    const lost = dropped;
    pending = [];
    bus.publish('inspection.changes', { changes, dropped: lost });
  }

  function emit(change: Omit<InspectionChange, 'seq' | 't'>): void {
    const full = { seq: ++seq, t: Date.now(), ...change } as InspectionChange;
    if (full.kind === 'event') {
      recent.push(full);
      if (recent.length > limits.recentEvents) recent.shift();
    }
    if (pending.length >= limits.maxPending) dropped++;
    else pending.push(full);
    if (!timer && !closed) {
      timer = setTimeout(flush, limits.flushMs);
      timer.unref();
    }
  }

  /** The chart key of the actor's logic; `fresh` when this is the first actor of it. */
  function chartKey(ref: AnyActorRef): { key: string; fresh: boolean } | undefined {
    const logic = logicOf(ref) as { root?: StateNodeLike; id?: string } | undefined;
    if (!logic?.root) return undefined;
    let key = chartKeys.get(logic);
    const fresh = key === undefined;
    if (key === undefined) {
      key = `${logic.root.key || logic.id || 'machine'}#${charts.size + 1}`;
      chartKeys.set(logic, key);
      try {
        charts.set(key, chartOf(logic.root));
      } catch {
        charts.set(key, { id: logic.root.id, key: logic.root.key, type: 'atomic', on: [], invoke: [], states: [] });
      }
    }
    return { key, fresh };
  }

  function spawned(ref: AnyActorRef): void {
    if (actors.size >= limits.maxActors || actors.has(ref.sessionId)) return;
    const parentRef = (ref as { _parent?: AnyActorRef })._parent;
    const parent = parentRef ? parentRef.sessionId : null;
    const supervisor = isSupervisorLogic(logicOf(ref));
    const generation = /#(\d+)$/.exec(ref.id);
    const parentTracked = parent !== null ? actors.get(parent) : undefined;
    // A supervisor starts each instance of a child as `<id>#<generation>`: a generation above 1 is a restart.
    if (generation && Number(generation[1]) > 1 && parentTracked?.info.kind === 'supervisor') {
      restarts[parentTracked.info.name] = (restarts[parentTracked.info.name] ?? 0) + 1;
    }
    const systemId = (ref as { systemId?: unknown }).systemId;
    const chart = chartKey(ref);
    const info: InspectedActor = {
      sid: ref.sessionId,
      parent,
      name: generation ? ref.id.slice(0, generation.index) : ref.id,
      ...(typeof systemId === 'string' ? { systemId } : {}),
      kind: supervisor ? 'supervisor' : chart ? 'machine' : 'actor',
      ...(chart ? { chart: chart.key } : {}),
      status: 'active',
    };
    actors.set(ref.sessionId, { info, valueJson: undefined });
    emit({ kind: 'spawn', sid: info.sid, actor: { ...info }, ...(chart?.fresh ? { chart: charts.get(chart.key)! } : {}) });
  }

  function snapshotted(ref: AnyActorRef, snapshot: { status?: string; value?: unknown; context?: unknown }): void {
    const tracked = actors.get(ref.sessionId);
    if (!tracked) return;
    const { info } = tracked;
    if (info.kind === 'supervisor' && info.parent === null) {
      // The root supervisor's actor id is xstate's; its name is the one its spec gives it.
      const id = (snapshot.context as { id?: unknown } | undefined)?.id;
      if (typeof id === 'string') info.name = id;
    }
    if (info.systemId === undefined) {
      // xstate gives the actor its systemId after announcing it: take it from its first snapshot.
      const systemId = (ref as { systemId?: unknown }).systemId;
      if (typeof systemId === 'string') {
        info.systemId = systemId;
        emit({ kind: 'spawn', sid: info.sid, actor: { ...info } });
      }
    }
    const status = snapshot.status ?? 'active';
    if (status !== 'active') {
      actors.delete(ref.sessionId);
      emit({ kind: 'stop', sid: info.sid, status });
      return;
    }
    if (!('value' in snapshot)) return;
    const value = plainValue(snapshot.value);
    const json = JSON.stringify(value);
    if (json === tracked.valueJson) return;
    tracked.valueJson = json;
    info.value = value;
    emit({ kind: 'state', sid: info.sid, value, status });
  }

  const unregister = bus.registerHandler(INSPECTION_SYSTEM_ID, {
    'inspection.snapshot': async () => snapshot(),
  });

  function snapshot(): InspectionSnapshot {
    return {
      seq,
      actors: [...actors.values()].map((a) => ({ ...a.info })),
      charts: Object.fromEntries(charts),
      recent: [...recent],
      restarts: { ...restarts },
      dropped,
    };
  }

  return {
    observe(event) {
      if (closed) return;
      try {
        switch (event.type) {
          case '@xstate.actor':
            spawned(event.actorRef as AnyActorRef);
            break;
          case '@xstate.snapshot':
            snapshotted(event.actorRef as AnyActorRef, event.snapshot as { status?: string; value?: unknown });
            break;
          case '@xstate.event': {
            if (!actors.has(event.actorRef.sessionId)) break;
            const type = typeof event.event?.type === 'string' ? event.event.type.slice(0, 200) : 'event';
            emit({ kind: 'event', sid: event.actorRef.sessionId, event: type, ...(event.sourceRef ? { source: event.sourceRef.sessionId } : {}) });
            break;
          }
        }
      } catch {
        // The feed must never disturb the actors it watches.
      }
    },
    snapshot,
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = null;
      pending = [];
      unregister();
    },
  };
}
