// Identity: the business rules of users, logins, two-factor and password resets. It knows no HTTP:
// routes.ts validates shapes and calls these methods; errors come from errors.ts.
import { randomUUID } from 'node:crypto';
import { Signal } from '../lib/signal.js';
import { LOGIN_FAILED, badRequest, notFound, unauthorized } from '../errors.js';
import type { UserRecord, UserStore } from '../storage/users.js';
import type { BiscuitIssuer } from './biscuit.js';
import { Authenticator, type Principal } from './authenticate.js';
import { LoginAttempts } from './login-attempts.js';
import { PasswordResets } from './password-reset.js';
import { checkStrength, hashPassword, verifyPassword } from './passwords.js';
import { qrPngBase64 } from './qr.js';
import type { Tokens } from './tokens.js';
import { RECOVERY_CODE_COUNT, hashRecoveryCode, newRecoveryCode } from './recovery-codes.js';
import { matchTotp, newTotpSecret, otpauthUri, sameHash } from './totp.js';
import {
  MAX_ISSUER_CHARS,
  MAX_TENANT_BYTES,
  MAX_USERNAME_BYTES,
  normalizeName,
  validateEmail,
  validatePassword,
  validateScopes,
} from './user-fields.js';

export interface IdentityOptions {
  passwordChecker: boolean;
  totpDuration: number;
  jwtExpiry: number;
  now: () => number;
}

export interface NewUser {
  username: string;
  password: string;
  tenant_name: string;
  email?: string | null;
  two_factor?: boolean | null;
  scopes?: string[] | null;
  data?: unknown;
}

export interface UserChanges {
  tenant_name?: string;
  password?: string;
  email?: string | null;
  scopes?: string[] | null;
  data?: unknown;
  two_factor?: boolean | null;
}

export type { Principal } from './authenticate.js';

/** Why a user's sessions must end now: the hub closes their streams. */
export type SessionEndReason = 'revoked' | 'password changed' | 'tenant changed' | 'two-factor enabled';

/** The issuer an authenticator app shows when create_qr names none. */
export const DEFAULT_ISSUER = 'Broker';

export class Identity {
  /** A user's sessions ended (revoke, password or tenant change): every open stream of theirs must close. */
  readonly sessionEnded = new Signal<{ username: string; reason: SessionEndReason }>();
  private readonly attempts: LoginAttempts;
  private readonly resets: PasswordResets;
  private readonly authenticator: Authenticator;

  constructor(
    private readonly users: UserStore,
    private readonly tokens: Tokens,
    private readonly biscuit: BiscuitIssuer,
    private readonly options: IdentityOptions,
  ) {
    this.attempts = new LoginAttempts(users, options.now);
    this.resets = new PasswordResets(users, options, (username) => {
      this.attempts.succeeded(username);
      this.endSessions(username, 'password changed');
    });
    this.authenticator = new Authenticator(users, tokens, this.attempts, (name) => this.keyOf(name));
  }

  private endSessions(username: string, reason: SessionEndReason): void {
    this.sessionEnded.emit({ username, reason });
  }

  /**
   * The stored key a given name means: the name itself when a record has it (records from before names
   * were normalised keep working), else its NFC form, the form every new name is stored in.
   */
  private keyOf(username: string): string {
    const nfc = username.normalize('NFC');
    return nfc === username || this.users.get(username) ? username : nfc;
  }

  private require(username: string): UserRecord {
    const user = this.users.get(this.keyOf(username));
    if (!user) throw notFound(`no user named "${username.slice(0, 100)}"`);
    return user;
  }

  /**
   * Whether a session opened from this record is still the user's current one: same token version
   * (bumped by a password change, a revoke and turning two-factor on), same tenant, not revoked.
   * /sse asks once its stream is registered, so that a change in between cannot leave it open.
   */
  isCurrent(user: UserRecord): boolean {
    const now = this.users.get(user.username);
    return !!now && !now.revoked && now.token_version === user.token_version && now.tenant_name === user.tenant_name;
  }

