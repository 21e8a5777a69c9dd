// The node's log: pino, JSON lines on stderr (stdout stays free for data), readable when stderr is a
// terminal. Secrets never go in: the vault redacts its own payloads, and nothing here logs contexts.
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type NodeLogger = Logger;

export function createNodeLogger(options: { level?: string; pretty?: boolean } = {}): NodeLogger {
  const level = options.level ?? 'info';
  const usePretty = options.pretty ?? Boolean(process.stderr.isTTY);
  if (usePretty) return pino({ level }, pretty({ destination: 2, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' }));
  return pino({ level }, pino.destination({ dest: 2, sync: true }));
}
