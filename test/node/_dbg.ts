import { dial } from '../../actors/listener/dial.ts';
import { crashableEchoProtocol, echoProtocol, makeHome, startTestNode, roundTrip } from './helpers.ts';
import { pino } from 'pino';
const h = await makeHome();
const n = await startTestNode(h, { protocols: [crashableEchoProtocol('test/crashy')], logger: pino({level:'debug'}),
  inspect: (ev: any) => { if (ev.type === '@xstate.event' && !String(ev.event.type).startsWith('xstate.')) console.log('EV', ev.sourceRef?.id, '->', ev.actorRef.id, ev.event.type); if (ev.type==='@xstate.snapshot' && ev.snapshot.status!=='active') console.log('SNAP', ev.actorRef.id, ev.snapshot.status, String(ev.snapshot.error)); } });
const a = `${n.nodeId}@${n.address}`;
const c = await dial(a, { alpn: 'test/crashy', transport: 'quic' });
const s = await c.openStream();
console.log((await roundTrip(s, Buffer.from('hi'))).toString());
s.write('crash');
console.log(await Promise.race([c.closed, new Promise(r=>setTimeout(()=>r('timeout'),3000))]));
await n.stop(); h.cleanup(); process.exit(0);
