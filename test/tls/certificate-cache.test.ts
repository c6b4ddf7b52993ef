// The --certs cache: one folder per ACME directory (a staging certificate is never served in
// production), and a cached pair that cannot be served is reported, not used.
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { CertificateCache, directorySlug } from '../../src/tls/certificate-cache.js';
import { LETSENCRYPT_PRODUCTION, LETSENCRYPT_STAGING } from '../../src/config.js';
import { tempDir } from '../helpers/broker.js';
import { issue } from './x509.js';

describe('certificate cache', () => {
  const dir = tempDir('broker-certs-');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const domain = 'cache.broker.test';

  it('keeps staging and production apart', () => {
    expect(directorySlug(LETSENCRYPT_PRODUCTION)).toBe('acme-v02.api.letsencrypt.org-directory');
    expect(directorySlug(LETSENCRYPT_STAGING)).toBe('acme-staging-v02.api.letsencrypt.org-directory');
    const staging = new CertificateCache(dir, LETSENCRYPT_STAGING);
    const leaf = issue({ cn: domain, names: [domain] });
    staging.save(domain, leaf.keyPem, leaf.certPem);
    expect(staging.load(domain).certificate?.info.serial).toBe(leaf.serial);
    expect(new CertificateCache(dir, LETSENCRYPT_PRODUCTION).load(domain)).toEqual({ reason: 'no cached certificate' });
  });

  it('writes the private key owner-only and creates the account key once', async () => {
    const cache = new CertificateCache(dir, 'https://ca.example/dir');
    const leaf = issue({ cn: domain, names: [domain] });
    cache.save(domain, leaf.keyPem, leaf.certPem);
    expect(statSync(cache.paths(domain).key).mode & 0o777).toBe(0o600);
    let created = 0;
    const make = async () => `key-${++created}`;
    expect(await cache.accountKey(make)).toBe('key-1');
    expect(await cache.accountKey(make)).toBe('key-1');
    expect(created).toBe(1);
  });

  it('reports a cached pair it cannot serve instead of using it', () => {
    const cache = new CertificateCache(dir, 'https://other-ca.example/dir');
    const leaf = issue({ cn: domain, names: [domain] });
    cache.save(domain, issue({ cn: domain }).keyPem, leaf.certPem);
    expect(cache.load(domain).certificate).toBeUndefined();
    expect(cache.load(domain).reason).toMatch(/does not match/);

    cache.save('other.broker.test', leaf.keyPem, leaf.certPem);
    expect(cache.load('other.broker.test').reason).toMatch(/not for other\.broker\.test/);

    writeFileSync(cache.paths(domain).cert, 'garbage');
    expect(cache.load(domain).reason).toMatch(/no PEM certificate/);
    expect(readFileSync(cache.paths(domain).key, 'utf8')).toContain('PRIVATE KEY');
  });
});
