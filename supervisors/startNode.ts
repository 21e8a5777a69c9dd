// Assembles and runs one node: bus, vault, protocol actors (one per registered ALPN) and the
// listener under the node's supervision tree (supervisors/nodeTree.ts). `alknet node`, `npm start`,
// the examples and the tests all start a node through here.
import { createActor, type AnyActorLogic, type AnyActorRef, type InspectionEvent } from 'xstate';
import { createBus, type Bus } from '../bus/index.ts';
import { loadConfig, type NodeConfig } from './config.ts';
import { listenerActorLogic, protocolSystemId } from '../actors/listener/actor.ts';
import { ConnectionHandoff } from '../actors/listener/handoff.ts';
import type { Listener } from '../actors/listener/listener.ts';
import { vaultMachine } from '../actors/vault/machine.ts';
import { VAULT_SYSTEM_ID } from '../actors/vault/messages.ts';
import { ProtocolRegistry } from '../protocols/registry.ts';
import { protocolActorLogic, type ProtocolSpec } from '../protocols/protocol.ts';
import { createNodeTree } from './nodeTree.ts';
import { plainDnsActorLogic, type PlainDnsServer } from '../protocols/dns/index.ts';
import type { ChildSpec } from './types.ts';
import { createNodeLogger, type NodeLogger } from './nodeLogger.ts';
import { describeTree, type TreeNode } from './describeTree.ts';
import { fsMachine } from '../actors/fs/machine.ts';
import { FS_SYSTEM_ID } from '../actors/fs/messages.ts';
import { tensorMachine } from '../actors/tensor/machine.ts';
import { OperationCatalogue, type OperationSpec } from '../operations/catalogue.ts';
import { createNodeActorsOperation, createNodeInfoOperation, createServiceOperations, busRequestOperation, type ActorTreeNode } from '../operations/builtins.ts';
import { peersMachine } from '../actors/peers/machine.ts';
import { PEERS_SYSTEM_ID } from '../actors/peers/messages.ts';
import { fsOperations } from '../actors/fs/operations.ts';
import { gitMachine } from '../actors/git/machine.ts';
import { GIT_SYSTEM_ID } from '../actors/git/messages.ts';
import { gitOperations } from '../actors/git/operations.ts';
import { pkarrMachine } from '../actors/pkarr/machine.ts';
import { PKARR_SYSTEM_ID } from '../actors/pkarr/messages.ts';
import { pkarrOperations } from '../actors/pkarr/operations.ts';
import type { NodeKeyPair } from '../actors/listener/tlsIdentity.ts';
import { tensorOperationDeclarations } from '../actors/tensor/operations.ts';
import { TENSOR_SYSTEM_ID } from '../actors/tensor/messages.ts';
import { DEFAULT_PROTOCOL_LIMITS, type SessionServices } from '../protocols/protocol.ts';
import { builtinProtocols } from '../protocols/builtin.ts';
import { createRemoteTransport } from '../protocols/call/remoteBus.ts';
import { ByteBudget } from '../lib/byteBudget.ts';
import { startAgent, type Agent } from './agent.ts';
import { createInspectionFeed } from './inspector.ts';
import path from 'node:path';
import { createRequire } from 'node:module';

const VERSION: string = createRequire(import.meta.url)('../package.json').version;

/** describeTree's shape → the node/actors operation's shape. */
function toActorTree(node: TreeNode): ActorTreeNode {
  return {
    id: node.id,
    ...(node.systemId ? { systemId: node.systemId } : {}),
    status: node.state.status,
    ...(node.state.value !== undefined ? { state: node.state.value } : {}),
    children: node.children.map(toActorTree),
  };
}

