// receive-pack, protocol v0/v1: the server side of push, ours. Advertisement, the client's ref
// commands ("OLD NEW REF", capabilities after a NUL on the first), the pack read off the stream up
// to its trailer (packFramer.ts), then the git service checks and stores it and applies the
// commands (per repository one push at a time; fast-forward policy; atomic if asked). The result
// goes back as report-status ("unpack ok", "ok REF" / "ng REF REASON"), inside side-band 1 when the
// client asked for side-band-64k.
import { GitFormatError } from '../../actors/git/objects.ts';
import type { GitBackend, ReceiveReply, Refs } from './backend.ts';
import { advertisement, errPacket, type GitOutput } from './advertise.ts';
import type { GitInput } from './input.ts';
import { readPack, type FramerLimits } from './packFramer.ts';
import { FLUSH, pkt, PktLineError, pktText, sideband } from './pktLine.ts';
import { GitProtocolError } from './uploadPack.ts';

const OID = /^[0-9a-f]{40}$/;
const ZERO = '0'.repeat(40);
const MAX_COMMANDS = 10_000;

export interface ReceivePackSession {
  name: string;
  backend: GitBackend;
  input: GitInput;
  output: GitOutput;
  stateless: boolean;
  advertise: boolean;
  advertiseOnly?: boolean;
  limits: FramerLimits;
}

export interface ReceivePackResult {
  commands: number;
  packBytes: number;
  report: ReceiveReply | null;
}

export async function serveReceivePack(s: ReceivePackSession): Promise<ReceivePackResult> {
  const { name, backend, input, output } = s;
  const result: ReceivePackResult = { commands: 0, packBytes: 0, report: null };
  if (s.advertise) {
    const refs: Refs = await backend.refs(name);
    await output.write(advertisement('git-receive-pack', refs, s.stateless));
    if (s.advertiseOnly) return result;
  }

  const commands: Array<{ old: string; new: string; ref: string }> = [];
  let caps = new Set<string>();
  try {
    for (;;) {
      const p = await input.readPkt();
      if (p === null) {
        if (commands.length === 0) return result; // nothing to push
        throw new GitProtocolError('the client ended before its commands were complete');
      }
      if (p.kind === 'flush') break;
      let line = pktText(p.data);
      if (commands.length === 0) {
        const nul = line.indexOf('\0');
        if (nul >= 0) {
          caps = new Set(line.slice(nul + 1).split(' ').filter(Boolean));
          line = line.slice(0, nul);
        }
      }
      if (line.startsWith('shallow ')) continue; // a shallow client says where its history stops; we need none of it
      if (line.startsWith('push-cert')) throw new GitProtocolError('receive-pack: signed pushes are not supported by this server');
      const old = line.slice(0, 40);
      const neu = line.slice(41, 81);
      const ref = line.slice(82);
      if (!OID.test(old) || line[40] !== ' ' || !OID.test(neu) || line[81] !== ' ' || ref.length === 0) {
        throw new GitProtocolError(`receive-pack: protocol error: expected "OLD NEW REF", got ${JSON.stringify(line.slice(0, 80))}`);
      }
      if (commands.length >= MAX_COMMANDS) throw new GitProtocolError(`receive-pack: more than ${MAX_COMMANDS} ref updates in one push`);
      commands.push({ old, new: neu, ref });
    }
  } catch (err) {
    if (err instanceof GitProtocolError || err instanceof PktLineError) await output.write([errPacket(err.message)]).catch(() => {});
    throw err;
  }
  result.commands = commands.length;
  if (commands.length === 0) return result;

  const band = caps.has('side-band-64k');
  const quiet = caps.has('quiet');
  const reportStatus = caps.has('report-status');
  const say = (text: string): Buffer[] => (band && !quiet ? sideband(2, Buffer.from(text), true) : []);

  let report: ReceiveReply;
  let framing: Error | null = null;
  let pack: Buffer | null = null;
  if (commands.some((c) => c.new !== ZERO)) {
    try {
      pack = await readPack(input, s.limits);
      result.packBytes = pack.length;
    } catch (err) {
      if (!(err instanceof GitFormatError)) throw err;
      framing = err;
    }
  }
  if (framing) {
    report = { unpack: framing.message.replace(/[\r\n]/g, ' '), results: commands.map((c) => ({ ref: c.ref, ok: false, reason: 'unpacker error' })) };
  } else {
    if (pack) await output.write(say(`alknet: checking ${commands.length} ref update${commands.length === 1 ? '' : 's'} and a pack of ${pack.length} bytes\n`)).catch(() => {});
    report = await backend.receive({ name, commands, pack: pack ? [pack] : [], atomic: caps.has('atomic') });
  }
  result.report = report;

  if (reportStatus) {
    const lines = [pkt(`unpack ${report.unpack}\n`)];
    for (const r of report.results) lines.push(pkt(r.ok ? `ok ${r.ref}\n` : `ng ${r.ref} ${r.reason ?? 'rejected'}\n`));
    lines.push(FLUSH);
    if (band) await output.write([...sideband(1, Buffer.concat(lines), true), FLUSH]);
    else await output.write(lines);
  } else if (band) await output.write([FLUSH]);
  return result;
}
