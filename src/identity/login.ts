// Password login (POST /login): the password, then the second factor, under the per-account lock
// (login-attempts.ts) and the turn each password check waits for (attempt-gate.ts). A success issues a
// user JWT that carries the token version checked, so a later change of the record ends it.
import { BrokerError, LOGIN_FAILED, unauthorized } from '../errors.js';
import type { UserRecord, UserStore } from '../storage/users.js';
import type { Tokens } from '../tokens/tokens.js';
import type { LoginAttempts } from './login-attempts.js';
import { verifyPassword } from './passwords.js';
import { type TwoFactor, consume, consumes } from './two-factor.js';
import { MAX_USERNAME_BYTES } from './user-fields.js';
import { storedKey } from './users.js';

/** POST /login outcomes so far: plain numbers the metrics read when scraped (src/ops/metrics.ts). */
export interface LoginOutcomes {
  ok: number;
  failed: number;
  /** Refused with 429: the account locked, or too many attempts in flight. */
  locked: number;
}

export class Login {
  readonly outcomes: LoginOutcomes = { ok: 0, failed: 0, locked: 0 };

  constructor(
    private readonly store: UserStore,
    private readonly attempts: LoginAttempts,
    private readonly twoFactor: TwoFactor,
    private readonly tokens: Tokens,
  ) {}

  /** Unknown user, wrong password, revoked, wrong or missing code → one 401 message. */
  async attempt(name: string, password: string, code: string | undefined): Promise<{ jwt: string; exp: number }> {
    try {
      const issued = await this.check(name, password, code);
      this.outcomes.ok++;
      return issued;
    } catch (err) {
      const status = err instanceof BrokerError ? err.statusCode : 0;
      if (status === 401) this.outcomes.failed++;
      else if (status === 429) this.outcomes.locked++;
      throw err;
    }
  }

  private async check(name: string, password: string, code: string | undefined): Promise<{ jwt: string; exp: number }> {
    if (Buffer.byteLength(name) > MAX_USERNAME_BYTES) {
      // No such user can exist; answer like any unknown user, without remembering the name.
      await verifyPassword(undefined, password);
      throw unauthorized(LOGIN_FAILED);
    }
    const username = storedKey(this.store, name);
    const release = await this.attempts.enter(username);
    try {
      const user = this.store.get(username);
      const passwordOk = await verifyPassword(user?.password, password);
      const factor = user && passwordOk && !user.revoked ? this.twoFactor.check(user, code) : undefined;
      if (!user || !factor) {
        await this.attempts.failed(username, user);
        throw unauthorized(LOGIN_FAILED);
      }
      // The password was checked against `user` before an await: it still counts only if the record is
      // still that one (no password change, revoke or two-factor switch meanwhile). The token carries
      // the version checked, so a change after this check ends it too.
      const unchanged = (u: UserRecord) =>
        !u.revoked &&
        u.password === user.password &&
        u.token_version === user.token_version &&
        u.two_factor === user.two_factor;
      const fresh = this.store.get(username);
      let accepted: boolean;
      if (fresh && !consumes(factor) && !this.attempts.needsClearing(username, fresh)) {
        // Nothing to clear or consume: a read is enough, so that a full database still lets users in.
        accepted = unchanged(fresh);
      } else {
        accepted = false;
        await this.store.update(username, (u) => {
          accepted = false; // a change may run again (UserStore.update): only its last run counts
          // In the transaction, so that one code cannot log in twice concurrently.
          if (!unchanged(u) || !consume(u, factor)) return false;
          accepted = true;
          u.failures = 0;
          u.locked_until = 0;
        });
      }
      if (!accepted) {
        await this.attempts.failed(username, this.store.get(username));
        throw unauthorized(LOGIN_FAILED);
      }
      this.attempts.succeeded(username);
      return await this.tokens.issue(username, user.token_version);
    } finally {
      // Only now: the outcome is recorded, so the next attempt sees it.
      release();
    }
  }
}