  async createUser(input: NewUser): Promise<UserRecord> {
    const username = normalizeName('username', input.username, MAX_USERNAME_BYTES);
    const tenant = normalizeName('tenant_name', input.tenant_name, MAX_TENANT_BYTES);
    validatePassword(input.password);
    validateEmail(input.email);
    validateScopes(input.scopes);
    if (this.options.passwordChecker) checkStrength(input.password, [username, input.email ?? '']);
    if (this.users.get(username)) throw badRequest(`username "${username.slice(0, 100)}" is taken`);
    const now = this.options.now();
    const user: UserRecord = {
      id: randomUUID(),
      username,
      password: await hashPassword(input.password),
      totp: newTotpSecret(),
      revoked: false,
      tenant_name: tenant,
      email: input.email ?? null,
      scopes: input.scopes ?? null,
      data: input.data === undefined ? null : input.data,
      two_factor: input.two_factor ?? null,
      token_version: 0,
      totp_last_step: 0,
      reset: null,
      failures: 0,
      locked_until: 0,
      recovery_codes: [],
      created_at: now,
      updated_at: now,
    };
    if (!(await this.users.create(user))) throw badRequest(`username "${username.slice(0, 100)}" is taken`);
    return user;
  }

  async updateUser(name: string, changes: UserChanges): Promise<UserRecord> {
    const { username } = this.require(name);
    const tenant =
      changes.tenant_name === undefined
        ? undefined
        : normalizeName('tenant_name', changes.tenant_name, MAX_TENANT_BYTES);
    if (changes.password !== undefined) validatePassword(changes.password);
    validateEmail(changes.email);
    validateScopes(changes.scopes);
    if (changes.password !== undefined && this.options.passwordChecker) checkStrength(changes.password, [username]);
    const hash = changes.password === undefined ? undefined : await hashPassword(changes.password);
    let tenantChanged = false;
    let twoFactorOn = false;
    const updated = await this.users.update(username, (user) => {
      if (tenant !== undefined) {
        tenantChanged = user.tenant_name !== tenant;
        user.tenant_name = tenant;
      }
      if (changes.email !== undefined) user.email = changes.email;
      if (changes.scopes !== undefined) user.scopes = changes.scopes;
      if (changes.data !== undefined) user.data = changes.data;
      if (changes.two_factor !== undefined) {
        twoFactorOn = !user.two_factor && changes.two_factor === true;
        user.two_factor = changes.two_factor;
      }
      // Sessions opened with the password alone (tokens, Basic streams) end once a second factor is
      // required: the admin turned it on because one factor is no longer enough.
      if (hash !== undefined) user.password = hash;
      if (hash !== undefined || twoFactorOn) user.token_version++;
    });
    if (!updated) throw notFound(`no user named "${username.slice(0, 100)}"`);
    if (hash !== undefined) this.endSessions(username, 'password changed');
    else if (twoFactorOn) this.endSessions(username, 'two-factor enabled');
    else if (tenantChanged) this.endSessions(username, 'tenant changed');
    return updated;
  }

  async setRevoked(name: string, revoked: boolean): Promise<void> {
    const { username } = this.require(name);
    await this.users.update(username, (user) => {
      user.revoked = revoked;
      if (revoked) user.token_version++;
    });
    if (revoked) this.endSessions(username, 'revoked');
  }

  getUser(username: string): UserRecord {
    return this.require(username);
  }

  listUsers(): UserRecord[] {
    return this.users.list();
  }

  async createQr(username: string, issuer = DEFAULT_ISSUER): Promise<string> {
    if (issuer.length > MAX_ISSUER_CHARS) throw badRequest(`issuer must be at most ${MAX_ISSUER_CHARS} characters`);
    const user = this.require(username);
    return qrPngBase64(otpauthUri(issuer, user.username, user.totp));
  }

  async createResetCode(name: string): Promise<string> {
    return this.resets.create(this.require(name).username);
  }

