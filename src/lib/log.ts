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
