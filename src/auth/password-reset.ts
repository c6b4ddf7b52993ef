// Password resets with a one-time code (create_totp → password_reset). The code's guess limit must hold
// under a parallel burst: each guess is counted and compared in one transaction, so a burst of any size
// gets RESET_MAX_ATTEMPTS comparisons in all, never one per request in flight.
import { unauthorized } from '../errors.js';
import type { UserStore } from '../storage/users.js';
import { checkStrength, hashPassword } from './passwords.js';
import { RESET_MAX_ATTEMPTS, newResetCode, sameHash, sha256 } from './totp.js';
import { validatePassword } from './user-fields.js';

const REFUSED = 'invalid or expired code';

export interface ResetOptions {
  passwordChecker: boolean;
  totpDuration: number;
  now: () => number;
}

export class PasswordResets {
  constructor(
    private readonly users: UserStore,
    private readonly options: ResetOptions,
    /** Called once a reset took effect: the user's sessions end. */
    private readonly onReset: (username: string) => void,
  ) {}

  /** `username` is the stored key (the caller resolved it and knows the user exists). */
  async create(username: string): Promise<string> {
    const { code, record } = newResetCode(this.options.now(), this.options.totpDuration);
    await this.users.update(username, (user) => {
      user.reset = record;
    });
    return code;
  }

  async reset(username: string, code: string, password: string): Promise<void> {
    // The new password first: a 400 about it says nothing about the code and costs no guess.
    validatePassword(password);
    if (this.options.passwordChecker) checkStrength(password, [username]);
    const now = this.options.now();
    const hashed = sha256(code);
    let admitted = false;
    const user = await this.users.update(username, (u) => {
      const pending = u.reset;
      if (!pending || pending.expires_at <= now || pending.attempts >= RESET_MAX_ATTEMPTS) return false;
      pending.attempts++;
      admitted = sameHash(pending.hash, hashed);
    });
    if (!user || !admitted) throw unauthorized(REFUSED);
    const hash = await hashPassword(password);
    let accepted = false;
    await this.users.update(username, (u) => {
      // Re-checked after the hash's await: two resets racing with one code, only one wins.
      if (!u.reset || !sameHash(u.reset.hash, hashed) || u.reset.expires_at <= now) return false;
      accepted = true;
      u.reset = null;
      u.password = hash;
      u.token_version++;
      u.failures = 0;
      u.locked_until = 0;
    });
    if (!accepted) throw unauthorized(REFUSED);
    this.onReset(username);
  }
}
