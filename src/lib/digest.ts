// SHA-256 and constant-time comparison, in one place: every secret the broker checks (the admin
// token, JWT signatures, reset and recovery codes, API keys) is compared through these, so neither its
// content nor its length leaks through timing.
import { createHash, timingSafeEqual } from 'node:crypto';

export function sha256(text: string | Buffer): Buffer {
  return createHash('sha256').update(text).digest();
}

export function sha256Hex(text: string | Buffer): string {
  return sha256(text).toString('hex');
}

/** Equal bytes, in time that depends only on the length (a length mismatch returns at once: lengths are public). */
export function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Two secrets of any length: their digests are compared, so not even the length leaks. */
export function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(sha256(given), sha256(expected));
}
