// The rules every user field follows, on create and update alike: what is a valid name, email, scope.
import { badRequest } from '../errors.js';

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const SCOPE = /^[^:\s]+:[^:\s]+$/;
/**
 * LMDB keys are at most 1978 bytes: users are keyed by username and events by [tenant_name, event]
 * (event ≤ 512 bytes, realtime/sse.ts), so these bounds keep every key valid and every lookup an index hit.
 */
export const MAX_USERNAME_BYTES = 512;
export const MAX_TENANT_BYTES = 1024;
/** A QR code holds under 3 KB: a longer issuer would not fit in the otpauth URI's code. */
export const MAX_ISSUER_CHARS = 200;

/** A non-empty name that fits its LMDB key. */
export function validateName(field: string, value: string, maxBytes: number): void {
  if (value.length === 0) throw badRequest(`${field} must not be empty`);
  if (Buffer.byteLength(value) > maxBytes) throw badRequest(`${field} must be at most ${maxBytes} bytes`);
}

export function validatePassword(password: string): void {
  if (password.length === 0) throw badRequest('password must not be empty');
}

export function validateEmail(email: string | null | undefined): void {
  if (email === null || email === undefined) return;
  if (email.length > 254 || !EMAIL.test(email)) throw badRequest(`"${email.slice(0, 100)}" is not a valid email address`);
}

export function validateScopes(scopes: string[] | null | undefined): void {
  if (!scopes) return;
  for (const scope of scopes) {
    if (!SCOPE.test(scope)) throw badRequest(`scope "${scope.slice(0, 100)}" must look like resource:operation, with exactly one colon`);
  }
}
