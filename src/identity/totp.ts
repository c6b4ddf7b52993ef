// Two-factor codes (RFC 6238: SHA-1, 6 digits, 30 s steps, one step of drift either way) that every
// authenticator app computes.
import { authenticator } from 'otplib';

export const TOTP_STEP_SECONDS = 30;

export function newTotpSecret(): string {
  return authenticator.generateSecret(20);
}

export function otpauthUri(issuer: string, username: string, secret: string): string {
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(username)}`;
  const parameters = `secret=${secret}&issuer=${encodeURIComponent(issuer)}&algorithm=SHA1&digits=6`;
  return `otpauth://totp/${label}?${parameters}&period=${TOTP_STEP_SECONDS}`;
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
