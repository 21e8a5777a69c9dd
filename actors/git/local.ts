// The git service on its own, for a process without a node (the CLI's `alknet git init|ls`, tests,
// the benchmark): a local bus with the git actor registered on it. Callers talk to it by message,
// exactly as a node's code does.
import type { Bus } from '../../bus/bus.ts';
import { startLocalServices } from '../localServices.ts';
import { gitMachine } from './machine.ts';
import { GIT_SYSTEM_ID } from './messages.ts';

export interface LocalGit {
  bus: Bus;
  stop(): Promise<void>;
}

export function startLocalGit(home: string): LocalGit {
  return startLocalServices([{ id: GIT_SYSTEM_ID, logic: gitMachine, input: () => ({ home, drainMs: 5_000 }) }]);
}