export interface StartNodeOptions {
  home: string;
  /** Unlocks the vault at start. */
  passphrase: string;
  /** host:port; overrides config.toml's `listen`. Port 0 picks a free port (same number for UDP and TCP). */
  listen?: string;
  /** Protocols served besides the built-in ones (protocols/builtin.ts); one with a built-in ALPN replaces it. */
  protocols?: ProtocolSpec[];
  /** Defaults to the home folder's config.toml. */
  config?: NodeConfig;
  logger?: NodeLogger;
  /** Extra service actors, started after the built-in ones. */
  services?: (node: { operations: OperationCatalogue; bus: Bus }) => ChildSpec[];
  /**
   * Replaces a built-in service's logic (same input, same systemId), as `protocols` can replace a
   * built-in protocol: tests wrap a service to crash it on purpose while requests are in flight.
   */
  serviceLogic?: Partial<Record<'peers' | 'fs' | 'pkarr' | 'tensor', AnyActorLogic>>;
  /** Extra operations for the catalogue, usually served by those services (`servedBy(actor, message, …)`). */
  operations?: OperationSpec[];
  /** The tensor engine's backend; false runs the node without the tensor service. Default 'auto'. */
  tensor?: 'auto' | 'webgpu' | 'js' | false;
  /**
   * The agent: HOME/agent.sock (0600), through which the CLI of this home calls as this node without
   * unlocking the vault (supervisors/agent.ts). Default true; false runs without it.
   */
  agent?: boolean;
  /**
   * The inspection feed on the bus (`inspection.snapshot`, `inspection.changes`: supervisors/inspector.ts),
   * which the HTTP front end's /debug page shows. Default true.
   */
  inspectionFeed?: boolean;
  /**
   * host:port of plain DNS over UDP and TCP (`alknet node --dns`); overrides config.toml's [dns]
   * listen. Port 0 picks a free one. Without either, no plain DNS port (DoT, DoQ, DoH still answer).
   */
  dns?: string;
  /** Passed to createActor (e.g. the inspector's `inspect`). */
  inspect?: Parameters<typeof createActor>[1] extends infer O ? (O extends { inspect?: infer I } ? I : never) : never;
}

export interface RunningNode {
  nodeId: string;
  host: string;
  quicPort: number;
  tcpPort: number;
  /** host:port of the listener. */
  address: string;
  alpns: string[];
  /** host:port of plain DNS (UDP and TCP), or null when the node has none. */
  dns: string | null;
  bus: Bus;
  operations: OperationCatalogue;
  root: AnyActorRef;
  startedAt: number;
  /** Resolves when the tree has stopped (after stop(), or after it failed for good). */
  readonly stopped: Promise<void>;
  /** Stops accepting, drains sessions (config limits.drainMs), shuts the tree down in reverse order. */
  stop(): Promise<void>;
}

