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

/** New passwords are at least this many characters (code points); a login never checks it. */
export const MIN_PASSWORD_CHARS = 8;

/**
 * Control (Cc), format (Cf: zero-width spaces, bidi overrides such as U+202E) and line/paragraph
 * separators make a name that looks like another one, or that breaks the logs and headers of the
 * microservices /verify hands it to.
 */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
const SURROUNDING_SPACE = /^\s|\s$/u;
/** A lone surrogate: lmdb stores it lossily (as U+FFFD), so the name could never be looked up again. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * A new name (username, tenant_name), NFC-normalised so that "é" typed composed or decomposed is one
 * name; refused with a 400 naming the field when it is empty, too long for its LMDB key, ill-formed,
 * or carries invisible or surrounding whitespace characters. Only new names pass here: records stored
 * before these rules keep working, because logins and lookups never re-validate.
 */
export function normalizeName(field: string, value: string, maxBytes: number): string {
  if (LONE_SURROGATE.test(value)) throw badRequest(`${field} must be well-formed Unicode (it has a lone surrogate)`);
  const name = value.normalize('NFC');
  if (name.length === 0) throw badRequest(`${field} must not be empty`);
  if (Buffer.byteLength(name) > maxBytes) throw badRequest(`${field} must be at most ${maxBytes} bytes`);
  const bad = INVISIBLE.exec(name);
  if (bad) throw badRequest(`${field} must not contain control or invisible characters (U+${codePoint(bad[0])})`);
  if (SURROUNDING_SPACE.test(name)) throw badRequest(`${field} must not start or end with whitespace`);
  return name;
}

function codePoint(char: string): string {
  return (char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0');
}

/** A new password (create, update, reset). */
export function validatePassword(password: string): void {
  if (password.length === 0) throw badRequest('password must not be empty');
  // Counted in code points, as a person counts characters: an emoji is one, not two.
  let chars = 0;
  for (const _ of password) if (++chars >= MIN_PASSWORD_CHARS) return;
  throw badRequest(`password must be at least ${MIN_PASSWORD_CHARS} characters`);
}

export function validateEmail(email: string | null | undefined): void {
  if (email === null || email === undefined) return;
  if (email.length > 254 || !EMAIL.test(email))
    throw badRequest(`"${email.slice(0, 100)}" is not a valid email address`);
}

export function validateScopes(scopes: string[] | null | undefined): void {
  if (!scopes) return;
  for (const scope of scopes) {
    if (!SCOPE.test(scope))
      throw badRequest(`scope "${scope.slice(0, 100)}" must look like resource:operation, with exactly one colon`);
  }
}
