// The handshake-time caches: verified peer certificates (peerCertificate.ts) and our own
// certificate per identity (dial.ts). A cache hit must be exactly as trustworthy as a fresh check.
import test from 'node:test';
import assert from 'node:assert/strict';
import { makeCertificate } from '../../actors/listener/tlsIdentity.ts';
import { peerFromChain, verifiedPeer } from '../../actors/listener/peerCertificate.ts';
import { dial } from '../../actors/listener/dial.ts';
import { startListener } from '../../actors/listener/listener.ts';
import type { Connection } from '../../actors/listener/connection.ts';
import { newKeys, TEST_ALPN, within } from './fixtures.ts';
import { nodeIdFromPublicKey } from '../../actors/vault/nodeId.ts';

test('a verified certificate is remembered; the cache hands out copies', () => {
  const keys = newKeys();
  const { certDer } = makeCertificate(keys);
  const first = verifiedPeer(certDer);
  assert.equal(first.nodeId, nodeIdFromPublicKey(keys.publicKey));
  first.publicKey.fill(0); // a caller scribbling on its copy…
  const second = verifiedPeer(new Uint8Array(certDer)); // …and the same bytes in another buffer
  assert.deepEqual(second.publicKey, keys.publicKey, 'the cached key is intact');
  assert.equal(peerFromChain([certDer])?.nodeId, first.nodeId);
  assert.equal(peerFromChain([]), null);
});

test('a bad certificate is refused every time, also after its good original was cached', () => {
  const { certDer } = makeCertificate(newKeys());
  verifiedPeer(certDer);
  const tampered = new Uint8Array(certDer);
  tampered[tampered.length - 1]! ^= 0xff; // the last byte of the signature
  assert.throws(() => verifiedPeer(tampered), /not signed by its own key/);
  assert.throws(() => verifiedPeer(tampered), /not signed by its own key/);
  assert.throws(() => verifiedPeer(new Uint8Array(20 * 1024)), /too large/);
});

test('the cache stays bounded: many different certificates all verify', () => {
  const peers = Array.from({ length: 300 }, () => newKeys());
  for (const keys of peers) assert.equal(verifiedPeer(makeCertificate(keys).certDer).nodeId, nodeIdFromPublicKey(keys.publicKey));
});

test('dialing twice with one identity shows the same node id on both transports', async () => {
  const seen: string[] = [];
  const listener = await startListener({
    host: '127.0.0.1', port: 0, alpns: [TEST_ALPN], identity: newKeys(),
    onConnection: (conn) => { seen.push(conn.peer?.nodeId ?? 'none'); conn.onStream((s) => s.pipe(s)); },
  });
  const identity = newKeys();
  const conns: Connection[] = [];
  try {
    for (const transport of ['quic', 'quic', 'tls', 'tls'] as const) {
      conns.push(await dial(`${listener.nodeId}@127.0.0.1:${listener.quicPort}`, { alpn: TEST_ALPN, transport, identity }));
    }
    const deadline = Date.now() + 5000;
    while (seen.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(seen, Array(4).fill(nodeIdFromPublicKey(identity.publicKey)));
  } finally {
    await within(Promise.all(conns.map((c) => c.close())), 10_000, 'closing');
    await listener.close();
  }
});
