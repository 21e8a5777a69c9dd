import { dial } from './actors/listener/dial.ts';
import { echoListener, echo, TEST_ALPN } from './test/listener/fixtures.ts';
const { listener } = await echoListener({ limits: { maxStreamsPerConnection: 2 } });
const conn = await dial(`${listener.nodeId}@127.0.0.1:${listener.quicPort}`, { alpn: TEST_ALPN, transport: 'quic' });
const a = await conn.openStream(); const b = await conn.openStream();
if (process.argv[2] === 'try') await conn.openStream().catch((e) => console.log('third fails', e.message));
await echo(a, Buffer.from('x')); await echo(b, Buffer.from('y'));
await new Promise(r => setTimeout(r, 100));
for (let i = 0; i < 5; i++) {
  try { const s = await conn.openStream(); await echo(s, Buffer.from('x')); console.log('ok', i) } catch (e) { console.log('fail at', i, (e as Error).message); await new Promise(r => setTimeout(r, 100)); }
}
await conn.close(); await listener.close();
