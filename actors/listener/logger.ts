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

/** Default for `limits.refusalLogsPerSecond`: log lines per refusal kind per second. */
export const DEFAULT_REFUSAL_LOGS_PER_SECOND = 10;

export interface RefusalLogOptions {
  /** Lines per kind per window; the rest are only counted (default DEFAULT_REFUSAL_LOGS_PER_SECOND). */
  perWindow?: number;
  /** Window length in ms (default 1000). */
  windowMs?: number;
  /** Clock, replaceable in tests (default Date.now). */
  now?: () => number;
}

interface RefusalWindow {
  start: number;
  logged: number;
  suppressed: number;
}

/**
 * One warn line per refused connection, rate-limited per kind of refusal: a flood of refusals
 * (thousands of sockets from one attacker) must not become a flood of log lines. Within a window
 * the first `perWindow` refusals of a kind are logged; the rest are counted, and once the window
 * is over one line says how many were suppressed. Fields must never carry secrets: callers pass
 * addresses and one-line reasons only.
 */
export class RefusalLog {
  private readonly windows = new Map<string, RefusalWindow>();
  private readonly perWindow: number;
  private readonly windowMs: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly logger: TransportLogger, opts: RefusalLogOptions = {}) {
    this.perWindow = opts.perWindow ?? DEFAULT_REFUSAL_LOGS_PER_SECOND;
    this.windowMs = opts.windowMs ?? 1000;
    this.now = opts.now ?? Date.now;
  }

  /** Logs (or counts) one refusal of this kind. `level` 'error' is for the node's own trouble (EMFILE). */
  refused(kind: string, fields: object, message: string, level: 'warn' | 'error' = 'warn'): void {
    const now = this.now();
    let window = this.windows.get(kind);
    if (window !== undefined && now - window.start >= this.windowMs) {
      this.report(kind, window);
      window = undefined;
    }
    if (window === undefined) {
      window = { start: now, logged: 0, suppressed: 0 };
      this.windows.set(kind, window);
    }
    if (window.logged < this.perWindow) {
      window.logged++;
      this.logger[level]({ refusal: kind, ...fields }, message);
      return;
    }
    window.suppressed++;
    this.schedule();
  }

  /** Reports every suppressed count now (the listener calls this when it closes). */
  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    for (const [kind, window] of this.windows) this.report(kind, window);
    this.windows.clear();
  }

  private report(kind: string, window: RefusalWindow): void {
    if (window.suppressed > 0) {
      this.logger.warn({ refusal: kind, suppressed: window.suppressed }, 'more refusals of this kind were not logged (rate limit)');
    }
    this.windows.delete(kind);
  }

  /** A timer reports the count after the window even if no further refusal of that kind comes. */
  private schedule(): void {
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const now = this.now();
      let pending = false;
      for (const [kind, window] of this.windows) {
        if (now - window.start >= this.windowMs) this.report(kind, window);
        else if (window.suppressed > 0) pending = true;
      }
      if (pending) this.schedule();
    }, this.windowMs);
    this.timer.unref(); // never keeps the process alive
  }
}
