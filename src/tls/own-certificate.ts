// Own-certificate mode (`--secure --auto_cert=false`): the PEM files at --cert_path and --key_path,
// read at start (a bad file stops the start with one line) and again on SIGHUP (a bad file then keeps
// the certificate being served and logs why, so a botched renewal by another tool never takes the
// API down).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Config } from '../config.js';
import type { Log } from '../lib/log.js';
import {
  CertificateError,
  coversDomain,
  describeCertificate,
  inspectCertificate,
  type Certificate,
} from './certificate.js';
import type { CertificateStrategy } from './strategy.js';

function readPem(flag: string, path: string): string {
  const full = resolve(path);
  try {
    return readFileSync(full, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === 'ENOENT'
        ? 'no such file'
        : e.code === 'EACCES'
          ? 'permission denied'
          : e.code === 'EISDIR'
            ? 'is a directory'
            : e.message;
    throw new CertificateError(`cannot read ${flag} ${full}: ${why}`);
  }
}

export function loadOwnCertificate(certPath: string, keyPath: string): Certificate {
  const cert = readPem('--cert_path', certPath);
  const key = readPem('--key_path', keyPath);
  return inspectCertificate(
    { cert, key },
    { cert: `--cert_path ${resolve(certPath)}`, key: `--key_path ${resolve(keyPath)}` },
  );
}

/** The own-files strategy: read now (a bad file throws before anything opens), reread on SIGHUP. */
export function ownCertificate(config: Config): CertificateStrategy {
  const first = loadOwnCertificate(config.cert_path, config.key_path);
  let log: Log | undefined;
  let serve: ((certificate: Certificate) => void) | undefined;
  // Served anyway (the operator may be mid-rotation), but said loudly: clients will refuse it.
  const warnAbout = (certificate: Certificate) => {
    if (certificate.info.notAfter.getTime() < Date.now())
      log?.warn(`the certificate in ${config.cert_path} expired on ${certificate.info.notAfter.toISOString()}`);
    if (config.domain && !coversDomain(certificate.cert, config.domain))
      log?.warn(`the certificate in ${config.cert_path} is not valid for --domain ${config.domain}`);
  };
  return {
    initial: first,
    challenges: new Map(),
    async start(context) {
      ({ log, serve } = context);
      log.info(
        { certificate: describeCertificate(first.info) },
        `serving the certificate from ${config.cert_path}, valid until ${first.info.notAfter.toISOString()}`,
      );
      warnAbout(first);
    },
    reload: async () => {
      if (!log || !serve) return;
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
    },
    stop: () => {},
  };
}
