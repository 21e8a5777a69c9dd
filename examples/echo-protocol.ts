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

// 1. The session machine: one per connection. It echoes each stream the peer opens and counts them.
const echoStreams = fromCallback<{ type: 'stream' }, SessionInput>(({ input, sendBack }) => {
  input.conn.onStream((stream) => {
    sendBack({ type: 'stream' });
    stream.pipe(stream);
  });
});

const echoSession = setup({
  types: { input: {} as SessionInput, context: {} as { session: SessionInput; streams: number } },
  actors: { echoStreams },
}).createMachine({
  id: 'echo',
  context: ({ input }) => ({ session: input, streams: 0 }),
  invoke: { src: 'echoStreams', input: ({ context }) => context.session },
  on: { stream: { actions: assign({ streams: ({ context }) => context.streams + 1 }) } },
});

// 2. Its registration: an ALPN and the session logic.
export const echoProtocol: ProtocolSpec = { alpn: 'example/echo', session: echoSession };

// 3. A node with it, and a client.
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
