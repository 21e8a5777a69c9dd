// What an alknet/call client can make the node hold before (and after) it is known:
// - a connection whose peer is not the node or a listed peer may send request frames of at most
//   limits.maxFirstFrameBytes: a 16 MiB frame is refused from its header, nothing buffered;
// - a listed peer may send large frames, but all of them together draw on one node-wide budget
//   (limits.clientBufferBytes): past it a new large frame is refused with BUSY;
// - a flood of such frames from many anonymous TLS connections leaves RSS and descriptors at their level.
//   (The client side runs in this process too; its buffers are freed once each socket closes.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import fs from 'node:fs';
import { dial } from '../../actors/listener/dial.ts';
import { addPeer } from '../../actors/peers/peersFile.ts';
import { nodeIdFromPublicKey } from '../../actors/vault/nodeId.ts';
import { CallFrameDecoder, encodeFrame } from '../../protocols/call/callFrameCodec.ts';
import { DEFAULT_CONFIG } from '../../supervisors/config.ts';
import { newKeys, readAll } from '../listener/fixtures.ts';
import { makeHome, startTestNode } from '../node/helpers.ts';
import type { Duplex } from 'node:stream';

const MiB = 1024 * 1024;

/** A frame header announcing `length` bytes, then `body` bytes of it. */
function partialFrame(length: number, body: number): Buffer {
  const out = Buffer.alloc(4 + body, 0x41);
  out.writeUInt32BE(length, 0);
  return out;
}

/** The first envelope the server answers on this stream. */
async function firstAnswer(stream: Duplex): Promise<{ type: string; payload: { code?: string; message?: string } }> {
  const bytes = await readAll(stream, 20_000);
  const decoder = new CallFrameDecoder();
  decoder.push(bytes);
  const envelope = decoder.pull();
  assert.ok(envelope, 'the server answered with a frame');
  return envelope as never;
}

function configWith(limits: Partial<typeof DEFAULT_CONFIG.limits>) {
  const config = structuredClone(DEFAULT_CONFIG);
  Object.assign(config.limits, limits);
  return config;
}

test('an anonymous connection is refused a large first frame from its header; a listed peer is not', async () => {
  const home = await makeHome();
  const peer = newKeys();
  addPeer(home.home, nodeIdFromPublicKey(peer.publicKey), { scopes: [] });
  const node = await startTestNode(home);
  try {
    const address = `${node.nodeId}@${node.address}`;
    const anon = await dial(address, { alpn: 'alknet/call', transport: 'quic', identity: newKeys() });
    const s1 = await anon.openStream();
    s1.write(partialFrame(16 * MiB, 1024));
    const refused = await firstAnswer(s1);
    assert.equal(refused.type, 'call.error');
    assert.equal(refused.payload.code, 'INVALID_INPUT');
    assert.match(refused.payload.message ?? '', /above the 65536-byte limit/);
    await anon.close();

    // A listed peer's 1 MiB request frame is read whole: the answer is about its content, not its size.
    const known = await dial(address, { alpn: 'alknet/call', transport: 'quic', identity: peer });
    const s2 = await known.openStream();
    s2.end(encodeFrame({ type: 'call.requested', id: 'big', payload: { operationId: 'node/info', input: { pad: 'x'.repeat(MiB) } } }));
    const answer = await firstAnswer(s2);
    assert.equal(answer.type, 'call.responded', `the 1 MiB frame was read and the call served (${answer.payload.message ?? ''})`);
    await known.close();
  } finally {
    await node.stop();
  }
});

test('large frames from known peers share one node-wide budget: past it, BUSY', async () => {
  const home = await makeHome();
  const peer = newKeys();
  addPeer(home.home, nodeIdFromPublicKey(peer.publicKey), { scopes: [] });
  const node = await startTestNode(home, { config: configWith({ clientBufferBytes: 3 * MiB }) });
  try {
    const conn = await dial(`${node.nodeId}@${node.address}`, { alpn: 'alknet/call', transport: 'quic', identity: peer });
    // Two 1.25 MiB frames in progress take 2.5 MiB of the 3 MiB budget; a third does not fit.
    const held = [await conn.openStream(), await conn.openStream()];
    for (const s of held) s.write(partialFrame(1.25 * MiB, 1024));
    await new Promise((r) => setTimeout(r, 200)); // let both headers arrive before the third
    const third = await conn.openStream();
    third.write(partialFrame(1.25 * MiB, 1024));
    const answer = await firstAnswer(third);
    assert.equal(answer.type, 'call.error');
    assert.equal(answer.payload.code, 'BUSY');
    // When the held streams go away, their share comes back: a new large frame is read again.
    await conn.close();
    const again = await dial(`${node.nodeId}@${node.address}`, { alpn: 'alknet/call', transport: 'quic', identity: peer });
    const s = await again.openStream();
    s.end(encodeFrame({ type: 'call.requested', id: 'after', payload: { operationId: 'node/info', input: { pad: 'y'.repeat(1.25 * MiB) } } }));
    const after = await firstAnswer(s);
    assert.equal(after.type, 'call.responded', `the budget was given back (${after.payload.message ?? ''})`);
    await again.close();
  } finally {
    await node.stop();
  }
});

function rssBytes(): number {
  return process.memoryUsage().rss;
}

function openDescriptors(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

test('64 anonymous TLS connections sending whole 4 MiB frames leave memory and descriptors at their level', async () => {
  const home = await makeHome();
  const node = await startTestNode(home);
  try {
    // Warm up one connection so lazily loaded code is not counted.
    const warm = await dial(`${node.nodeId}@${node.address}`, { alpn: 'alknet/call', transport: 'tls', identity: newKeys() });
    await warm.close();
    global.gc?.();
    const rssBefore = rssBytes();
    const fdsBefore = openDescriptors();
    const chunk = partialFrame(4 * MiB, 4 * MiB);
    const floods = Array.from({ length: 64 }, () =>
      new Promise<void>((resolve) => {
        const socket = tls.connect({ host: '127.0.0.1', port: node.tcpPort, ALPNProtocols: ['alknet/call'], rejectUnauthorized: false });
        socket.on('secureConnect', () => socket.write(chunk));
        socket.on('error', () => resolve());
        socket.on('close', () => resolve());
        socket.on('data', () => socket.destroy());
        setTimeout(() => socket.destroy(), 20_000).unref();
      }),
    );
    await Promise.all(floods);
    // Other clients are served afterwards.
    const client = await dial(`${node.nodeId}@${node.address}`, { alpn: 'alknet/call', transport: 'tls', identity: newKeys() });
    const s = await client.openStream();
    s.end(encodeFrame({ type: 'call.requested', id: 'info', payload: { operationId: 'node/info', input: {} } }));
    assert.equal((await firstAnswer(s)).type, 'call.responded');
    await client.close();
    for (let i = 0; i < 20 && openDescriptors() > fdsBefore + 5; i++) await new Promise((r) => setTimeout(r, 100));
    global.gc?.();
    const grown = rssBytes() - rssBefore;
    assert.ok(grown < 96 * MiB, `RSS grew by ${Math.round(grown / MiB)} MiB for 64 refused 4 MiB frames (buffering them would hold 256 MiB)`);
    assert.ok(openDescriptors() <= fdsBefore + 5, `descriptors back to their level (${fdsBefore} before, ${openDescriptors()} after)`);
  } finally {
    await node.stop();
  }
});
