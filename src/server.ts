// start(): open the services, build the app, listen, log where, and shut down cleanly on signals.
// Plain HTTP on --port, or with --secure HTTPS on --https_port with a certificate from our own files or
// from Let's Encrypt (tls/), plus --http_port for ACME challenges and redirects to HTTPS.
import type { Server as TlsServer } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import { buildApp, type AppOptions } from './app.js';
import { unsafeSettings, type Config } from './config.js';
import { createServices, type ServiceOptions, type Services } from './services.js';
import { AcmeCertificates } from './tls/acme.js';
import { coversDomain, describeCertificate, type Certificate } from './tls/certificate.js';
import { createChallengeServer } from './tls/challenge-server.js';
import { loadOwnCertificate } from './tls/own-certificate.js';

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
  acme?: { retryBaseMs?: number; retryMaxMs?: number };
}

export async function start(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  if (config.secure) return startSecure(config, options);
  const services = await createServices(config, options);
  let app: FastifyInstance;
  try {
    app = await buildApp(services, { logger: options.logger });
    await listenQuietly(app, config.port, config.host);
  } catch (err) {
    await services.close();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = urlFor('http', config.host, port);
  app.log.info(
    { url, listen: `${config.host}:${port}`, db: services.storage.path },
    `broker listening on http://${config.host}:${port}, data in ${services.storage.path}`,
  );
  logWarnings(app, config, services);

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

/**
 * fastify logs "Server listening at ..." once per address (every interface for 0.0.0.0) and its
 * listenTextResolver changes only the words; our own line says more (the url, where the data is), so
 * the root logger's info is muted while fastify listens. Request loggers are children with their own
 * methods: a request that arrives in this window is still logged.
 */
async function listenQuietly(app: FastifyInstance, port: number, host: string): Promise<void> {
  const info = app.log.info;
  app.log.info = (() => {}) as typeof info;
  try {
    await app.listen({ port, host });
  } finally {
    app.log.info = info;
  }
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

/**
 * --secure: the own certificate is checked before anything opens (a bad file exits 2 without touching
 * the database or a port); both ports are bound before ACME starts, so a port in use fails at once
 * rather than after issuance. HTTPS handshakes fail until the first certificate is in place, and the
 * "listening" line (with the url) is written only then.
 */
async function startSecure(config: Config, options: StartOptions): Promise<RunningServer> {
  const own = config.auto_cert ? undefined : loadOwnCertificate(config.cert_path, config.key_path);
  const services = await createServices(config, options);
  const challenges = new Map<string, string>();
  let httpsPort = config.https_port;
  const redirect = createChallengeServer({ challenges, domain: config.domain, httpsPort: () => httpsPort });
  let app: FastifyInstance | undefined;
  let acmeCertificates: AcmeCertificates | undefined;
  const shutdown = async () => {
    acmeCertificates?.stop();
    services.hub.closeAll();
    if (redirect.listening) {
      redirect.closeAllConnections();
      await new Promise<void>((resolve) => redirect.close(() => resolve()));
    }
    await app?.close();
    await services.close();
  };
  try {
    // No key yet with ACME: the server starts without one and gets it through setSecureContext.
    const https = own ? { key: own.key, cert: own.cert } : {};
    app = await buildApp(services, { logger: options.logger, https: https as never });
    const server = app.server as unknown as TlsServer;
    const log = app.log.child({ component: 'tls' });
    const serve = (certificate: Certificate) =>
      server.setSecureContext({ key: certificate.key, cert: certificate.cert });
    const httpPort = await listenPlain(redirect, config.http_port, config.host);
    // After listen, a server error (EMFILE on accept...) is logged; without a listener it would crash us.
    redirect.on('error', (err) => log.error({ err }, `plain HTTP server on port ${httpPort}: ${err.message}`));
    await listenQuietly(app, config.https_port, config.host);
    const address = app.server.address();
    httpsPort = typeof address === 'object' && address ? address.port : config.https_port;

    let reload: () => Promise<void>;
    if (own) {
      // Served anyway (the operator may be mid-rotation), but said loudly: clients will refuse it.
      const warnAbout = (certificate: Certificate) => {
        if (certificate.info.notAfter.getTime() < Date.now())
          log.warn(`the certificate in ${config.cert_path} expired on ${certificate.info.notAfter.toISOString()}`);
        if (config.domain && !coversDomain(certificate.cert, config.domain))
          log.warn(`the certificate in ${config.cert_path} is not valid for --domain ${config.domain}`);
      };
      log.info(
        { certificate: describeCertificate(own.info) },
        `serving the certificate from ${config.cert_path}, valid until ${own.info.notAfter.toISOString()}`,
      );
      warnAbout(own);
      reload = async () => {
        try {
          const next = loadOwnCertificate(config.cert_path, config.key_path);
          serve(next);
          log.info(
            { certificate: describeCertificate(next.info) },
            `reloaded the certificate from ${config.cert_path}, valid until ${next.info.notAfter.toISOString()}`,
          );
          warnAbout(next);
        } catch (err) {
          log.error(`certificate reload failed, still serving the previous certificate: ${(err as Error).message}`);
        }
      };
    } else {
      const acmeCerts = new AcmeCertificates({
        domain: config.domain!,
        directoryUrl: config.acme_directory,
        email: config.acme_email,
        certsDir: config.certs,
        log,
        challenges,
        onCertificate: serve,
        retryBaseMs: options.acme?.retryBaseMs,
        retryMaxMs: options.acme?.retryMaxMs,
      });
      acmeCertificates = acmeCerts;
      serve(await acmeCerts.start());
      reload = () => acmeCerts.checkRenewal().catch((err) => log.error({ err }, 'certificate renewal check failed'));
    }

    const url = urlFor('https', config.domain ?? config.host, httpsPort);
    app.log.info(
      { url, listen: `${config.host}:${httpsPort}`, redirect: `${config.host}:${httpPort}`, db: services.storage.path },
      `broker listening on https://${config.host}:${httpsPort} (plain HTTP on ${config.host}:${httpPort} answers ACME challenges and redirects to HTTPS), data in ${services.storage.path}`,
    );
    logWarnings(app, config, services);
    let closing: Promise<void> | undefined;
    return { app, services, url, close: () => (closing ??= shutdown()), reload };
  } catch (err) {
    await shutdown().catch(() => {});
    throw err;
  }
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
