// The pkarr service on its own, for a process without a node (`alknet pkarr publish|resolve`): a
// local bus with the pkarr actor on it (and the vault, unlocked, when the caller signs). Callers
// talk to it by message, as a node's code does. The store is the home's HOME/db/ LMDB, shared with
// a node of the same home if one runs (LMDB takes several processes); the DHT node, when [pkarr]
// dht is on, listens on a free port of its own (the node's may be taken).
import { createActor, type AnyActorRef } from 'xstate';
import { createBus, type Bus } from '../../bus/bus.ts';
import type { PkarrConfig } from '../../supervisors/config.ts';
import { pkarrMachine } from './machine.ts';
import { PKARR_SYSTEM_ID } from './messages.ts';

export interface LocalPkarr {
  bus: Bus;
  stop(): Promise<void>;
}

export interface LocalPkarrOptions {
  home: string;
  config: PkarrConfig;
  /** Unlocks the vault so pkarr.publishSelf can sign; without it only put/get/resolve work. */
  passphrase?: string;
  /** publishSelf's default addresses when [pkarr] addresses is empty. */
  listenAddresses?: readonly string[];
}

async function stopActor(actor: AnyActorRef): Promise<void> {
  if (actor.getSnapshot().status !== 'active') return;
  const done = new Promise<void>((resolve) => {
    const sub = actor.subscribe({ complete: () => resolve(), error: () => resolve() });
    if (actor.getSnapshot().status !== 'active') {
      sub.unsubscribe();
      resolve();
    }
  });
  actor.send({ type: 'shutdown' });
  await done;
  actor.stop();
}

export async function startLocalPkarr(opts: LocalPkarrOptions): Promise<LocalPkarr> {
  const bus = createBus();
  const unregister: (() => void)[] = [];
  const actors: AnyActorRef[] = [];
  if (opts.passphrase !== undefined) {
    const { vaultMachine } = await import('../vault/machine.ts');
    const { VAULT_SYSTEM_ID } = await import('../vault/messages.ts');
    const vault = createActor(vaultMachine, { input: { home: opts.home, passphrase: opts.passphrase } });
    unregister.push(bus.register(VAULT_SYSTEM_ID, vault.start()));
    actors.push(vault);
  }
  const listenHost = /^(.*):\d+$/.exec(opts.config.dhtListen)?.[1] ?? '0.0.0.0';
  const pkarr = createActor(pkarrMachine, {
    input: {
      home: opts.home,
      bus,
      config: { ...opts.config, dhtListen: `${listenHost}:0`, publish: false },
      listenAddresses: () => opts.listenAddresses ?? [],
    },
  });
  unregister.push(bus.register(PKARR_SYSTEM_ID, pkarr.start()));
  actors.unshift(pkarr);
  let stopping: Promise<void> | undefined;
  return {
    bus,
    stop() {
      stopping ??= (async () => {
        for (const actor of actors) await stopActor(actor);
        for (const u of unregister) u();
        bus.close();
      })();
      return stopping;
    },
  };
}
