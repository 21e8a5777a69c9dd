// Run as a child process by close.test.ts: connect() over QUIC, one call, close(), then nothing:
// the process must exit on its own (the draining period runs in the background, then ends).
import { connect } from '../../protocols/call/connect.ts';
import { ephemeralKeyPair } from '../../actors/listener/tlsIdentity.ts';

const address = process.argv[2]!;
const client = await connect(address, { transport: 'quic', identity: ephemeralKeyPair(), knownNodesPath: process.argv[3]! });
const info = await client.call<{ nodeId: string }>('node/info', {});
process.stdout.write(`${info.nodeId}\n`);
await client.close();
process.stdout.write('closed\n');
