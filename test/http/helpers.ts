// Helpers for the HTTP front end tests: a node with a test operation or two, curl run as a user
// would (TLS with the node's key pinned: its certificate is self-signed, so -k plus
// --pinnedpubkey with the SPKI hash of the node id's key), and a raw TLS socket for bad input.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import https from 'node:https';
import { X509Certificate, createPublicKey } from 'node:crypto';
import { Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import { defineOperation, type OperationSpec } from '../../operations/catalogue.ts';
import { publicKeyFromNodeId } from '../../actors/vault/nodeId.ts';
import { makeHome, startTestNode, type TestHome } from '../node/helpers.ts';
import type { RunningNode, StartNodeOptions } from '../../supervisors/startNode.ts';

/** `test/echo` (public), `test/secret` (scope "secret"), `test/count` (a public subscription). */
export function testOperations(): OperationSpec[] {
  return [
    defineOperation({
      name: 'test/echo',
      type: 'query',
      description: 'Echoes its text (public).',
      input: Type.Object({ text: Type.String({ maxLength: 100_000 }), n: Type.Optional(Type.Integer()) }, { additionalProperties: false }),
      output: Type.Object({ text: Type.String() }),
      scopes: [],
      visibility: 'external',
      async handler({ text }) {
        return { text };
      },
    }),
    defineOperation({
      name: 'test/secret',
      type: 'query',
      description: 'Needs the "secret" scope.',
      input: Type.Object({}),
      output: Type.Object({ ok: Type.Boolean() }),
      scopes: ['secret'],
      visibility: 'external',
      async handler() {
        return { ok: true };
      },
    }),
    defineOperation({
      name: 'test/bytes',
      type: 'query',
      description: 'Returns the length and the reversed bytes of its input (bytes as base64 in JSON).',
      input: Type.Object({ data: Type.Uint8Array({ maxByteLength: 1024 }) }),
      output: Type.Object({ length: Type.Integer(), reversed: Type.Uint8Array() }),
      scopes: [],
      visibility: 'external',
      async handler({ data }) {
        return { length: data.byteLength, reversed: Uint8Array.from(data).reverse() };
      },
    }),
    defineOperation({
      name: 'test/count',
      type: 'subscription',
      description: 'Counts from 1 to `to` (public subscription).',
      input: Type.Object({ to: Type.Integer({ minimum: 1, maximum: 1000 }) }),
      output: Type.Object({ n: Type.Integer() }),
      scopes: [],
      visibility: 'external',
      async *handler({ to }) {
        for (let n = 1; n <= to; n++) yield { n };
      },
    }),
    defineOperation({
      name: 'test/internal',
      type: 'query',
      input: Type.Object({}),
      output: Type.Object({}),
      scopes: [],
      visibility: 'internal',
      async handler() {
        return {};
      },
    }),
  ];
}

export interface HttpNode {
  home: TestHome;
  node: RunningNode;
  /** https://127.0.0.1:PORT */
  base: string;
  /** curl's --pinnedpubkey value for this node's key. */
  pin: string;
  stop(): Promise<void>;
}

/** The SPKI (SubjectPublicKeyInfo) SHA-256 pin of an Ed25519 node id, as curl takes it. */
export function spkiPin(nodeId: string): string {
  const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(publicKeyFromNodeId(nodeId))]);
  return `sha256//${createHash('sha256').update(spki).digest('base64')}`;
}

export async function startHttpNode(options: Partial<StartNodeOptions> = {}): Promise<HttpNode> {
  const home = await makeHome('alknet-http-');
  const node = await startTestNode(home, { agent: false, operations: testOperations(), ...options });
  return {
    home,
    node,
    base: `https://127.0.0.1:${node.tcpPort}`,
    pin: spkiPin(node.nodeId),
    async stop() {
      await node.stop();
      home.cleanup();
    },
  };
}

export interface CurlResult {
  code: number | null;
  status: number;
  httpVersion: string;
  headers: Record<string, string>;
  body: string;
  stderr: string;
  json<T = any>(): T;
}

