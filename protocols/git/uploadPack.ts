// upload-pack, protocol v0/v1 (gitprotocol-pack): the server side of clone and fetch, ours (git's own
// is a C program; isomorphic-git has only a client). One function serves both shapes:
// - stateful (alknet/git, SSH): advertisement, wants (+ shallow/deepen), rounds of haves answered
//   at each flush, "done", then the pack;
// - stateless (smart HTTP): each POST carries the wants and all haves so far; a round ends the
//   request (the client asks again) unless it ends with "done" (or "ready" with no-done).
// Acknowledgements follow git's upload-pack: multi_ack_detailed ("ACK x common", "ACK x ready",
// NAK at each flush), multi_ack ("ACK x continue") or neither. The pack comes from the git service
// in windows, on side-band 1 (progress on 2, a fatal error on 3) when the client asked for it.
import type { GitBackend, Refs } from './backend.ts';
import { advertisement, errPacket, type GitOutput } from './advertise.ts';
import type { GitInput } from './input.ts';
import { FLUSH, pkt, PktLineError, pktText, sideband } from './pktLine.ts';

export class GitProtocolError extends Error {
  override name = 'GitProtocolError';
}

const OID = /^[0-9a-f]{40}$/;
/** Haves one fetch may send in all (git sends them in rounds of 32 … 1024). */
const MAX_HAVES = 100_000;
const MAX_WANTS = 100_000;
const MAX_SHALLOW = 100_000;
const WINDOW_BYTES = 1024 * 1024;

export interface UploadPackSession {
  name: string;
  backend: GitBackend;
  input: GitInput;
  output: GitOutput;
  /** Smart HTTP: one request of a conversation. */
  stateless: boolean;
  /** Send the ref advertisement first (git://, SSH; HTTP's GET info/refs). */
  advertise: boolean;
  /** Stop after the advertisement (HTTP's GET info/refs). */
  advertiseOnly?: boolean;
}

export interface UploadPackResult {
  wants: number;
  objects: number;
  bytes: number;
}

function fail(message: string): never {
  throw new GitProtocolError(message);
}

function shownLine(line: string): string {
  return JSON.stringify(line.slice(0, 80));
}

