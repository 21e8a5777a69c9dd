import { QUICServer, QUICClient, events } from '@matrixai/quic';
import { ed25519 } from '@noble/curves/ed25519.js';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { makeCertificate, peerFromCertificate } from './actors/listener/tlsIdentity.ts';
const mk = () => { const s = ed25519.utils.randomSecretKey(); return { privateKey: s, publicKey: ed25519.getPublicKey(s) }; };
const sid = makeCertificate(mk());
const hkey = randomBytes(32);
const server = new QUICServer({
  crypto: { key: hkey.buffer, ops: {
    sign: async (k, d) => { const h = createHmac('sha256', Buffer.from(k)).update(Buffer.from(d)).digest(); return h.buffer.slice(h.byteOffset, h.byteOffset+h.length); },
    verify: async (k, d, s) => { const h = createHmac('sha256', Buffer.from(k)).update(Buffer.from(d)).digest(); const ss = Buffer.from(s); return ss.length === h.length && timingSafeEqual(h, ss); } } },
  config: { key: sid.keyPem, cert: sid.certPem, verifyPeer: true, applicationProtos: ['test/1'],
    verifyCallback: async (certs) => { console.log('server verify', certs.length); return undefined; } },
});
server.addEventListener(events.EventQUICServerConnection.name, (e: any) => {
  const c = e.detail; console.log('server conn', (c as any).conn.applicationProto().toString(), c.getRemoteCertsChain().length);
  c.addEventListener(events.EventQUICConnectionStream.name, async (se: any) => { const s = se.detail; for await (const ch of s.readable) { const w = s.writable.getWriter(); await w.write(ch); await w.close(); } });
});
await server.start({ host: '127.0.0.1', port: 0 });
console.log('port', server.port);
const withCert = process.argv[2] === 'cert';
const cid = makeCertificate(mk());
try {
const client = await QUICClient.createQUICClient({ host: '127.0.0.1', port: server.port, crypto: { ops: { randomBytes: async (b: ArrayBuffer) => { randomBytes(b.byteLength).copy(Buffer.from(b)); } } },
  config: { verifyPeer: true, applicationProtos: [process.argv[3] ?? 'test/1'], ...(withCert ? { key: cid.keyPem, cert: cid.certPem } : {}),
    verifyCallback: async (certs) => { console.log('client verify', peerFromCertificate(certs[0]).nodeId); return undefined; } } }, { timer: 3000 });
console.log('client connected');
const s = client.connection.newStream();
const w = s.writable.getWriter(); await w.write(Buffer.from('hello')); await w.close();
for await (const ch of s.readable) console.log('echo', Buffer.from(ch).toString());
await client.destroy();
} catch (e) { console.log('client err', e); }
await server.stop({force: true});
console.log('done');
