// A certificate chain and its private key as PEM, checked the way a TLS handshake would need them:
// the chain parses, the key parses and matches the leaf, and Node can build a secure context from the
// pair. Own files and the ACME cache both go through here, so a bad pair is refused before it is served.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { createSecureContext } from 'node:tls';

export class CertificateError extends Error {}

export interface CertificatePair {
  key: string;
  /** The leaf first, then intermediates (what Let's Encrypt calls fullchain). */
  cert: string;
}

export interface CertificateInfo {
  subject: string;
  issuer: string;
  serial: string;
  fingerprint256: string;
  notBefore: Date;
  notAfter: Date;
}

export interface Certificate extends CertificatePair {
  info: CertificateInfo;
}

/** Checks a pair; `source` names where it came from in the error line ("--cert_path /x"). */
export function inspectCertificate(pair: CertificatePair, source: { cert: string; key: string }): Certificate {
  if (!pair.cert.includes('-----BEGIN CERTIFICATE-----')) {
    throw new CertificateError(`${source.cert} holds no PEM certificate (expected "-----BEGIN CERTIFICATE-----")`);
  }
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(pair.cert);
  } catch (err) {
    throw new CertificateError(`${source.cert} is not a valid PEM certificate: ${(err as Error).message}`);
  }
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey(pair.key);
  } catch (err) {
    throw new CertificateError(`${source.key} is not a valid unencrypted PEM private key: ${(err as Error).message}`);
  }
  if (!leaf.checkPrivateKey(key)) {
    throw new CertificateError(
      `${source.key} does not match the certificate in ${source.cert} (mismatched key and certificate)`,
    );
  }
  try {
    createSecureContext({ key: pair.key, cert: pair.cert });
  } catch (err) {
    throw new CertificateError(`${source.cert} and ${source.key} cannot be served: ${(err as Error).message}`);
  }
  return {
    ...pair,
    info: {
      subject: leaf.subject.replace(/\n/g, ', '),
      issuer: leaf.issuer.replace(/\n/g, ', '),
      serial: leaf.serialNumber,
      fingerprint256: leaf.fingerprint256,
      notBefore: new Date(leaf.validFrom),
      notAfter: new Date(leaf.validTo),
    },
  };
}

/** true when the leaf of `cert` is valid for `domain` (subjectAltName, wildcards as browsers match them). */
export function coversDomain(cert: string, domain: string): boolean {
  try {
    return new X509Certificate(cert).checkHost(domain) !== undefined;
  } catch {
    return false;
  }
}

/** For log lines: what is being served and until when. */
export function describeCertificate(info: CertificateInfo): Record<string, string> {
  return {
    subject: info.subject,
    issuer: info.issuer,
    serial: info.serial,
    notAfter: info.notAfter.toISOString(),
    fingerprint256: info.fingerprint256,
  };
}
