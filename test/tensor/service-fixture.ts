// The tensor service as a node runs it, minus the network: a real bus, a real supervisor with the
// tensor actor as its child (registered on the bus under its systemId), and the operation catalogue
// with the tensor declarations. Operations are invoked through the catalogue, exactly as the call,
// HTTP and MCP front ends do.
import { createActor, waitFor, type AnyActorRef } from 'xstate';
import { createBus, type Bus } from '../../bus/bus.ts';
import { OperationCatalogue, type Caller } from '../../operations/catalogue.ts';
import { createSupervisor } from '../../supervisors/supervisor.ts';
import { tensorMachine, type TensorActorInput, type TensorActorRef } from '../../actors/tensor/machine.ts';
import { tensorOperationDeclarations } from '../../actors/tensor/operations.ts';
import { TENSOR_SYSTEM_ID } from '../../actors/tensor/messages.ts';
import type { RunRecord } from '../../actors/tensor/service.ts';

export const ALICE = 'ybndrfg8ejkmcpqxot1uwisza345h769ybndrfg8ejkmcpqxot1u';
export const BOB = 'h769ybndrfg8ejkmcpqxot1uwisza345h769ybndrfg8ejkmcpqx';

export const withTensor = (nodeId: string | null): Caller => ({ nodeId, scopes: new Set(['tensor']) });

export interface TensorFixture {
  bus: Bus;
  catalogue: OperationCatalogue;
  root: AnyActorRef;
  /** Every tensor.run that ended, in order (the actor's onRunEnd). */
  runs: RunRecord[];
  /** Resolves with the `n`th run record (0-based) once it exists. */
  run(n: number): Promise<RunRecord>;
  /** The tensor actor running now (a new one after each restart). */
  actor(): TensorActorRef;
  /** Waits until a tensor actor is registered on the bus and ready; returns it. */
  ready(): Promise<TensorActorRef>;
  stop(): Promise<void>;
}

export async function startTensorService(input: Omit<TensorActorInput, 'events' | 'onRunEnd'> = {}): Promise<TensorFixture> {
  const bus = createBus({ logger: { warn() {} } });
  const catalogue = new OperationCatalogue({ bus });
  catalogue.register(tensorOperationDeclarations(), TENSOR_SYSTEM_ID);
  const runs: RunRecord[] = [];
  const waiting: Array<{ n: number; resolve(r: RunRecord): void }> = [];
  const recordRun = (r: RunRecord): void => {
    runs.push(r);
    for (const w of waiting.filter((x) => x.n < runs.length)) (waiting.splice(waiting.indexOf(w), 1), w.resolve(runs[w.n]!));
  };
  const services = createSupervisor({
    id: 'services',
    strategy: 'one_for_one',
    children: [{
      id: 'tensor',
      systemId: TENSOR_SYSTEM_ID,
      logic: tensorMachine,
      input: { backend: 'js', ...input, events: bus, onRunEnd: recordRun } satisfies TensorActorInput,
      restart: 'permanent',
    }],
  });
  const root = createActor(services, { input: { bus } });
  root.start();
  const actor = (): TensorActorRef => {
    const ref = root.system.get(TENSOR_SYSTEM_ID) as TensorActorRef | undefined;
    if (!ref) throw new Error('no tensor actor is running');
    return ref;
  };
  const fixture: TensorFixture = {
    bus,
    catalogue,
    root,
    runs,
    run: (n) => (n < runs.length ? Promise.resolve(runs[n]!) : new Promise((resolve) => waiting.push({ n, resolve }))),
    actor,
    async ready() {
      // The supervisor spawns (and registers on the bus) in the same step that changes its snapshot.
      await waitFor(root, () => root.system.get(TENSOR_SYSTEM_ID) !== undefined && bus.isRegistered(TENSOR_SYSTEM_ID), { timeout: 30_000 });
      await waitFor(actor(), (s) => s.matches('ready'), { timeout: 30_000 });
      return actor();
    },
    async stop() {
      root.send({ type: 'shutdown' });
      await waitFor(root, (s) => s.status !== 'active', { timeout: 30_000 }).catch(() => root.stop());
      bus.close();
    },
  };
  await fixture.ready();
  return fixture;
}

/** The live engine's handle count (of one owner, or all) and allocated storages. */
export function engineState(actor: TensorActorRef, owner?: string): { handles: number; liveStorages: number } {
  const { service, engine } = actor.getSnapshot().context;
  if (!service || !engine) throw new Error('the tensor actor is not ready');
  return { handles: owner === undefined ? service.handles.size : service.handles.countOf(owner), liveStorages: engine.liveStorages };
}

/** A graph of `n` chained matmuls of n×n-ish work on `size`×`size` matrices (long on the JS backend). */
export function matmulChain(ops: number, size: number): { inputs: Record<string, unknown>; graph: object[]; outputs: string[] } {
  const identityish = Array.from({ length: size * size }, (_, i) => (i % (size + 1) === 0 ? 1 : 0));
  const graph = Array.from({ length: ops }, (_, i) => ({ op: 'matmul', args: [i === 0 ? 'x' : `y${i - 1}`, 'w'], out: `y${i}` }));
  return {
    inputs: { x: { shape: [size, size], dtype: 'f32', data: identityish }, w: { shape: [size, size], dtype: 'f32', data: identityish } },
    graph,
    outputs: [`y${ops - 1}`],
  };
}
