// What a git session asks of the git service, as bus requests (the service owns the repositories;
// a protocol never touches them). One interface, so the three transports and the tests share it.
import type { Bus } from '../../bus/bus.ts';
import type { ReplyOf, RequestOf } from '../../bus/catalogue.ts';
import { GIT_SYSTEM_ID } from '../../actors/git/messages.ts';
import { PEERS_SYSTEM_ID } from '../../actors/peers/messages.ts';

export type Refs = ReplyOf<'git.refs'>;
export type PackStart = RequestOf<'git.packStart'>;
export type ReceiveReply = ReplyOf<'git.receive'>;

export interface GitBackend {
  refs(name: string): Promise<Refs>;
  negotiate(name: string, wants: string[], commons: string[], haves: string[]): Promise<ReplyOf<'git.negotiate'>>;
  unreachable(name: string, oids: string[]): Promise<string[]>;
  shallow(name: string, wants: string[], depth: number, clientShallow: string[]): Promise<ReplyOf<'git.shallow'>>;
  packStart(input: PackStart): Promise<ReplyOf<'git.packStart'>>;
  packNext(packId: string, maxBytes: number): Promise<ReplyOf<'git.packNext'>>;
  packAbort(packId: string): Promise<void>;
  receive(input: RequestOf<'git.receive'>): Promise<ReceiveReply>;
}

/** Generous: a pack window or a push's verification may take a while on a large repository. */
const SLOW = { deadlineMs: 10 * 60_000 };
const QUICK = { deadlineMs: 60_000 };

export function busBackend(bus: Bus): GitBackend {
  return {
    refs: (name) => bus.request(GIT_SYSTEM_ID, 'git.refs', { name }, QUICK),
    negotiate: (name, wants, commons, haves) => bus.request(GIT_SYSTEM_ID, 'git.negotiate', { name, wants, commons, haves }, SLOW),
    unreachable: async (name, oids) => (await bus.request(GIT_SYSTEM_ID, 'git.unreachable', { name, oids }, SLOW)).oids,
    shallow: (name, wants, depth, clientShallow) => bus.request(GIT_SYSTEM_ID, 'git.shallow', { name, wants, depth, clientShallow }, SLOW),
    packStart: (input) => bus.request(GIT_SYSTEM_ID, 'git.packStart', input, SLOW),
    packNext: (packId, maxBytes) => bus.request(GIT_SYSTEM_ID, 'git.packNext', { packId, maxBytes }, SLOW),
    packAbort: async (packId) => {
      await bus.request(GIT_SYSTEM_ID, 'git.packAbort', { packId }, QUICK).catch(() => {});
    },
    receive: (input) => bus.request(GIT_SYSTEM_ID, 'git.receive', input, SLOW),
  };
}

/** Whether a caller (its node id, or null) may use `scope` on `alpn`; the reason when not. */
export async function authorizeGit(bus: Bus, nodeId: string | null, alpn: string, scope: string): Promise<string | null> {
  const r = await bus.request(PEERS_SYSTEM_ID, 'peers.authorize', { nodeId, alpn, scopes: [scope] }, QUICK);
  return r.allowed ? null : r.reason;
}
