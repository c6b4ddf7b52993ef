// The logger a part below the HTTP faces takes: the four levels it writes, with pino's two call shapes
// (a message, or fields then a message). fastify's logger is one, so server.ts passes its child in,
// and nothing outside the HTTP faces needs fastify's types to log.

export interface LogFn {
  (message: string): void;
  (fields: object, message: string): void;
}

export interface Log {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

/** One warn or error line the logger wrote, as the dashboard's Server page shows it. */
export interface RecentLine {
  time: number;
  level: 'warn' | 'error';
  message: string;
}

/**
 * The last warn and error lines, in a fixed-size ring: the dashboard shows what went wrong lately without
 * reading log files. Bounded by lines and by each line's length.
 */
export class RecentWarnings {
  private readonly lines: RecentLine[] = [];
  private next = 0;

  constructor(
    private readonly max = 50,
    private readonly maxChars = 500,
  ) {}

  add(level: RecentLine['level'], message: string, time = Date.now()): void {
    const line = {
      time,
      level,
      message: message.length > this.maxChars ? `${message.slice(0, this.maxChars)}…` : message,
    };
    if (this.lines.length < this.max) this.lines.push(line);
    else this.lines[this.next] = line;
    this.next = (this.next + 1) % this.max;
  }

  /** Oldest first. */
  list(): RecentLine[] {
    return this.lines.length < this.max
      ? [...this.lines]
      : [...this.lines.slice(this.next), ...this.lines.slice(0, this.next)];
  }

  /**
   * A pino `hooks.logMethod`: records warn (40) and error (50) lines, then logs as usual. pino's call
   * shapes are (message) and (fields, message); an error's own message stands in when there is none.
   */
  hook(): (this: unknown, args: unknown[], method: (...a: unknown[]) => void, level: number) => void {
    const recent = this;
    return function (this: unknown, args, method, level) {
      if (level >= 40) {
        const text = args.find((a) => typeof a === 'string') as string | undefined;
        const err = (args[0] as { err?: { message?: unknown } } | null)?.err?.message;
        recent.add(level >= 50 ? 'error' : 'warn', text ?? (typeof err === 'string' ? err : 'log line'));
      }
      method.apply(this, args);
    };
  }
}
