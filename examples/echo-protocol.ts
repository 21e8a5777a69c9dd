// A complete custom protocol in one file: `example/echo` sends every stream's bytes back.
// Run it:  npx tsx examples/echo-protocol.ts
// It starts a node with this protocol on 127.0.0.1 (a free port, a throwaway home), dials it over
// QUIC with the node id pinned, echoes a line, and stops the node.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { assign, fromCallback, setup } from 'xstate';
import { createVaultFile } from '../actors/vault/vaultFile.ts';
import { startNode } from '../supervisors/startNode.ts';
import { dial } from '../actors/listener/dial.ts';
import type { ProtocolSpec, SessionInput } from '../protocols/protocol.ts';

// 1. State shared by every session of the protocol: made when its actor starts, released when it
//    stops (a restart makes it anew). Here: how many streams this protocol actor has echoed.
interface EchoShared {
  echoed: number;
}

// 2. The session machine: one per connection. It echoes each stream the peer opens and counts them.
const echoStreams = fromCallback<{ type: 'stream' }, SessionInput<EchoShared>>(({ input, sendBack }) => {
  input.conn.onStream((stream) => {
    input.shared.echoed++;
    sendBack({ type: 'stream' });
    stream.pipe(stream);
  });
});

const echoSession = setup({
  types: { input: {} as SessionInput<EchoShared>, context: {} as { session: SessionInput<EchoShared>; streams: number } },
  actors: { echoStreams },
}).createMachine({
  id: 'echo',
  context: ({ input }) => ({ session: input, streams: 0 }),
  invoke: { src: 'echoStreams', input: ({ context }) => context.session },
  on: { stream: { actions: assign({ streams: ({ context }) => context.streams + 1 }) } },
});

// 3. Its registration: an ALPN, the session logic, and the shared state's start and stop.
export const echoProtocol: ProtocolSpec<EchoShared> = {
  alpn: 'example/echo',
  session: echoSession,
  start: () => ({ echoed: 0 }),
  stop: (shared) => console.log(`example/echo stopping after ${shared.echoed} stream(s)`),
};

// 4. A node with it, and a client.
async function main(): Promise<void> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-echo-'));
  await createVaultFile(home, { passphrase: 'example' });
  const node = await startNode({ home, passphrase: 'example', listen: '127.0.0.1:0', protocols: [echoProtocol] });
  console.log(`node ${node.nodeId} on ${node.address}`);

  const conn = await dial(`${node.nodeId}@${node.address}`, { alpn: 'example/echo', transport: 'quic' });
  const stream = await conn.openStream();
  stream.end('hello, echo\n');
  let reply = '';
  for await (const chunk of stream) reply += chunk;
  console.log(`echoed: ${reply.trim()}`);

  await conn.close();
  await node.stop();
  fs.rmSync(home, { recursive: true, force: true });
}

if (process.argv[1] && path.resolve(process.argv[1]) === new URL(import.meta.url).pathname) await main();
