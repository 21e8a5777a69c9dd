// Run as a child process by exit.test.ts: uses both transports, closes everything, and must then
// exit on its own (no stray timers, sockets or handles).
import { dial } from '../../actors/listener/dial.ts';
import { echoListener, echo, newKeys, TEST_ALPN } from './fixtures.ts';

const { listener } = await echoListener();
for (const transport of ['quic', 'tls'] as const) {
  const conn = await dial(`${listener.nodeId}@127.0.0.1:${listener.quicPort}`, { alpn: TEST_ALPN, transport, identity: newKeys() });
  const back = await echo(await conn.openStream(), Buffer.from(`via ${transport}`));
  process.stdout.write(`${back.toString()}\n`);
  if (transport === 'tls') await conn.close(); // the QUIC one is left for listener.close() to end
}
await listener.close();
process.stdout.write('closed\n');
