// The logger the transport accepts (a pino logger fits), and a bridge that routes js-quic's own
// log lines into it at debug level, so the library never prints to the console by itself.
import Logger, { Handler, LogLevel } from '@matrixai/logger';
import type { LogRecord } from '@matrixai/logger';

type LogFn = (data: object, message?: string) => void;

export interface TransportLogger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

const noop: LogFn = () => {};
export const silentLogger: TransportLogger = { debug: noop, info: noop, warn: noop, error: noop };

class ForwardingHandler extends Handler {
  constructor(private readonly target: TransportLogger) {
    super();
  }
  override handle(record: LogRecord): void {
    this.target.debug({ quic: record.keys, level: LogLevel[record.level] }, record.msg ?? '');
  }
  emit(): void {}
}

/** A js-quic logger: silent without a target, else WARN and above forwarded as debug lines. */
export function quicLogger(target: TransportLogger | undefined, name: string): Logger {
  if (target === undefined || target === silentLogger) return new Logger(name, LogLevel.SILENT);
  return new Logger(name, LogLevel.WARN, [new ForwardingHandler(target)]);
}
