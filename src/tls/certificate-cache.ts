// The --certs directory: the ACME account key and the latest certificate per domain, kept so that a
// restart serves the cached certificate at once instead of asking the CA again (Let's Encrypt limits
// issuance per week). Everything sits under one folder per ACME directory, so switching from staging to
// production never serves a staging certificate:
//
//   certs/<directory>/account.key
//   certs/<directory>/<domain>/privkey.pem
//   certs/<directory>/<domain>/fullchain.pem
//
// Private keys are written 0600 in 0700 folders; every file is written to a temporary name and renamed,
// so a crash never leaves half a PEM behind (a key and chain from two different renewals are caught by
// the key-match check on load, and the certificate is then simply obtained again).
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../lib/atomic-file.js';
import { CertificateError, coversDomain, inspectCertificate, type Certificate } from './certificate.js';

/** `https://acme-v02.api.letsencrypt.org/directory` -> `acme-v02.api.letsencrypt.org-directory`. */
export function directorySlug(directoryUrl: string): string {
  const url = new URL(directoryUrl);
  const raw = `${url.host}${url.pathname}`.replace(/\/+$/, '');
  return raw.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+/, '') || 'acme';
}

export class CertificateCache {
  readonly dir: string;

  constructor(certsDir: string, directoryUrl: string) {
    this.dir = join(resolve(certsDir), directorySlug(directoryUrl));
  }

  private domainDir(domain: string): string {
    // A domain name never holds a slash, but the flag is user input: keep the path inside --certs.
    return join(this.dir, domain.toLowerCase().replace(/[^a-z0-9.*-]/g, '_'));
  }

  paths(domain: string): { key: string; cert: string } {
    const dir = this.domainDir(domain);
    return { key: join(dir, 'privkey.pem'), cert: join(dir, 'fullchain.pem') };
  }

  /** The account key, created by `create` (and kept) when there is none yet. */
  async accountKey(create: () => Promise<string>): Promise<string> {
    const file = join(this.dir, 'account.key');
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const key = await create();
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(file, key, 0o600);
    return key;
  }

  /**
   * The cached certificate for `domain`, or undefined when there is none or it cannot be used (then
   * `reason` says why, for the log): unreadable, mismatched, or not for this domain.
   */
  load(domain: string): { certificate?: Certificate; reason?: string } {
    const paths = this.paths(domain);
    let key: string;
    let cert: string;
    try {
      key = readFileSync(paths.key, 'utf8');
      cert = readFileSync(paths.cert, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { reason: 'no cached certificate' };
      return { reason: `cannot read the cached certificate: ${(err as Error).message}` };
    }
    try {
      const certificate = inspectCertificate({ key, cert }, paths);
      if (!coversDomain(cert, domain)) return { reason: `the cached certificate ${paths.cert} is not for ${domain}` };
      return { certificate };
    } catch (err) {
      if (err instanceof CertificateError) return { reason: err.message };
      throw err;
    }
  }

  save(domain: string, key: string, cert: string): void {
    const paths = this.paths(domain);
    mkdirSync(this.domainDir(domain), { recursive: true, mode: 0o700 });
    writeFileAtomic(paths.key, key, 0o600);
    writeFileAtomic(paths.cert, cert, 0o644);
  }
}
