// The ref advertisement of protocol v0/v1 and the capabilities we offer, and the output a session
// writes to (with back-pressure). upload-pack offers multi_ack(_detailed), thin-pack, side-band(-64k),
// ofs-delta, shallow (deepen N), no-progress, include-tag and, for stateless HTTP only (as git does),
// no-done; receive-pack offers report-status, delete-refs, side-band-64k, quiet, atomic and ofs-delta.
import type { Writable } from 'node:stream';
import { createRequire } from 'node:module';
import { FLUSH, pkt } from './pktLine.ts';
import type { Refs } from './backend.ts';

const VERSION: string = createRequire(import.meta.url)('../../package.json').version;
export const AGENT = `alknet/${VERSION}`;
const ZERO = '0'.repeat(40);

export type Service = 'git-upload-pack' | 'git-receive-pack';

export function capabilities(service: Service, refs: Refs, stateless: boolean): string[] {
  const common = ['object-format=sha1', `agent=${AGENT}`];
  if (service === 'git-receive-pack') return ['report-status', 'delete-refs', 'side-band-64k', 'quiet', 'atomic', 'ofs-delta', ...common];
  const caps = ['multi_ack', 'thin-pack', 'side-band', 'side-band-64k', 'ofs-delta', 'shallow', 'no-progress', 'include-tag', 'multi_ack_detailed'];
  if (stateless) caps.push('no-done');
  if (refs.head.target !== null && refs.head.oid !== null) caps.push(`symref=HEAD:${refs.head.target}`);
  return [...caps, ...common];
}

/** The advertisement: HEAD (upload-pack, when it resolves), every ref and peeled tags, then a flush. */
export function advertisement(service: Service, refs: Refs, stateless: boolean): Buffer[] {
  const caps = capabilities(service, refs, stateless).join(' ');
  const lines: string[] = [];
  if (service === 'git-upload-pack' && refs.head.oid !== null) lines.push(`${refs.head.oid} HEAD`);
  for (const r of refs.refs) {
    lines.push(`${r.oid} ${r.name}`);
    if (r.peeled && service === 'git-upload-pack') lines.push(`${r.peeled} ${r.name}^{}`);
  }
  if (lines.length === 0) lines.push(`${ZERO} capabilities^{}`);
  const out = lines.map((line, i) => pkt(i === 0 ? `${line}\0${caps}\n` : `${line}\n`));
  out.push(FLUSH);
  return out;
}

/** What a session writes to: waits while the other side is not reading (back-pressure). */
export interface GitOutput {
  write(chunks: Buffer[]): Promise<void>;
}

export class OutputClosed extends Error {
  override name = 'OutputClosed';
}

export function streamOutput(stream: Writable): GitOutput {
  return {
    async write(chunks) {
      let ok = true;
      for (const c of chunks) {
        if (stream.destroyed || stream.writableEnded) throw new OutputClosed('the client went away');
        ok = stream.write(c) && ok;
      }
      if (ok) return;
      await new Promise<void>((resolve, reject) => {
        const done = () => {
          stream.off('drain', done);
          stream.off('close', gone);
          stream.off('error', gone);
          resolve();
        };
        const gone = () => {
          stream.off('drain', done);
          stream.off('close', gone);
          stream.off('error', gone);
          reject(new OutputClosed('the client went away'));
        };
        stream.on('drain', done);
        stream.on('close', gone);
        stream.on('error', gone);
      });
    },
  };
}

/** An ERR packet: git shows "remote error: MESSAGE" and stops. */
export function errPacket(message: string): Buffer {
  return pkt(`ERR ${message.replace(/[\r\n]/g, ' ').slice(0, 1000)}\n`);
}