  async createRecoveryCodes(name: string): Promise<string[]> {
    const { username } = this.require(name);
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
    await this.users.update(username, (user) => {
      user.recovery_codes = codes.map(hashRecoveryCode);
    });
    return codes;
  }

  resetPassword(username: string, code: string, password: string): Promise<void> {
    return this.resets.reset(this.keyOf(username), code, password);
  }

  /** Checks the second factor: a TOTP code not used before, or an unused recovery code. */
  private secondFactor(user: UserRecord, code: string | undefined): { step?: number; recovery?: string } | undefined {
    if (!user.two_factor) return {};
    if (!code) return undefined;
    const step = matchTotp(code, user.totp, this.options.now());
    if (step !== undefined) return step > user.totp_last_step ? { step } : undefined;
    const hashed = hashRecoveryCode(code);
    if (user.recovery_codes.some((h) => sameHash(h, hashed))) return { recovery: hashed };
    return undefined;
  }

  /** Login: unknown user, wrong password, revoked, wrong or missing code → one 401 message. */
  async login(name: string, password: string, code: string | undefined): Promise<{ jwt: string; exp: number }> {
    if (Buffer.byteLength(name) > MAX_USERNAME_BYTES) {
      // No such user can exist; answer like any unknown user, without remembering the name.
      await verifyPassword(undefined, password);
      throw unauthorized(LOGIN_FAILED);
    }
    const username = this.keyOf(name);
    const release = await this.attempts.enter(username);
    try {
      const user = this.users.get(username);
      const passwordOk = await verifyPassword(user?.password, password);
      const factor = user && passwordOk && !user.revoked ? this.secondFactor(user, code) : undefined;
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
      const consumes = factor.step !== undefined || factor.recovery !== undefined;
      const fresh = this.users.get(username);
      let accepted: boolean;
      if (fresh && !consumes && !this.attempts.needsClearing(username, fresh)) {
        // Nothing to clear or consume: a read is enough, so that a full database still lets users in.
        accepted = unchanged(fresh);
      } else {
        accepted = false;
        await this.users.update(username, (u) => {
          // In the transaction, so that one code cannot log in twice concurrently.
          if (!unchanged(u)) return false;
          if (factor.step !== undefined && factor.step <= u.totp_last_step) return false;
          if (factor.recovery !== undefined && !u.recovery_codes.includes(factor.recovery)) return false;
          accepted = true;
          if (factor.step !== undefined) u.totp_last_step = factor.step;
          if (factor.recovery !== undefined) u.recovery_codes = u.recovery_codes.filter((h) => h !== factor.recovery);
          u.failures = 0;
          u.locked_until = 0;
        });
      }
      if (!accepted) {
        await this.attempts.failed(username, this.users.get(username));
        throw unauthorized(LOGIN_FAILED);
      }
      this.attempts.succeeded(username);
      return await this.tokens.issue(username, user.token_version);
    } finally {
      // Only now: the outcome is recorded, so the next attempt sees it.
      release();
    }
  }

  /**
   * Resolves an Authorization header (Bearer JWT or Basic) to a user. Anything missing, malformed,
   * expired, tampered, revoked or older than the user's last password change → 401.
   */
  authenticate(header: string | undefined): Promise<Principal> {
    return this.authenticator.authenticate(header);
  }

  authenticateToken(jwt: string): Promise<Principal> {
    return this.authenticator.token(jwt);
  }

  /** /verify: the token's expiry and scopes, and a biscuit carrying one right per scope. */
  verification(principal: Principal): {
    key: number[];
    token: number[];
    expiry: number;
    username: string;
    scopes: string[];
  } {
    const scopes = principal.user.scopes ?? [];
    const expiry = principal.exp ?? Math.floor(this.options.now() / 1000) + this.options.jwtExpiry;
    return {
      key: this.biscuit.publicKey,
      token: this.biscuit.mint(scopes),
      expiry,
      username: principal.user.username,
      scopes,
    };
  }
}