/** Runs curl against the node (TLS, key pinned). `args` are extra curl arguments; the URL is base + path. */
export function curl(node: HttpNode, pathAndQuery: string, args: string[] = [], options: { timeoutMs?: number } = {}): Promise<CurlResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-curl-'));
  const headerFile = path.join(dir, 'headers');
  const bodyFile = path.join(dir, 'body');
  return new Promise((resolve, reject) => {
    const child = spawn('curl', ['-sS', '-k', '--pinnedpubkey', node.pin, '-D', headerFile, '-o', bodyFile, '-w', '%{http_code} %{http_version}', '--max-time', '30', ...args, `${node.base}${pathAndQuery}`]);
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 40_000);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const [status, httpVersion] = stdout.trim().split(' ');
      const headers: Record<string, string> = {};
      const rawHeaders = fs.existsSync(headerFile) ? fs.readFileSync(headerFile, 'utf8') : '';
      // The last header block (after any 100 Continue).
      const blocks = rawHeaders.split(/\r?\n\r?\n/).filter((b) => b.trim());
      for (const line of (blocks.at(-1) ?? '').split(/\r?\n/).slice(1)) {
        const at = line.indexOf(':');
        if (at > 0) headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
      }
      const body = fs.existsSync(bodyFile) ? fs.readFileSync(bodyFile, 'utf8') : '';
      fs.rmSync(dir, { recursive: true, force: true });
      resolve({
        code,
        status: Number(status),
        httpVersion: httpVersion ?? '',
        headers,
        body,
        stderr,
        json() {
          return JSON.parse(body);
        },
      });
    });
  });
}

/** curl args for a JSON POST. */
export function postJson(value: unknown, extra: string[] = []): string[] {
  return ['-X', 'POST', '-H', 'content-type: application/json', '--data-binary', typeof value === 'string' ? value : JSON.stringify(value), ...extra];
}

export function bearer(token: string): string[] {
  return ['-H', `authorization: Bearer ${token}`];
}

/** A raw TLS connection to the node with the given ALPN (for bytes curl would never send). */
export function rawTls(node: HttpNode, alpn = 'http/1.1'): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: node.node.tcpPort, ALPNProtocols: [alpn], rejectUnauthorized: false }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Sends bytes on a raw connection and collects what comes back until the server closes it or `ms` pass. */
export function exchange(socket: tls.TLSSocket, bytes: string | Buffer, ms = 15_000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    let text = '';
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ text, closed });
    };
    const timer = setTimeout(() => finish(false), ms);
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
    if (bytes.length) socket.write(bytes);
  });
}

/**
 * A fetch for the node's self-signed certificate, pinned to its key (the certificate's SPKI must
 * be the node id's): what an MCP client or any program would configure. HTTP/1.1 over TLS.
 */
export function pinnedFetch(node: HttpNode): typeof fetch {
  const expected = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(publicKeyFromNodeId(node.node.nodeId))]);
  return (async (input: string | URL | Request, init: RequestInit = {}) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    const body = request.body ? Buffer.from(await request.arrayBuffer()) : undefined;
    const headers: Record<string, string> = {};
    request.headers.forEach((v, k) => (headers[k] = v));
    if (body) headers['content-length'] = String(body.length);
    return await new Promise<Response>((resolve, reject) => {
      const req = https.request(
        // ALPN: the node serves only the ALPNs it registered (a client that offers none is refused).
        { host: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, method: request.method, headers, rejectUnauthorized: false, agent: false, ALPNProtocols: ['http/1.1'] } as https.RequestOptions,
        (res) => {
          const spki = new X509Certificate((res.socket as tls.TLSSocket).getPeerCertificate().raw).publicKey.export({ type: 'spki', format: 'der' });
          if (!Buffer.from(spki).equals(expected)) {
            res.destroy();
            reject(new Error('the server key is not the pinned node key'));
            return;
          }
          const out = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) out.set(k, Array.isArray(v) ? v.join(', ') : v);
          const status = res.statusCode ?? 0;
          const nullBody = [101, 204, 205, 304].includes(status);
          if (nullBody) res.resume();
          resolve(new Response(nullBody ? null : (Readable.toWeb(res) as ReadableStream), { status, headers: out }));
        },
      );
      req.on('error', reject);
      init.signal?.addEventListener('abort', () => req.destroy(new Error('aborted')), { once: true });
      req.end(body);
    });
  }) as typeof fetch;
}

/**
 * What a browser sees: the node's P-256 browser certificate (a client that offers no Ed25519 gets
 * it). Checked to be signed by the node key, then its SPKI hash as Chromium's
 * --ignore-certificate-errors-spki-list takes it (base64 of SHA-256).
 */
export async function browserPin(node: HttpNode): Promise<string> {
  const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port: node.node.tcpPort, ALPNProtocols: ['h2'], rejectUnauthorized: false, sigalgs: 'ecdsa_secp256r1_sha256:rsa_pss_rsae_sha256' }, () => resolve(s));
    s.once('error', reject);
  });
  const cert = new X509Certificate(socket.getPeerCertificate().raw);
  socket.destroy();
  const nodeKey = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(publicKeyFromNodeId(node.node.nodeId))]), format: 'der', type: 'spki' });
  if (cert.publicKey.asymmetricKeyType !== 'ec' || !cert.verify(nodeKey)) throw new Error('the browser certificate is not signed by the node key');
  return createHash('sha256').update(cert.publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
}