export async function serveUploadPack(s: UploadPackSession): Promise<UploadPackResult> {
  const { name, backend, input, output } = s;
  const result: UploadPackResult = { wants: 0, objects: 0, bytes: 0 };
  let refs: Refs | null = null;
  if (s.advertise) {
    refs = await backend.refs(name);
    await output.write(advertisement('git-upload-pack', refs, s.stateless));
    if (s.advertiseOnly) return result;
  }

  // Wants, shallow lines and deepen, up to a flush.
  const wants: string[] = [];
  const clientShallow: string[] = [];
  let caps = new Set<string>();
  let depth = 0;
  try {
    for (;;) {
      const p = await input.readPkt();
      if (p === null) {
        if (wants.length === 0 && clientShallow.length === 0) return result; // ls-remote, or nothing wanted
        fail('the client ended before its wants were complete');
      }
      if (p.kind === 'flush') break;
      const line = pktText(p.data);
      if (line.startsWith('want ')) {
        const oid = line.slice(5, 45);
        if (!OID.test(oid) || (line.length > 45 && line[45] !== ' ')) fail(`upload-pack: protocol error, expected to get object ID, not ${shownLine(line)}`);
        if (wants.length === 0) caps = new Set(line.slice(46).split(' ').filter(Boolean));
        if (wants.length >= MAX_WANTS) fail('upload-pack: too many wants');
        if (!wants.includes(oid)) wants.push(oid);
      } else if (line.startsWith('shallow ')) {
        const oid = line.slice(8);
        if (!OID.test(oid)) fail(`invalid shallow line: ${shownLine(line)}`);
        if (clientShallow.length >= MAX_SHALLOW) fail('upload-pack: too many shallow lines');
        clientShallow.push(oid);
      } else if (line.startsWith('deepen ')) {
        const n = Number(line.slice(7));
        if (!/^\d{1,10}$/.test(line.slice(7)) || !Number.isInteger(n) || n <= 0) fail(`Invalid deepen: ${shownLine(line)}`);
        depth = Math.min(n, 0x7fffffff);
      } else if (line.startsWith('deepen-since ') || line.startsWith('deepen-not ') || line.startsWith('filter ')) {
        fail(`upload-pack: ${line.split(' ')[0]} is not supported by this server`);
      } else {
        fail(`upload-pack: protocol error, expected to get object ID, not ${shownLine(line)}`);
      }
    }
  } catch (err) {
    if (err instanceof GitProtocolError || err instanceof PktLineError) await output.write([errPacket(err.message)]).catch(() => {});
    throw err;
  }
  result.wants = wants.length;

  // Only what was advertised may be wanted (stateless: or what is reachable from it now).
  refs ??= await backend.refs(name);
  const tips = new Set<string>();
  if (refs.head.oid) tips.add(refs.head.oid);
  for (const r of refs.refs) {
    tips.add(r.oid);
    if (r.peeled) tips.add(r.peeled);
  }
  const notTips = wants.filter((w) => !tips.has(w));
  if (notTips.length > 0) {
    const bad = s.stateless ? await backend.unreachable(name, notTips) : notTips;
    if (bad.length > 0) {
      const message = `upload-pack: not our ref ${bad[0]}`;
      await output.write([errPacket(message)]).catch(() => {});
      throw new GitProtocolError(message);
    }
  }

  let shallow: string[] = [];
  let unshallow: string[] = [];
  if (depth > 0 && wants.length > 0) {
    const r = await backend.shallow(name, wants, depth, clientShallow);
    shallow = r.shallow;
    unshallow = r.unshallow;
    await output.write([...shallow.map((o) => pkt(`shallow ${o}\n`)), ...unshallow.map((o) => pkt(`unshallow ${o}\n`)), FLUSH]);
  }
  if (wants.length === 0) return result;
  if (s.stateless && (await input.isEof())) return result;

  // Negotiation (git's get_common_commits).
  const multiAck = caps.has('multi_ack_detailed') ? 2 : caps.has('multi_ack') ? 1 : 0;
  const noDone = s.stateless && caps.has('no-done');
  const commons: string[] = [];
  const commonSet = new Set<string>();
  let batch: string[] = [];
  let haveCount = 0;
  let last = '';
  let gotCommon = false;
  let gotOther = false;
  let sentReady = false;
  let ready = false;
  const answerBatch = async (): Promise<void> => {
    if (batch.length === 0) return;
    const r = await backend.negotiate(name, wants, commons, batch);
    const found = new Set(r.common);
    ready = r.ready;
    const lines: Buffer[] = [];
    for (const h of batch) {
      if (found.has(h)) {
        gotCommon = true;
        last = h;
        if (!commonSet.has(h)) {
          commonSet.add(h);
          commons.push(h);
        }
        if (multiAck === 2) lines.push(pkt(`ACK ${h} common\n`));
        else if (multiAck === 1) lines.push(pkt(`ACK ${h} continue\n`));
        else if (commons.length === 1) lines.push(pkt(`ACK ${h}\n`));
      } else {
        gotOther = true;
        if (multiAck > 0 && ready) {
          if (multiAck === 2) {
            sentReady = true;
            lines.push(pkt(`ACK ${h} ready\n`));
          } else lines.push(pkt(`ACK ${h} continue\n`));
        }
      }
    }
    batch = [];
    if (lines.length > 0) await output.write(lines);
  };
  try {
    for (;;) {
      const p = await input.readPkt();
      if (p === null) {
        if (s.stateless) return result;
        fail('the client ended during negotiation');
      }
      if (p.kind === 'flush') {
        await answerBatch();
        const lines: Buffer[] = [];
        if (multiAck === 2 && gotCommon && !gotOther && ready) {
          sentReady = true;
          lines.push(pkt(`ACK ${last} ready\n`));
        }
        if (commons.length === 0 || multiAck > 0) lines.push(pkt('NAK\n'));
        if (noDone && sentReady) {
          lines.push(pkt(`ACK ${last}\n`));
          await output.write(lines);
          break;
        }
        await output.write(lines);
        if (s.stateless) return result;
        gotCommon = false;
        gotOther = false;
        continue;
      }
      const line = pktText(p.data);
      if (line.startsWith('have ')) {
        const oid = line.slice(5);
        if (!OID.test(oid)) fail(`upload-pack: expected SHA1 object, got ${shownLine(oid)}`);
        if (++haveCount > MAX_HAVES) fail('upload-pack: too many haves');
        batch.push(oid);
        continue;
      }
      if (line === 'done') {
        await answerBatch();
        if (commons.length > 0) {
          if (multiAck > 0) await output.write([pkt(`ACK ${last}\n`)]);
        } else await output.write([pkt('NAK\n')]);
        break;
      }
      fail(`upload-pack: expected SHA1 list, got ${shownLine(line)}`);
    }
  } catch (err) {
    if (err instanceof GitProtocolError || err instanceof PktLineError) await output.write([errPacket(err.message)]).catch(() => {});
    throw err;
  }

  // The pack.
  const band = caps.has('side-band-64k') ? 'large' : caps.has('side-band') ? 'small' : null;
  const progress = band !== null && !caps.has('no-progress');
  const data = (bytes: Uint8Array): Buffer[] => (band ? sideband(1, bytes, band === 'large') : [Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]);
  const say = (text: string): Buffer[] => (progress ? sideband(2, Buffer.from(text), band === 'large') : []);
  let packId: string | null = null;
  let finished = false;
  try {
    const start = await backend.packStart({
      name, wants, haves: commons, clientShallow, shallow, unshallow,
      ofsDelta: caps.has('ofs-delta'), thin: caps.has('thin-pack'), includeTag: caps.has('include-tag'),
    });
    packId = start.packId;
    result.objects = start.objects;
    await output.write(say(`alknet: ${start.objects} objects to send (${start.commits} commits)\n`));
    for (;;) {
      const w = await backend.packNext(packId, WINDOW_BYTES);
      const chunks: Buffer[] = [];
      for (const piece of w.pieces) chunks.push(...data(piece));
      if (progress && !w.done && w.stats.objects > 0) chunks.push(...say(`Sending objects: ${formatBytes(w.stats.bytes)}\r`));
      await output.write(chunks);
      result.bytes = w.stats.bytes;
      if (w.done) {
        finished = true;
        await output.write([...say(`Total ${w.stats.objects} (delta ${w.stats.deltas}), reused ${w.stats.reused}, ${formatBytes(w.stats.bytes)}\n`), ...(band ? [FLUSH] : [])]);
        break;
      }
    }
  } catch (err) {
    if (band) await output.write(sideband(3, Buffer.from(`alknet: ${(err as Error).message}\n`), band === 'large')).catch(() => {});
    throw err;
  } finally {
    if (packId && !finished) await backend.packAbort(packId);
  }
  return result;
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(2)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}
