// Password resets with a one-time code (create_totp → password_reset). The code's guess limit must hold
// under a parallel burst: each guess is counted and compared in one transaction, so a burst of any size
// gets RESET_MAX_ATTEMPTS comparisons in all, never one per request in flight.
import { randomInt } from 'node:crypto';
import { unauthorized } from '../errors.js';
import { sameBytes, sha256, sha256Hex } from '../lib/digest.js';
import type { ResetCode, UserStore } from '../storage/users.js';
import type { LoginAttempts } from './login-attempts.js';
import { checkStrength, hashPassword } from './passwords.js';
import type { Sessions } from './sessions.js';
import { validatePassword } from './user-fields.js';
import { storedKey, type Users } from './users.js';

const REFUSED = 'invalid or expired code';

/** A wrong guess five times ends a reset code: 5 guesses in 10^6 is no brute force. */
export const RESET_MAX_ATTEMPTS = 5;

export interface ResetOptions {
  passwordChecker: boolean;
  totpDuration: number;
  now: () => number;
}

export function newResetCode(nowMs: number, durationSeconds: number): { code: string; record: ResetCode } {
  const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
  return { code, record: { hash: sha256Hex(code), expires_at: nowMs + durationSeconds * 1000, attempts: 0 } };
}

/** The stored hex hash against the digest of a given code, in constant time. */
const matches = (stored: string, given: Buffer) => sameBytes(Buffer.from(stored, 'hex'), given);

export class PasswordResets {
  constructor(
    private readonly store: UserStore,
    private readonly users: Users,
    private readonly attempts: LoginAttempts,
    private readonly sessions: Sessions,
    private readonly options: ResetOptions,
  ) {}

  /** A new code for the user a given name means (404 when none); it replaces any code before it. */
  async create(name: string): Promise<string> {
    const { username } = this.users.get(name);
    const { code, record } = newResetCode(this.options.now(), this.options.totpDuration);
    await this.store.update(username, (user) => {
      user.reset = record;
    });
    return code;
  }

  async reset(name: string, code: string, password: string): Promise<void> {
    const username = storedKey(this.store, name);
    // The new password first: a 400 about it says nothing about the code and costs no guess.
    validatePassword(password);
    if (this.options.passwordChecker) checkStrength(password, [username]);
    const now = this.options.now();
    const hashed = sha256(code);
    let admitted = false;
    const user = await this.store.update(username, (u) => {
      admitted = false; // a change may run again (UserStore.update): only its last run counts
      const pending = u.reset;
      if (!pending || pending.expires_at <= now || pending.attempts >= RESET_MAX_ATTEMPTS) return false;
      pending.attempts++;
      admitted = matches(pending.hash, hashed);
    });
    if (!user || !admitted) throw unauthorized(REFUSED);
    const hash = await hashPassword(password);
    let accepted = false;
    await this.store.update(username, (u) => {
      accepted = false;
      // Re-checked after the hash's await: two resets racing with one code, only one wins.
      if (!u.reset || !matches(u.reset.hash, hashed) || u.reset.expires_at <= now) return false;
      accepted = true;
      u.reset = null;
      u.password = hash;
      u.token_version++;
      u.failures = 0;
      u.locked_until = 0;
    });
    if (!accepted) throw unauthorized(REFUSED);
    // The old failures are cleared with the new password, and every session of the old one ends.
    this.attempts.succeeded(username);
    this.sessions.end(username, 'password changed');
  }
}
