// A service of your own, reached by message, and a second node calling its operation.
// Run it:  npx tsx examples/remote-service.ts
// Node A runs a `greeter` service: an xstate actor that answers the bus message `greeter.hello`.
// The operation `greeter/hello` is declared once, as data, pointing at that actor and message; the
// node's catalogue serves it to remote callers by a bus request. Node B's key is granted the `greet`
// scope on A, then B calls A.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Type } from '@sinclair/typebox';
import { setup } from 'xstate';
import { connect, createVaultFile, defineMessages, servedBy, startNode, type BusRequestEvent, type MessagesOf } from '../index.ts';
import { addPeer } from '../actors/peers/peersFile.ts';
import { nodeKeys } from '../actors/vault/keys.ts';
import { openVaultFile } from '../actors/vault/vaultFile.ts';

// 1. The service's door: its bus messages (TypeBox schemas, added to the typed catalogue).
const greeterMessages = defineMessages({
  'greeter.hello': {
    request: Type.Object({ name: Type.String({ maxLength: 100 }) }),
    reply: Type.Object({ greeting: Type.String() }),
  },
});
declare module '../bus/catalogue.ts' {
  interface Catalogue extends MessagesOf<typeof greeterMessages> {}
}

// 2. The actor that answers them. `meta.caller` says on whose behalf the catalogue asked.
const greeter = setup({ types: { events: {} as BusRequestEvent<'greeter.hello'> | { type: 'shutdown' } } }).createMachine({
  id: 'greeter',
  initial: 'serving',
  states: {
    serving: {
      on: {
        'greeter.hello': {
          actions: ({ event }) => event.replyTo.reply({ greeting: `hello ${event.payload.name}, from ${event.meta.caller?.nodeId ?? 'a token holder'}` }),
        },
        shutdown: 'done',
      },
    },
    done: { type: 'final' },
  },
});

// 3. The operation, declared once: name, scopes and visibility; its schemas are the message's.
const hello = servedBy('greeter', 'greeter.hello', {
  name: 'greeter/hello',
  type: 'query',
  scopes: ['greet'],
  visibility: 'external',
  description: 'Says hello',
});

async function makeHome(name: string): Promise<string> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), `alknet-${name}-`));
  await createVaultFile(home, { passphrase: name });
  return home;
}

async function main(): Promise<void> {
  const homeA = await makeHome('a');
  const homeB = await makeHome('b');
  const a = await startNode({
    home: homeA,
    passphrase: 'a',
    listen: '127.0.0.1:0',
    tensor: false,
    services: () => [{ id: 'greeter', systemId: 'greeter', logic: greeter, restart: 'permanent' }],
    operations: [hello],
  });

  // B's key, as B's node would show it; A grants it the `greet` scope (peers.toml, picked up live).
  const secret = await openVaultFile(homeB, 'b');
  const keysB = nodeKeys(secret.seed);
  secret.wipe();
  addPeer(homeA, keysB.nodeId, { scopes: ['greet'] });

  const client = await connect(`${a.nodeId}@${a.address}`, {
    identity: { publicKey: keysB.identity.publicKey, privateKey: keysB.identity.privateKey },
    knownNodesPath: path.join(homeB, 'known_nodes'),
  });
  console.log(await client.call('greeter/hello', { name: 'B' }));
  await client.close();
  await a.stop();
  for (const home of [homeA, homeB]) fs.rmSync(home, { recursive: true, force: true });
}

if (process.argv[1] && path.resolve(process.argv[1]) === new URL(import.meta.url).pathname) await main();
