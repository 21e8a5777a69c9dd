// The pkarr service on its own, for a process without a node (`alknet pkarr publish|resolve`): a
// local bus with the pkarr actor on it (and the vault, unlocked, when the caller signs). Callers
// talk to it by message, as a node's code does. The store is the home's HOME/db/ LMDB, shared with
// a node of the same home if one runs (LMDB takes several processes); the DHT node, when [pkarr]
// dht is on, listens on a free port of its own (the node's may be taken).
import type { Bus } from '../../bus/bus.ts';
import { startLocalServices, type LocalServiceSpec } from '../localServices.ts';
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

export async function startLocalPkarr(opts: LocalPkarrOptions): Promise<LocalPkarr> {
  const services: LocalServiceSpec[] = [];
  if (opts.passphrase !== undefined) {
    const { vaultMachine } = await import('../vault/machine.ts');
    const { VAULT_SYSTEM_ID } = await import('../vault/messages.ts');
    services.push({ id: VAULT_SYSTEM_ID, logic: vaultMachine, input: () => ({ home: opts.home, passphrase: opts.passphrase }) });
  }
  const listenHost = /^(.*):\d+$/.exec(opts.config.dhtListen)?.[1] ?? '0.0.0.0';
  services.push({
    id: PKARR_SYSTEM_ID,
    logic: pkarrMachine,
    input: (bus) => ({
      home: opts.home,
      bus,
      config: { ...opts.config, dhtListen: `${listenHost}:0`, publish: false },
      listenAddresses: () => opts.listenAddresses ?? [],
    }),
  });
  return startLocalServices(services);
}
