// start(): open the services, build the app, listen, log where, and shut down cleanly on signals.
// Plain HTTP on --port, or with --secure HTTPS on --https_port with a certificate from our own files or
// from Let's Encrypt (tls/ holds the strategies), plus --http_port for ACME challenges and redirects to
// HTTPS. One lifecycle for the three: the strategy only says where the certificate comes from.
import type { Server as TlsServer } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import { buildApp, type AppOptions } from './http/app.js';
import { unsafeSettings, type Config } from './config.js';
import { createServices, type ServiceOptions, type Services } from './services.js';
import { acmeCertificate } from './tls/acme.js';
import type { Certificate } from './tls/certificate.js';
import { createChallengeServer } from './tls/challenge-server.js';
import { ownCertificate } from './tls/own-certificate.js';
import { plainHttp, type AcmeTiming, type CertificateStrategy } from './tls/strategy.js';

export interface RunningServer {
  app: FastifyInstance;
  services: Services;
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  close(): Promise<void>;
  /**
   * With --secure: reread --cert_path/--key_path (own certificate) or renew now if due (ACME); the CLI
   * calls it on SIGHUP. Never rejects: a bad file is logged and the current certificate kept.
   */
  reload?(): Promise<void>;
}

export interface StartOptions extends ServiceOptions {
  logger?: AppOptions['logger'];
  /** ACME timing, for tests that exercise retries; the defaults are the production ones. */
  acme?: AcmeTiming;
}

/** Where the certificate comes from; an own certificate is read and checked now (CertificateError if bad). */
function certificateStrategy(config: Config, acme: AcmeTiming = {}): CertificateStrategy {
  if (!config.secure) return plainHttp;
  return config.auto_cert ? acmeCertificate(config, acme) : ownCertificate(config);
}

/**
 * The own certificate is checked before anything opens (a bad file exits 2 without touching the
 * database or a port); with --secure both ports are bound before ACME starts, so a port in use fails at
 * once rather than after issuance. HTTPS handshakes fail until the first certificate is in place, and
 * the "listening" line (with the url) is written only then.
 */
export async function start(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const tls = certificateStrategy(config, options.acme);
  const services = await createServices(config, options);
  let httpsPort = config.https_port;
  const redirect = config.secure
    ? createChallengeServer({ challenges: tls.challenges, domain: config.domain, httpsPort: () => httpsPort })
    : undefined;
  let app: FastifyInstance | undefined;
  const shutdown = async () => {
    tls.stop();
    // Streams first: an open SSE response would hold app.close() until its client hangs up.
    services.hub.closeAll();
    if (redirect?.listening) {
      redirect.closeAllConnections();
      await new Promise<void>((resolve) => redirect.close(() => resolve()));
    }
    await app?.close();
    await services.close();
  };
  try {
    // No key yet with ACME: the server starts without one and gets it through setSecureContext.
    const https = config.secure ? (tls.initial ? { key: tls.initial.key, cert: tls.initial.cert } : {}) : undefined;
    app = await buildApp(services, { logger: options.logger, https: https as never });
    const log = app.log.child({ component: 'tls' });
    let httpPort: number | undefined;
    if (redirect) {
      httpPort = await listenPlain(redirect, config.http_port, config.host);
      // After listen, a server error (EMFILE on accept...) is logged; without a listener it would crash us.
      redirect.on('error', (err) => log.error({ err }, `plain HTTP server on port ${httpPort}: ${err.message}`));
    }
    const port = await listenQuietly(app, config.secure ? config.https_port : config.port, config.host);
    httpsPort = port;
    const server = app.server as unknown as TlsServer;
    if (tls.initial) services.metrics.certificateServed(tls.initial.info.notAfter);
    await tls.start({
      log,
      serve: (certificate: Certificate) => {
        server.setSecureContext({ key: certificate.key, cert: certificate.cert });
        services.metrics.certificateServed(certificate.info.notAfter);
      },
    });
    const url = logListening(app, config, services, port, httpPort);
    logWarnings(app, config, services);
    let closing: Promise<void> | undefined;
    return { app, services, url, close: () => (closing ??= shutdown()), reload: tls.reload };
  } catch (err) {
    await shutdown().catch(() => {});
    throw err;
  }
}

/** The one "listening" line: where (the url), and where the data is. Returns the url. */
function logListening(
  app: FastifyInstance,
  config: Config,
  services: Services,
  port: number,
  httpPort: number | undefined,
): string {
  const listen = `${config.host}:${port}`;
  const db = services.storage.path;
  if (httpPort === undefined) {
    const url = urlFor('http', config.host, port);
    app.log.info({ url, listen, db }, `broker listening on http://${listen}, data in ${db}`);
    return url;
  }
  const url = urlFor('https', config.domain ?? config.host, port);
  const redirect = `${config.host}:${httpPort}`;
  app.log.info(
    { url, listen, redirect, db },
    `broker listening on https://${listen} (plain HTTP on ${redirect} answers ACME challenges and redirects ` +
      `to HTTPS), data in ${db}`,
  );
  return url;
}

/**
 * fastify logs "Server listening at ..." once per address (every interface for 0.0.0.0) and its
 * listenTextResolver changes only the words; our own line says more (the url, where the data is), so
 * the root logger's info is muted while fastify listens. Request loggers are children with their own
 * methods: a request that arrives in this window is still logged. Resolves with the port bound.
 */
async function listenQuietly(app: FastifyInstance, port: number, host: string): Promise<number> {
  const info = app.log.info;
  app.log.info = (() => {}) as typeof info;
  try {
    await app.listen({ port, host });
  } finally {
    app.log.info = info;
  }
  const address = app.server.address();
  return typeof address === 'object' && address ? address.port : port;
}

function logWarnings(app: FastifyInstance, config: Config, services: Services): void {
  for (const warning of services.storage.warnings) app.log.warn(warning);
  for (const warning of unsafeSettings(config)) app.log.warn(`unsafe setting: ${warning}`);
}

function urlFor(scheme: 'http' | 'https', host: string, port: number): string {
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const defaultPort = scheme === 'https' ? 443 : 80;
  return `${scheme}://${shown.includes(':') ? `[${shown}]` : shown}${port === defaultPort ? '' : `:${port}`}`;
}

function listenPlain(server: ReturnType<typeof createChallengeServer>, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

/** SIGHUP: reload the certificate (own files) or renew it if due (ACME). Other modes keep Node's default. */
export function reloadOnHangup(server: RunningServer): void {
  const reload = server.reload;
  if (!reload) return;
  process.on('SIGHUP', () => {
    server.app.log.info('SIGHUP: reloading the certificate');
    void reload();
  });
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
