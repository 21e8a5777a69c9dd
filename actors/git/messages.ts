// The git service's bus messages: its whole door. The git actor owns the repositories under
// HOME/git; protocols/git (git://-style alknet/git, SSH exec, smart HTTP) speaks the wire and asks
// it by message for refs, negotiation answers, pack windows and pushes. git.init, git.list and
// git.refs are also operations of the node's catalogue (operations.ts); the rest are LOCAL ONLY
// (machine.ts refuses them from other nodes). Packs travel as pieces of bytes: in one process they
// are passed by reference, never copied.
import { Type as T } from '@sinclair/typebox';
import { defineMessages, type MessagesOf } from '../../bus/catalogue.ts';

export const GIT_SYSTEM_ID = 'git';
/** Most bytes of one pack window (git.packNext). */
export const MAX_PACK_WINDOW = 8 * 1024 * 1024;
/** Most pieces a pushed pack may come in (each up to 16 MiB). */
export const MAX_PUSH_PIECES = 4096;
/** Most ref commands in one push, wants/haves in one request. */
export const MAX_COMMANDS = 10_000;
export const MAX_OIDS = 100_000;

const Oid = T.String({ pattern: '^[0-9a-f]{40}$', description: 'object id: 40 lower-case hex characters' });
const Oids = T.Array(Oid, { maxItems: MAX_OIDS });
const RepoName = T.String({ minLength: 1, maxLength: 120, description: 'repository name: letters, digits, ".", "_", "-" (".git" optional)' });
const Stats = T.Object({
  objects: T.Integer({ minimum: 0 }),
  reused: T.Integer({ minimum: 0 }),
  deltas: T.Integer({ minimum: 0 }),
  bytes: T.Integer({ minimum: 0 }),
});

export const RefSchema = T.Object({ name: T.String(), oid: Oid, peeled: T.Optional(Oid) });
export const HeadSchema = T.Object({ target: T.Union([T.String(), T.Null()]), oid: T.Union([Oid, T.Null()]) });

export const gitMessages = defineMessages({
  /** Creates a bare repository HOME/git/NAME.git (nothing changes if it exists: created false). */
  'git.init': {
    request: T.Object({ name: RepoName, allowForcePush: T.Optional(T.Boolean()) }, { additionalProperties: false }),
    reply: T.Object({ name: T.String(), created: T.Boolean() }),
  },
  /** The repositories, with what HEAD names and how many refs each has. */
  'git.list': {
    request: T.Object({}, { additionalProperties: false }),
    reply: T.Object({ repos: T.Array(T.Object({ name: T.String(), head: T.Union([T.String(), T.Null()]), refs: T.Integer({ minimum: 0 }) })) }),
  },
  /** HEAD and every ref of a repository (annotated tags with the object they name). */
  'git.refs': {
    request: T.Object({ name: RepoName }, { additionalProperties: false }),
    reply: T.Object({ head: HeadSchema, refs: T.Array(RefSchema) }),
  },
  /** LOCAL ONLY. Which `haves` the repository has; `ready` when every want reaches one (with `commons`). */
  'git.negotiate': {
    request: T.Object({ name: RepoName, wants: Oids, commons: Oids, haves: Oids }, { additionalProperties: false }),
    reply: T.Object({ common: Oids, ready: T.Boolean() }),
  },
  /** LOCAL ONLY. Of `oids`, those neither ref tips nor reachable from one (stateless HTTP wants). */
  'git.unreachable': {
    request: T.Object({ name: RepoName, oids: Oids }, { additionalProperties: false }),
    reply: T.Object({ oids: Oids }),
  },
  /** LOCAL ONLY. `deepen N`: the new shallow commits and the client's shallow commits now complete. */
  'git.shallow': {
    request: T.Object({ name: RepoName, wants: Oids, depth: T.Integer({ minimum: 1, maximum: 0x7fffffff }), clientShallow: Oids }, { additionalProperties: false }),
    reply: T.Object({ shallow: Oids, unshallow: Oids }),
  },
  /**
   * LOCAL ONLY. Chooses the objects to send (wants, minus what `haves` reach; shallow boundaries as
   * grafts) and starts a pack; ask git.packNext for its windows. BUSY when too many are in flight.
   */
  'git.packStart': {
    request: T.Object({
      name: RepoName, wants: Oids, haves: Oids, clientShallow: Oids, shallow: Oids, unshallow: Oids,
      ofsDelta: T.Boolean(), thin: T.Boolean(), includeTag: T.Boolean(),
    }, { additionalProperties: false }),
    reply: T.Object({ packId: T.String(), objects: T.Integer({ minimum: 0 }), commits: T.Integer({ minimum: 0 }) }),
  },
  /** LOCAL ONLY. The next window of a pack (about maxBytes); `done` with the trailer. */
  'git.packNext': {
    request: T.Object({ packId: T.String({ maxLength: 64 }), maxBytes: T.Optional(T.Integer({ minimum: 1024, maximum: MAX_PACK_WINDOW })) }, { additionalProperties: false }),
    reply: T.Object({ pieces: T.Array(T.Uint8Array()), done: T.Boolean(), stats: Stats }),
  },
  /** LOCAL ONLY. Drops a pack being sent (the client went away). */
  'git.packAbort': {
    request: T.Object({ packId: T.String({ maxLength: 64 }) }, { additionalProperties: false }),
    reply: T.Object({ aborted: T.Boolean() }),
  },
  /**
   * LOCAL ONLY. A push: the pack (pieces of one pack, or none when every command deletes) is checked
   * and stored, then each command is checked (ref name, objects, fast-forward policy) and applied;
   * with `atomic`, all or none. Pushes to one repository run one at a time.
   */
  'git.receive': {
    request: T.Object({
      name: RepoName,
      commands: T.Array(T.Object({ old: Oid, new: Oid, ref: T.String({ maxLength: 4096 }) }), { minItems: 1, maxItems: MAX_COMMANDS }),
      pack: T.Array(T.Uint8Array({ maxByteLength: 16 * 1024 * 1024 }), { maxItems: MAX_PUSH_PIECES }),
      atomic: T.Boolean(),
    }, { additionalProperties: false }),
    reply: T.Object({
      unpack: T.String(),
      results: T.Array(T.Object({ ref: T.String(), ok: T.Boolean(), reason: T.Optional(T.String()) })),
    }),
  },
});

declare module '../../bus/catalogue.ts' {
  interface Catalogue extends MessagesOf<typeof gitMessages> {}
}

export type GitMessageType = keyof typeof gitMessages;

export function isGitMessageType(type: unknown): type is GitMessageType {
  return typeof type === 'string' && Object.prototype.hasOwnProperty.call(gitMessages, type);
}
