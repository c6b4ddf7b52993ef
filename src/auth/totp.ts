// Two-factor codes (RFC 6238: SHA-1, 6 digits, 30 s steps, one step of drift either way) that every
// authenticator app computes, and single-use password-reset codes.
import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import { authenticator } from 'otplib';
import type { ResetCode } from '../storage/users.js';

export const TOTP_STEP_SECONDS = 30;

export function newTotpSecret(): string {
  return authenticator.generateSecret(20);
}

export function otpauthUri(issuer: string, username: string, secret: string): string {
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(username)}`;
  return `otpauth://totp/${label}?secret=${secret}&issuer=${encodeURIComponent(issuer)}&algorithm=SHA1&digits=6&period=${TOTP_STEP_SECONDS}`;
}

/** The time step the code belongs to (within ±1 of now), or undefined when it matches none. */
export function matchTotp(code: string, secret: string, nowMs: number): number | undefined {
  if (!/^\d{6}$/.test(code)) return undefined;
  const checker = authenticator.clone({ epoch: nowMs, window: 1, step: TOTP_STEP_SECONDS, digits: 6 });
  const delta = checker.checkDelta(code, secret);
  if (delta === null) return undefined;
  return Math.floor(nowMs / 1000 / TOTP_STEP_SECONDS) + delta;
}

/** For tests and tools: the code an authenticator app shows at this moment. */
export function currentTotp(secret: string, nowMs = Date.now()): string {
  return authenticator.clone({ epoch: nowMs, step: TOTP_STEP_SECONDS, digits: 6 }).generate(secret);
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A wrong guess five times ends a reset code: 5 guesses in 10^6 is no brute force. */
export const RESET_MAX_ATTEMPTS = 5;

export function newResetCode(nowMs: number, durationSeconds: number): { code: string; record: ResetCode } {
  const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
  return { code, record: { hash: sha256(code), expires_at: nowMs + durationSeconds * 1000, attempts: 0 } };
}