export async function startNode(options: StartNodeOptions): Promise<RunningNode> {
  const config = options.config ?? loadConfig(options.home);
  const { host, port } = parseListen(options.listen ?? config.listen);
  const log = options.logger ?? createNodeLogger({ level: config.log.level });
  const bus = createBus({ logger: log });
  // One-shot handoff of accepted connections from the listener to their protocol actor.
  const connections = new ConnectionHandoff();

  // The built-in protocols, then the caller's; a caller's protocol replaces a built-in one of the same ALPN.
  const registry = new ProtocolRegistry();
  const extra = new Map((options.protocols ?? []).map((spec) => [spec.alpn, spec]));
  for (const spec of builtinProtocols({ home: options.home, config })) registry.add(extra.get(spec.alpn) ?? spec);
  for (const spec of extra.values()) if (!registry.get(spec.alpn)) registry.add(spec);

  // The one catalogue: node-level views here, each service's declarations beside its messages.
  const operations = new OperationCatalogue({ bus, onInternalError: (err) => log.warn({ error: err instanceof Error ? err.message : String(err) }, 'operation failed') });
  const startedAt = Date.now();
  let nodeId = '';
  let address = '';
  let root: AnyActorRef | null = null;
  operations.register([
    ...createServiceOperations(operations),
    createNodeInfoOperation(() => ({ nodeId, version: VERSION, uptimeMs: Date.now() - startedAt, alpns: registry.alpns(), listen: { quic: address, tcp: address } })),
    createNodeActorsOperation(() => toActorTree(describeTree(root!))),
    busRequestOperation(bus),
  ], 'node');
  operations.register(fsOperations(), FS_SYSTEM_ID);
  operations.register(gitOperations(), GIT_SYSTEM_ID);
  operations.register(pkarrOperations(), PKARR_SYSTEM_ID);
  let nodeKey: NodeKeyPair | undefined;
  let remote = null as ReturnType<typeof createRemoteTransport> | null;

  const services: SessionServices = {
    log,
    bus,
    operations,
    limits: {
      maxFirstFrameBytes: config.limits.maxFirstFrameBytes ?? DEFAULT_PROTOCOL_LIMITS.maxFirstFrameBytes,
      maxFrameBytes: config.limits.maxFrameBytes ?? DEFAULT_PROTOCOL_LIMITS.maxFrameBytes,
    },
    buffers: new ByteBudget(config.limits.clientBufferBytes ?? 256 * 1024 * 1024),
    get nodeId() {
      return nodeId;
    },
  };

  // Vault first: the others start once it runs (ordered start). They do not share state with each
  // other or hold the vault's, so a crash restarts only the one that crashed (one_for_one).
  const serviceChildren: ChildSpec[] = [
    {
      id: 'vault',
      systemId: VAULT_SYSTEM_ID,
      logic: vaultMachine,
      input: { home: options.home, passphrase: options.passphrase },
      restart: 'permanent',
    },
    { id: 'peers', systemId: PEERS_SYSTEM_ID, logic: options.serviceLogic?.peers ?? peersMachine, input: { home: options.home, bus, log }, restart: 'permanent' },
    { id: 'fs', systemId: FS_SYSTEM_ID, logic: options.serviceLogic?.fs ?? fsMachine, input: { home: options.home }, restart: 'permanent' },
    // The git repositories under HOME/git (actors/git); protocols/git serves them on alknet/git, SSH and HTTP.
    { id: 'git', systemId: GIT_SYSTEM_ID, logic: gitMachine, input: { home: options.home, maxObjectBytes: config.git.maxObjectBytes }, restart: 'permanent', shutdownMs: 15_000 },
    // Signed packets (HOME/db/), the DHT node and relays; publishes the listener's address (actors/pkarr).
    {
      id: 'pkarr',
      systemId: PKARR_SYSTEM_ID,
      logic: options.serviceLogic?.pkarr ?? pkarrMachine,
      input: { home: options.home, bus, config: config.pkarr, log, listenAddresses: () => (address ? [address] : []), identity: () => nodeKey },
      restart: 'permanent',
    },
  ];
  const tensorBackend = options.tensor ?? 'auto';
  if (tensorBackend !== false) {
    operations.register(tensorOperationDeclarations(), TENSOR_SYSTEM_ID);
    serviceChildren.push({
      id: 'tensor',
      systemId: TENSOR_SYSTEM_ID,
      logic: options.serviceLogic?.tensor ?? tensorMachine,
      input: { backend: tensorBackend, events: bus, limits: { maxCost: config.limits.tensorMaxCost ?? 1e10 } },
      restart: 'permanent',
    });
  }
  serviceChildren.push(...(options.services?.({ operations, bus }) ?? []));
  if (options.operations?.length) operations.register(options.operations, 'extra');
  const protocolChildren: ChildSpec[] = registry.specs().map((spec) => ({
    id: spec.alpn,
    systemId: protocolSystemId(spec.alpn),
    logic: protocolActorLogic(spec),
    input: { connections, services, drainMs: config.limits.drainMs },
    restart: 'permanent',
    shutdownMs: config.limits.drainMs + 1_000,
  }));

  let listening!: (listener: Listener) => void;
  const listenerReady = new Promise<Listener>((resolve) => (listening = resolve));
  let current: Listener | null = null;
  const listenerChild: ChildSpec = {
    id: 'listener',
    systemId: 'listener',
    logic: listenerActorLogic,
    input: {
      bus,
      host,
      port,
      alpns: registry.alpns(),
      connections,
      log,
      limits: config.limits,
      drainMs: config.limits.drainMs,
      identity: async () => {
        const id = await bus.request(VAULT_SYSTEM_ID, 'vault.tlsIdentity', {}, { deadlineMs: 30_000 });
        nodeId = id.nodeId;
        const identity = { publicKey: Buffer.from(id.publicKey, 'hex'), privateKey: id.privateKey };
        nodeKey = identity;
        // Requests to {node, actor} leave through alknet/call, showing this node's key.
        void remote?.close();
        remote = createRemoteTransport({ identity, knownNodesPath: path.join(options.home, 'known_nodes'), bus });
        bus.setRemote(remote);
        return identity;
      },
      onListening: (listener: Listener) => {
        current = listener;
        listening(listener);
      },
    },
    restart: 'permanent',
    shutdownMs: config.limits.drainMs + 1_000,
  };

  // Plain DNS on its own port, beside the listener (protocols/dns/plainActor.ts).
  const dnsListen = options.dns ?? config.dns.listen;
  let dnsListening!: (server: PlainDnsServer) => void;
  const dnsReady = new Promise<PlainDnsServer>((resolve) => (dnsListening = resolve));
  let dnsAddress: string | null = null;
  const dnsChild: ChildSpec | null = dnsListen === null ? null : {
    id: 'dns',
    systemId: 'dns',
    logic: plainDnsActorLogic,
    input: {
      bus,
      listen: dnsListen,
      config: config.dns,
      log,
      onListening: (server: PlainDnsServer) => {
        dnsAddress = server.address;
        dnsListening(server);
      },
    },
    restart: 'permanent',
  };

  const tree = createNodeTree({ services: serviceChildren, protocols: protocolChildren, listener: listenerChild, ...(dnsChild ? { listeners: [dnsChild] } : {}) });
  const feed = options.inspectionFeed === false ? null : createInspectionFeed(bus);
  const outer = options.inspect as ((event: InspectionEvent) => void) | { next?(event: InspectionEvent): void } | undefined;
  const inspect =
    feed && outer
      ? (event: InspectionEvent) => {
          feed.observe(event);
          if (typeof outer === 'function') outer(event);
          else outer.next?.(event);
        }
      : feed
        ? feed.observe
        : outer;
  const rootActor = createActor(tree, { input: { bus }, ...(inspect ? { inspect } : {}) });

  const stopped = new Promise<void>((resolve, reject) => {
    rootActor.subscribe({ complete: () => resolve(), error: (err) => reject(err) });
  });
  stopped.catch(() => {}); // observed through start failure or the caller's await
  root = rootActor;
  rootActor.start();

  const listener = await Promise.race([
    listenerReady,
    stopped.then(() => {
      throw new Error('the node stopped before it was listening');
    }),
  ]);

  address = listener.address;
  if (dnsChild) {
    await Promise.race([
      dnsReady,
      stopped.then(() => {
        throw new Error('the node stopped before its DNS port was listening');
      }),
    ]);
  }
  const agent: Agent | null = options.agent === false ? null : await startAgent({
    home: options.home,
    bus,
    operations,
    log,
    nodeId: () => nodeId,
    address: () => address,
    limits: { maxFrameBytes: services.limits.maxFrameBytes },
    budget: services.buffers,
  });
  // A tree that stops on its own (failure) takes the agent with it.
  void stopped.catch(() => {}).then(() => agent?.close());
  let stopping: Promise<void> | null = null;
  const node: RunningNode = {
    nodeId,
    host,
    quicPort: listener.quicPort,
    tcpPort: listener.tcpPort,
    address: listener.address,
    alpns: registry.alpns(),
    get dns() {
      return dnsAddress;
    },
    bus,
    operations,
    root: rootActor,
    startedAt,
    stopped,
    stop() {
      stopping ??= (async () => {
        log.info({}, 'shutting down');
        await agent?.close().catch(() => {});
        rootActor.send({ type: 'supervisor.shutdown' });
        await stopped.catch(() => {});
        await current?.close('node stopped').catch(() => {});
        await remote?.close().catch(() => {});
        feed?.close();
        bus.close();
        log.info({}, 'stopped');
      })();
      return stopping;
    },
  };
  return node;
}

/** A listen address is HOST:PORT or [V6]:PORT; port 0 picks a free port. One-line error otherwise. */
function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:@\s\[\]]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`listen address "${text.slice(0, 80)}" must be HOST:PORT (port 0 picks a free one)`);
  return { host: (m[1] ?? m[2])!, port };
}
