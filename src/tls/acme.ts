// Let's Encrypt (or any RFC 8555 CA) through acme-client: obtain a certificate for --domain by HTTP-01,
// keep it in the cache, and renew it RENEW_BEFORE ahead of expiry while the server keeps running. Every
// new certificate goes to `onCertificate`, which swaps it into the listening server for new handshakes;
// connections already open (SSE streams) keep the session they negotiated.
//
// Failures are retried with exponential backoff (30 s doubling to 1 h): a fresh VPS whose DNS has not
// propagated yet heals itself, and a CA outage during renewal has weeks of slack before the old
// certificate expires. Each failure is logged with the CA's own explanation and the next attempt time.
import * as acme from 'acme-client';
import type { Config } from '../config.js';
import type { Log } from '../lib/log.js';
import { describeCertificate, inspectCertificate, type Certificate } from './certificate.js';
import { CertificateCache } from './certificate-cache.js';
import type { AcmeTiming, CertificateStrategy } from './strategy.js';

const DAY = 24 * 60 * 60 * 1000;
export const RENEW_BEFORE_MS = 30 * DAY;
/** Timers re-check at least this often, so a long sleep or a clock change cannot make us miss renewal. */
const MAX_TIMER_MS = 12 * 60 * 60 * 1000;

export interface AcmeOptions {
  domain: string;
  directoryUrl: string;
  email: string | undefined;
  certsDir: string;
  log: Log;
  /** token -> key authorization, read by the challenge server on --http_port. */
  challenges: Map<string, string>;
  onCertificate: (certificate: Certificate) => void;
  renewBeforeMs?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  now?: () => number;
}

class Stopped extends Error {}

export function retryDelay(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.min(attempt - 1, 30));
}

