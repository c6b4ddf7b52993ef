// start(): open the services, build the app, listen, log where, and shut down cleanly on signals.
import type { FastifyInstance } from 'fastify';
import { buildApp, type AppOptions } from './app.js';
import { unsafeSettings, type Config } from './config.js';
import { createServices, type ServiceOptions, type Services } from './services.js';

export interface RunningServer {
  app: FastifyInstance;
  services: Services;
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  close(): Promise<void>;
}

export interface StartOptions extends ServiceOptions {
  logger?: AppOptions['logger'];
}

export async function start(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const services = await createServices(config, options);
  let app: FastifyInstance;
  try {
    app = await buildApp(services, { logger: options.logger });
    await app.listen({ port: config.port, host: config.host });
  } catch (err) {
    await services.close();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  app.log.info({ url, listen: `${config.host}:${port}`, db: services.db.path }, `broker listening on http://${config.host}:${port}, data in ${services.db.path}`);
  for (const warning of unsafeSettings(config)) app.log.warn(`unsafe setting: ${warning}`);

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      // Streams first: an open SSE response would hold app.close() until its client hangs up.
      services.hub.closeAll();
      await app.close();
      await services.close();
    })());
  return { app, services, url, close };
}

/** SIGTERM/SIGINT: stop accepting, end streams, finish in-flight inserts, close LMDB, exit 0 within 5 s. */
export function exitOnSignals(server: RunningServer): void {
  const stop = (signal: string) => {
    server.app.log.info(`${signal}: shutting down`);
    const force = setTimeout(() => {
      server.app.log.error('shutdown took over 5 s: exiting anyway');
      process.exit(1);
    }, 5000);
    force.unref();
    server.close().then(
      () => process.exit(0),
      (err) => {
        server.app.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
