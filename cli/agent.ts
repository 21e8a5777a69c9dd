// The client side of the node's agent (supervisors/agent.ts): when a node of this home runs, `alknet
// call` and `alknet ops` ask it, through HOME/agent.sock, instead of unlocking the vault — the node
// makes the call with its own key (for another node's ADDR it dials it, pooling connections).
//
// Used only when the socket is there, is a socket, belongs to this user and accepts: a stale socket
// of a crashed node (connection refused) means "no agent" and the command takes its usual path.
// A refusal from a live agent (a bad address, a node it cannot reach) is the command's failure.
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { CliError, UsageError, type CommandContext } from './command.ts';
import type { CallOptions } from '../protocols/call/client.ts';

export const AGENT_SOCKET = 'agent.sock';
const AGENT_CONNECT = 'agent/connect';
/** How long a live agent has to answer agent/connect when no --timeout is given (a dial is 10 s). */
const DEFAULT_HELLO_MS = 15_000;

export interface AgentTarget {
  address: string;
  transport: 'quic' | 'tls';
  timeoutMs?: number;
  authToken?: string;
}

/** What call.ts needs of a client: the same shape connect() gives. */
export interface AgentClient {
  call<T = unknown>(operation: string, input?: unknown, options?: CallOptions): Promise<T>;
  subscribe<T = unknown>(operation: string, input?: unknown, options?: CallOptions): AsyncIterable<T>;
  close(): Promise<void>;
}

/** The agent's socket of this home when it looks like a live node's: present, a socket, ours. */
function agentSocket(ctx: Pick<CommandContext, 'home'>): string | undefined {
  const file = path.join(ctx.home, AGENT_SOCKET);
  const st = fs.lstatSync(file, { throwIfNoEntry: false });
  if (!st || !st.isSocket()) return undefined;
  if (typeof process.getuid === 'function' && st.uid !== process.getuid()) return undefined;
  return file;
}

class NoAgent extends Error {}

/**
 * One stream through the agent to `target`: agent/connect, then plain alknet/call frames. Rejects
 * with NoAgent when nobody accepts on the socket, with a CliError when the agent refuses.
 */
async function openAgentStream(socketPath: string, target: AgentTarget): Promise<Duplex> {
  const { encodeFrame, decodeFrameBody } = await import('../protocols/call/callFrameCodec.ts');
  const socket = net.connect({ path: socketPath, allowHalfOpen: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', (err: NodeJS.ErrnoException) => reject(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'ENOTSOCK'].includes(err.code ?? '') ? new NoAgent(err.code) : err));
  });
  const id = randomBytes(9).toString('base64url');
  const input = { address: target.address, transport: target.transport, ...(target.timeoutMs !== undefined ? { timeoutMs: target.timeoutMs } : {}) };
  socket.write(encodeFrame({ type: 'call.requested', id, payload: { operationId: `/${AGENT_CONNECT}`, input } }));
  return new Promise<Duplex>((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    let answered = false;
    // The agent's own dial deadline is timeoutMs: give its answer (with the reason) time to arrive.
    const timer = setTimeout(() => finish(new CliError(`cannot reach ${target.address}: the node's agent did not answer`)), (target.timeoutMs ?? DEFAULT_HELLO_MS) + 2_000);
    const finish = (err: Error | null) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
      if (err) {
        socket.destroy();
        reject(err);
        return;
      }
      // The agent says nothing more until we send a call, so no byte can arrive before the
      // CallClient listens (and a `pause()` here would keep its 'data' listener from flowing).
      if (buffered.length > 0) socket.unshift(buffered);
      resolve(socket);
    };
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      // Bounded: the agent's answer is two small frames; anything else is refused at its header.
      while (buffered.length >= 4) {
        const length = buffered.readUInt32BE(0);
        if (length === 0 || length > 64 * 1024) return finish(new CliError(`the node's agent answered a frame of ${length} bytes`));
        if (buffered.length < 4 + length) return;
        let envelope;
        try {
          envelope = decodeFrameBody(buffered.subarray(4, 4 + length));
        } catch (err) {
          return finish(new CliError(`the node's agent answered a bad frame: ${(err as Error).message}`));
        }
        buffered = buffered.subarray(4 + length);
        if (envelope.type === 'call.responded') answered = true;
        else if (envelope.type === 'call.completed' && answered) return finish(null);
        else if (envelope.type === 'call.error') {
          const why = `${envelope.payload.code}: ${envelope.payload.message}`;
          // The agent parses ADDR as the direct path would: a malformed one is a usage error.
          if (envelope.payload.code === 'INVALID_INPUT') return finish(new UsageError(envelope.payload.message));
          return finish(new CliError(envelope.payload.code === 'UNAVAILABLE' || envelope.payload.code === 'TIMEOUT' ? why : `cannot reach ${target.address}: ${why}`));
        } else return finish(new CliError(`the node's agent answered ${envelope.type}`));
      }
    };
    const onEnd = () => finish(new NoAgent('closed'));
    const onError = (err: Error) => finish(new NoAgent(err.message));
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onError);
  });
}

/**
 * A client that calls through the running node of this home, or undefined when there is none (no
 * socket, or a stale one). Its first stream is opened here, so "no agent" is known before the
 * command decides how to connect.
 */
export async function agentClient(ctx: Pick<CommandContext, 'home'>, target: AgentTarget): Promise<AgentClient | undefined> {
  const socketPath = agentSocket(ctx);
  if (socketPath === undefined) return undefined;
  let first: Duplex | undefined;
  try {
    first = await openAgentStream(socketPath, target);
  } catch (err) {
    if (err instanceof NoAgent) return undefined;
    throw err;
  }
  const { CallClient } = await import('../protocols/call/client.ts');
  const opened = new Set<Duplex>();
  const open = async (): Promise<Duplex> => {
    let stream = first;
    first = undefined;
    try {
      stream ??= await openAgentStream(socketPath, target);
    } catch (err) {
      // The node stopped between two calls of this command: say so rather than "no agent".
      if (err instanceof NoAgent) throw new CliError(`the node of ${ctx.home} stopped`);
      throw err;
    }
    opened.add(stream);
    stream.once('close', () => opened.delete(stream));
    return stream;
  };
  const calls = new CallClient(open, { ...(target.authToken ? { authToken: target.authToken } : {}), openDedicatedStream: open });
  return {
    call: (operation, input = {}, options = {}) => calls.call(operation, input, options),
    subscribe: (operation, input = {}, options = {}) => calls.subscribe(operation, input, options),
    async close() {
      calls.close();
      first?.destroy();
      // Our side is done: end each stream; the agent closes its side after its last answer.
      for (const s of opened) s.end();
    },
  };
}
