// A service actor that registers an operation, and a second node calling it.
// Run it:  npx tsx examples/remote-service.ts
// Node A runs a `greeter` service (an xstate actor that registers `greeter/hello` while it runs);
// node B's owner is granted the `greet` scope on A, then B's key calls A.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Type } from '@sinclair/typebox';
import { fromCallback, setup } from 'xstate';
import { connect, createVaultFile, defineOperation, startNode, type OperationCatalogue } from '../index.ts';
import { addPeer } from '../actors/peers/peersFile.ts';
import { nodeKeys } from '../actors/vault/keys.ts';
import { openVaultFile } from '../actors/vault/vaultFile.ts';

// The service: its operation lives exactly as long as the actor (registered on start, dropped on stop).
const hello = defineOperation({
  name: 'greeter/hello',
  type: 'query',
  input: Type.Object({ name: Type.String({ maxLength: 100 }) }),
  output: Type.Object({ greeting: Type.String() }),
  scopes: ['greet'],
  visibility: 'external',
  description: 'Says hello',
  handler: async ({ name }, ctx) => ({ greeting: `hello ${name}, from ${ctx.caller.nodeId ?? 'a token holder'}` }),
});

const registerOperations = fromCallback<{ type: string }, OperationCatalogue>(({ input }) => input.register([hello], 'greeter'));

const greeter = setup({
  types: { input: {} as OperationCatalogue, context: {} as { operations: OperationCatalogue } },
  actors: { registerOperations },
}).createMachine({
  id: 'greeter',
  context: ({ input }) => ({ operations: input }),
  invoke: { src: 'registerOperations', input: ({ context }) => context.operations },
  on: { shutdown: '.done' },
  initial: 'serving',
  states: { serving: {}, done: { type: 'final' } },
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
    services: ({ operations }) => [{ id: 'greeter', systemId: 'greeter', logic: greeter, input: operations, restart: 'permanent' }],
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
