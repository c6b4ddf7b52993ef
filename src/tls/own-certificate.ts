// Own-certificate mode (`--secure --auto_cert=false`): the PEM files at --cert_path and --key_path,
// read at start (a bad file stops the start with one line) and again on SIGHUP (a bad file then keeps
// the certificate being served and logs why, so a botched renewal by another tool never takes the
// API down).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CertificateError, inspectCertificate, type Certificate } from './certificate.js';

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
