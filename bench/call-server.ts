// The servers of bench/call.ts, each run in its own process (its own thread, as a real server has):
//   node --import tsx bench/call-server.ts h2       a bare node:http2 TLS server: POST /bench/echo
//                                                  answers the JSON body {text} with {text}
//   node --import tsx bench/call-server.ts alknet   a node (startNode) serving alknet/call, with the
//                                                  operation bench/echo {text} → {text}
// Prints one JSON line {address} (h2: "127.0.0.1:PORT"; alknet: "NODEID@127.0.0.1:PORT"), then
// serves until its stdin ends or SIGTERM, and exits 0.
// BENCH_SERVER_PROF=DIR: the alknet server writes its CPU profile there (node's --cpu-prof).
import fs from 'node:fs';
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import { Session } from 'node:inspector/promises';
import { pathToFileURL } from 'node:url';
import type { AddressInfo } from 'node:net';
import { Type } from '@sinclair/typebox';
import { pino } from 'pino';
import { createVaultFile } from '../actors/vault/vaultFile.ts';
import { startNode } from '../supervisors/startNode.ts';
import { defineOperation } from '../operations/catalogue.ts';
import { ephemeralKeyPair, makeCertificate } from '../actors/listener/tlsIdentity.ts';

export const ECHO_PATH = '/bench/echo';
/** The largest request body the h2 server reads (the same order as alknet's anonymous frame limit). */
const MAX_BODY = 64 * 1024;

async function serveH2(): Promise<() => Promise<void>> {
  const cert = makeCertificate(ephemeralKeyPair());
  const server = http2.createSecureServer({ key: cert.keyPem, cert: cert.certPem, allowHTTP1: false });
  server.on('stream', (stream, headers) => {
    if (headers[':path'] !== ECHO_PATH || headers[':method'] !== 'POST') {
      stream.respond({ ':status': 404 });
      stream.end();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      else chunks.push(c);
    });
    stream.on('end', () => {
      let text: unknown;
      try {
        text = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { text?: unknown }).text;
      } catch {
        stream.respond({ ':status': 400 });
        stream.end();
        return;
      }
      stream.respond({ ':status': 200, 'content-type': 'application/json' });
      stream.end(JSON.stringify({ text }));
    });
    stream.on('error', () => {});
  });
  server.on('sessionError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.stdout.write(`${JSON.stringify({ address: `127.0.0.1:${(server.address() as AddressInfo).port}` })}\n`);
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}

async function serveAlknet(): Promise<() => Promise<void>> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-bench-call-'));
  await createVaultFile(home, { passphrase: 'bench', kdf: { N: 1024, r: 8, p: 1 } });
  const node = await startNode({ home, passphrase: 'bench', listen: '127.0.0.1:0', tensor: false, logger: pino({ level: 'silent' }) });
  node.operations.register([
    defineOperation({
      name: 'bench/echo', type: 'query', input: Type.Object({ text: Type.String({ maxLength: 1024 }) }),
      output: Type.Object({ text: Type.String() }), scopes: [], visibility: 'external', handler: async ({ text }) => ({ text }),
    }),
  ], 'bench');
  const profDir = process.env.BENCH_SERVER_PROF;
  let profiler: Session | undefined;
  if (profDir) {
    profiler = new Session();
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.start');
  }
  process.stdout.write(`${JSON.stringify({ address: `${node.nodeId}@${node.address}` })}\n`);
  return async () => {
    if (profiler && profDir) {
      const { profile } = await profiler.post('Profiler.stop');
      fs.mkdirSync(profDir, { recursive: true });
      fs.writeFileSync(path.join(profDir, `call-server-${process.pid}.cpuprofile`), JSON.stringify(profile));
    }
    await node.stop();
    fs.rmSync(home, { recursive: true, force: true });
  };
}

async function main(): Promise<void> {
  const mode = process.argv[2];
  if (mode !== 'h2' && mode !== 'alknet') {
    process.stderr.write('usage: call-server.ts h2|alknet\n');
    process.exit(2);
  }
  const stopServer = mode === 'h2' ? await serveH2() : await serveAlknet();
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void stopServer().finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.stdin.on('end', stop).resume();
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
