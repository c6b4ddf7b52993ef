// Where the HTTPS certificate comes from: nowhere (plain HTTP), our own files, or an ACME CA. server.ts
// runs one lifecycle for all three and asks the strategy only for the certificate: made before the
// database opens (a bad own file fails there), started once both ports are bound (ACME then asks the
// CA, whose HTTP-01 check needs the plain port), reloaded on SIGHUP, stopped first on shutdown.
import type { Log } from '../lib/log.js';
import type { Certificate } from './certificate.js';

export interface CertificateContext {
  log: Log;
  /** Puts a certificate in service for new handshakes (the server's setSecureContext). */
  serve(certificate: Certificate): void;
}

export interface CertificateStrategy {
  /** The certificate the server is built with; undefined with ACME (handshakes fail until start ends). */
  readonly initial: Certificate | undefined;
  /** token -> key authorization, answered by the challenge server on --http_port. */
  readonly challenges: ReadonlyMap<string, string>;
  /** After both ports are bound; resolves once the first certificate is in service. */
  start(context: CertificateContext): Promise<void>;
  /** SIGHUP. Never rejects: a failure is logged and the current certificate kept. None in plain HTTP. */
  reload: (() => Promise<void>) | undefined;
  stop(): void;
}

/** ACME timing, for tests that exercise retries; the defaults are the production ones. */
export interface AcmeTiming {
  retryBaseMs?: number;
  retryMaxMs?: number;
}

/** Plain HTTP: no certificate, nothing to reload (SIGHUP keeps Node's default). */
export const plainHttp: CertificateStrategy = {
  initial: undefined,
  challenges: new Map(),
  start: async () => {},
  reload: undefined,
  stop: () => {},
};
