// Self-service: what a user does with their own token (Bearer or Basic), so that a frontend without a
// backend of its own needs no admin token: change the password, turn two-factor on (enrol, then confirm
// with a code), log out of this token or of every session. Sign-up stays an admin (or app-key) action.
import { badRequest, unauthorized } from '../errors.js';
import type { TokenDenylist } from '../storage/accounts.js';
import type { UserRecord, UserStore } from '../storage/users.js';
import type { Tokens } from '../tokens/tokens.js';
import { tokenHash } from './credentials.js';
import type { LoginAttempts } from './login-attempts.js';
import { verifyPassword } from './passwords.js';
import type { Principal } from './principal.js';
import { qrPngBase64 } from './qr.js';
import { RECOVERY_CODE_COUNT, hashRecoveryCode, newRecoveryCode } from './recovery-codes.js';
import type { Sessions } from './sessions.js';
import { matchTotp, newTotpSecret, otpauthUri } from './totp.js';
import { DEFAULT_ISSUER } from './two-factor.js';
import type { Users } from './users.js';

const WRONG_PASSWORD = 'the current password is wrong';
const WRONG_CODE = 'invalid code';

export class SelfService {
  constructor(
    private readonly store: UserStore,
    private readonly users: Users,
    private readonly attempts: LoginAttempts,
    private readonly sessions: Sessions,
    private readonly tokens: Tokens,
    private readonly denied: TokenDenylist,
    private readonly now: () => number,
  ) {}

  /** The principal's user as it is now; 401 when a revoke or another change ended the session meanwhile. */
  private current(principal: Principal): UserRecord {
    if (!this.sessions.isCurrent(principal.user)) throw unauthorized('invalid or expired token');
    return this.store.get(principal.user.username) as UserRecord;
  }

  /**
   * Checks the current password (counted by the lockout, like a login), sets the new one: the token
   * version moves on, so every older token and stream ends. Answers a token for the new version.
   */
  async changePassword(principal: Principal, password: string, newPassword: string) {
    if (principal.kind === 'local')
      throw badRequest('the local user has no password of its own to change (an admin may set one: update_user)');
    const { username } = this.current(principal);
    const release = await this.attempts.enter(username);
    try {
      const user = this.store.get(username);
      const ok = await verifyPassword(user?.password, password);
      if (!user || !ok) {
        await this.attempts.failed(username, user);
        throw unauthorized(WRONG_PASSWORD);
      }
      // Re-read after the hash's await: a revoke or another change meanwhile ends this session.
      this.current(principal);
      const updated = await this.users.update(username, { password: newPassword });
      this.attempts.succeeded(username);
      return this.tokens.issue(username, updated.token_version);
    } finally {
      release();
    }
  }

  /**
   * A fresh TOTP secret for the user to scan; two-factor stays off until confirm_totp gets a valid code
   * from it. Refused once two-factor is on (a stolen token must not replace the second factor).
   */
  async enrollTotp(principal: Principal, issuer = DEFAULT_ISSUER): Promise<{ qr: string; uri: string }> {
    const { username } = this.current(principal);
    const secret = newTotpSecret();
    let refused = false;
    await this.store.update(username, (u) => {
      refused = u.two_factor === true; // a change may run again (UserStore.update): only its last run counts
      if (refused) return false;
      u.totp = secret;
      u.totp_last_step = 0;
    });
    if (refused) throw badRequest('two-factor is already on');
    const uri = otpauthUri(issuer, username, secret);
    return { qr: await qrPngBase64(uri), uri };
  }

  /**
   * Turns two-factor on once a code from the enrolled secret matches (a wrong code counts toward the
   * lockout). Sessions opened with the password alone end, as when an admin turns it on; the answer
   * carries a token for the new version and the recovery codes, shown this once.
   */
  async confirmTotp(principal: Principal, code: string): Promise<{ jwt: string; exp: number; codes: string[] }> {
    const { username } = this.current(principal);
    const release = await this.attempts.enter(username);
    try {
      const user = this.current(principal);
      if (user.two_factor) throw badRequest('two-factor is already on');
      const step = matchTotp(code, user.totp, this.now());
      if (step === undefined || step <= user.totp_last_step) {
        await this.attempts.failed(username, user);
        throw badRequest(WRONG_CODE);
      }
      const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
      const updated = await this.store.update(username, (u) => {
        // The secret confirmed is still the one enrolled, and the session still current.
        if (u.totp !== user.totp || u.token_version !== user.token_version || u.revoked || u.two_factor) return false;
        u.two_factor = true;
        u.totp_last_step = step;
        u.recovery_codes = codes.map(hashRecoveryCode);
        u.token_version++;
      });
      if (!updated?.two_factor || updated.token_version === user.token_version)
        throw unauthorized('invalid or expired token');
      this.attempts.succeeded(username);
      this.sessions.end(username, 'two-factor enabled');
      return { ...(await this.tokens.issue(username, updated.token_version)), codes };
    } finally {
      release();
    }
  }

  /**
   * Ends this token: its hash goes on the deny list until the token's own expiry (then prune drops it).
   * The user's open streams close too, since a stream does not know which token opened it; those opened
   * with another token still valid reconnect (the client does it by itself). In a cluster every node
   * ends them once it applies the deny entry (TokenDenylist.loggedOut); this node's end here is then a
   * second, harmless one.
   */
  async logout(principal: Principal, jwt: string | undefined): Promise<void> {
    if (principal.exp === undefined || jwt === undefined)
      throw badRequest('only a Bearer token can be logged out of (logout_all ends every session)');
    await this.denied.add(tokenHash(jwt), principal.exp, principal.user.username);
    this.sessions.end(principal.user.username, 'logged out');
  }

  /** Ends every token and stream of the user: the token version moves on. */
  async logoutAll(principal: Principal): Promise<void> {
    const { username } = this.current(principal);
    await this.store.update(username, (u) => {
      u.token_version++;
    });
    this.sessions.end(username, 'logged out');
  }

  /** Forgets deny-list entries of tokens already expired (services.ts runs it with retention). */
  pruneDenied(limit = 10_000): Promise<number> {
    return this.denied.prune(Math.floor(this.now() / 1000), limit);
  }
}