function seconds(ms: number): string {
  return ms >= 60_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`;
}

export class AcmeCertificates {
  private readonly cache: CertificateCache;
  private readonly renewBeforeMs: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly now: () => number;
  private current: Certificate | undefined;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private renewing: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: AcmeOptions) {
    this.cache = new CertificateCache(options.certsDir, options.directoryUrl);
    this.renewBeforeMs = options.renewBeforeMs ?? RENEW_BEFORE_MS;
    this.retryBaseMs = options.retryBaseMs ?? 30_000;
    this.retryMaxMs = options.retryMaxMs ?? 60 * 60 * 1000;
    this.now = options.now ?? Date.now;
    // acme-client's own step-by-step log ("[auto] Placing new certificate order...") at debug level.
    acme.setLogger((message: string) => options.log.debug({ component: 'acme-client' }, message));
  }

  private renewAt(certificate: Certificate): number {
    return certificate.info.notAfter.getTime() - this.renewBeforeMs;
  }

  /**
   * The certificate to serve at start: the cached one while it has not expired (renewal, if due, then
   * runs in the background), otherwise a new one (waiting, with retries, until the CA issues it).
   */
  async start(): Promise<Certificate> {
    const { domain, log } = this.options;
    const cached = this.cache.load(domain);
    if (cached.certificate && cached.certificate.info.notAfter.getTime() > this.now()) {
      this.current = cached.certificate;
      log.info(
        {
          certificate: describeCertificate(cached.certificate.info),
          renewAfter: new Date(this.renewAt(cached.certificate)).toISOString(),
        },
        `using the cached certificate for ${domain} from ${this.cache.dir}, ` +
          `valid until ${cached.certificate.info.notAfter.toISOString()}`,
      );
    } else {
      const reason = cached.certificate
        ? `the cached certificate expired on ${cached.certificate.info.notAfter.toISOString()}`
        : cached.reason;
      log.info(`obtaining a certificate for ${domain} from ${this.options.directoryUrl} (${reason})`);
      this.current = await this.obtainWithRetry('obtain');
    }
    this.schedule();
    return this.current;
  }

  /**
   * Renews now if the certificate is due (SIGHUP, and the timer). While a renewal is waiting to retry,
   * retries at once instead: after fixing DNS or the firewall, `systemctl reload broker` need not wait
   * out the backoff. Resolves when the renewal is settled.
   */
  checkRenewal(): Promise<void> {
    if (this.stopped || !this.current) return Promise.resolve();
    if (this.renewing) {
      this.wake?.();
      return this.renewing;
    }
    const current = this.current;
    if (this.now() < this.renewAt(current)) {
      this.schedule();
      return Promise.resolve();
    }
    this.options.log.info(
      { certificate: describeCertificate(current.info) },
      `the certificate for ${this.options.domain} expires on ${current.info.notAfter.toISOString()}: renewing`,
    );
    this.renewing = this.obtainWithRetry('renew')
      .then((next) => {
        this.current = next;
        this.options.onCertificate(next);
      })
      // The timer calls this with nobody awaiting: an error must end in the log, never as an
      // unhandled rejection that would take the server down.
      .catch((err) => {
        if (!(err instanceof Stopped))
          this.options.log.error(
            { err },
            `could not put the renewed certificate for ${this.options.domain} in service: ${(err as Error).message}`,
          );
      })
      .finally(() => {
        this.renewing = undefined;
        this.schedule();
      });
    return this.renewing;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.wake?.();
  }

  private schedule(): void {
    if (this.stopped || !this.current) return;
    if (this.timer) clearTimeout(this.timer);
    const delay = Math.max(0, this.renewAt(this.current) - this.now());
    this.timer = setTimeout(() => void this.checkRenewal(), Math.min(delay, MAX_TIMER_MS));
    this.timer.unref();
  }

  private async obtainWithRetry(what: 'obtain' | 'renew'): Promise<Certificate> {
    const { domain, log } = this.options;
    for (let attempt = 1; ; attempt++) {
      if (this.stopped) throw new Stopped();
      try {
        const certificate = await this.obtain();
        log.info(
          {
            certificate: describeCertificate(certificate.info),
            renewAfter: new Date(this.renewAt(certificate)).toISOString(),
          },
          `${what === 'renew' ? 'renewed' : 'obtained'} the certificate for ${domain}: ` +
            `valid until ${certificate.info.notAfter.toISOString()}, cached in ${this.cache.dir}`,
        );
        return certificate;
      } catch (err) {
        if (this.stopped) throw new Stopped();
        const delay = retryDelay(attempt, this.retryBaseMs, this.retryMaxMs);
        const expires = this.current
          ? ` (the current certificate expires on ${this.current.info.notAfter.toISOString()})`
          : '';
        log.error(
          { attempt, retryInMs: delay, directory: this.options.directoryUrl },
          `could not ${what} the certificate for ${domain} from ${this.options.directoryUrl}: ` +
            `${(err as Error).message}; retrying in ${seconds(delay)}${expires}`,
        );
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, delay);
          this.wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        this.wake = undefined;
      }
    }
  }

  /**
   * Finds the account of the cached key, or registers it. acme-client's own registration (inside auto())
   * re-posts newAccount and then "updates" an existing account with only termsOfServiceAgreed, which
   * RFC 8555 servers such as pebble refuse, so every order after the first would fail. Asking with
   * onlyReturnExisting first gets the account by POST-as-GET instead; the contact is updated when
   * --acme_email changed.
   */
  private async ensureAccount(client: acme.Client): Promise<void> {
    const contact = this.options.email ? [`mailto:${this.options.email}`] : [];
    let existing: { contact?: string[] };
    try {
      existing = await client.createAccount({ onlyReturnExisting: true });
    } catch {
      // No account for this key yet (or the lookup failed: then registering fails with the reason).
      await client.createAccount({ termsOfServiceAgreed: true, ...(contact.length ? { contact } : {}) });
      return;
    }
    if (contact.length && JSON.stringify(existing.contact ?? []) !== JSON.stringify(contact))
      await client.updateAccount({ contact });
  }

  /** One full ACME order: account, HTTP-01 challenge, finalize, download; then cache the result. */
  private async obtain(): Promise<Certificate> {
    const { domain, challenges } = this.options;
    const accountKey = await this.cache.accountKey(async () =>
      (await acme.crypto.createPrivateEcdsaKey('P-256')).toString(),
    );
    const client = new acme.Client({
      directoryUrl: this.options.directoryUrl,
      accountKey,
      // Poll order and challenge status from 1 s up to 20 s apart (acme-client's default starts at 5 s).
      backoffMin: 1000,
      backoffMax: 20_000,
      backoffAttempts: 12,
    });
    await this.ensureAccount(client);
    const [key, csr] = await acme.crypto.createCsr(
      { commonName: domain, altNames: [domain] },
      await acme.crypto.createPrivateEcdsaKey('P-256'),
    );
    const chain = await client.auto({
      csr,
      challengePriority: ['http-01'],
      // acme-client's self-check fetches http://<domain>/ on port 80 from this machine, which fails
      // behind NAT and in tests; the CA's own validation error says clearly what went wrong instead.
      skipChallengeVerification: true,
      challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
        challenges.set(challenge.token, keyAuthorization);
      },
      challengeRemoveFn: async (_authz, challenge) => {
        challenges.delete(challenge.token);
      },
    });
    const certificate = inspectCertificate(
      { key: key.toString(), cert: chain.toString() },
      { cert: 'the issued certificate', key: 'its key' },
    );
    this.cache.save(domain, certificate.key, certificate.cert);
    return certificate;
  }
}

/** The ACME strategy: the certificate comes from the CA (or the cache) once the ports are bound. */
export function acmeCertificate(config: Config, timing: AcmeTiming): CertificateStrategy {
  const challenges = new Map<string, string>();
  let certificates: AcmeCertificates | undefined;
  let log: Log | undefined;
  return {
    initial: undefined,
    challenges,
    async start(context) {
      log = context.log;
      certificates = new AcmeCertificates({
        domain: config.domain!,
        directoryUrl: config.acme_directory,
        email: config.acme_email,
        certsDir: config.certs,
        log: context.log,
        challenges,
        onCertificate: context.serve,
        retryBaseMs: timing.retryBaseMs,
        retryMaxMs: timing.retryMaxMs,
      });
      context.serve(await certificates.start());
    },
    reload: async () => {
      await certificates?.checkRenewal().catch((err) => log?.error({ err }, 'certificate renewal check failed'));
    },
    stop: () => certificates?.stop(),
  };
}
