// Identity: the business rules of users, logins, two-factor and password resets. It knows no HTTP:
// routes.ts validates shapes and calls these methods; errors come from errors.ts.
import { randomUUID } from 'node:crypto';
import { LOGIN_FAILED, badRequest, notFound, unauthorized } from '../errors.js';
import type { UserRecord, UserStore } from '../storage/users.js';
import type { BiscuitIssuer } from './biscuit.js';
import { AttemptGate } from './attempt-gate.js';
import { lockAfterFailure, type LockState } from './lockout.js';
import { checkStrength, hashPassword, verifyPassword } from './passwords.js';
import { qrPngBase64 } from './qr.js';
import type { Tokens } from './tokens.js';
import { RECOVERY_CODE_COUNT, hashRecoveryCode, newRecoveryCode } from './recovery-codes.js';
import { RESET_MAX_ATTEMPTS, matchTotp, newResetCode, newTotpSecret, otpauthUri, sameHash, sha256 } from './totp.js';
import { MAX_ISSUER_CHARS, MAX_TENANT_BYTES, MAX_USERNAME_BYTES, validateEmail, validateName, validatePassword, validateScopes } from './user-fields.js';

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

/** Who made a request, once authenticated. `exp` (seconds) is undefined for Basic auth. */
export interface Principal {
  user: UserRecord;
  exp: number | undefined;
}

/** Why a user's sessions must end now: the hub closes their streams. */
export type SessionEndReason = 'revoked' | 'password changed' | 'tenant changed';

/** Unknown usernames whose failures are tracked (bounded memory: names are at most 512 bytes). */
const MAX_UNKNOWN_TRACKED = 50_000;

export class Identity {
  private readonly sessionEndListeners: Array<(username: string, reason: SessionEndReason) => void> = [];
  /**
   * Failed logins of usernames that do not exist, so that they lock exactly like real accounts and an
   * attacker cannot tell them apart. Bounded: expired entries go first (rememberUnknown).
   */
  private readonly unknownFailures = new Map<string, LockState>();
  private readonly gate: AttemptGate;

  constructor(
    private readonly users: UserStore,
    private readonly tokens: Tokens,
    private readonly biscuit: BiscuitIssuer,
    private readonly options: IdentityOptions,
  ) {
    this.gate = new AttemptGate(options.now);
  }

  onSessionEnd(listener: (username: string, reason: SessionEndReason) => void): void {
    this.sessionEndListeners.push(listener);
  }

  private endSessions(username: string, reason: SessionEndReason): void {
    for (const listener of this.sessionEndListeners) listener(username, reason);
  }

  private require(username: string): UserRecord {
    const user = this.users.get(username);
    if (!user) throw notFound(`no user named "${username.slice(0, 100)}"`);
    return user;
  }

  async createUser(input: NewUser): Promise<UserRecord> {
    validateName('username', input.username, MAX_USERNAME_BYTES);
    validateName('tenant_name', input.tenant_name, MAX_TENANT_BYTES);
    validatePassword(input.password);
    validateEmail(input.email);
    validateScopes(input.scopes);
    if (this.options.passwordChecker) checkStrength(input.password, [input.username, input.email ?? '']);
    if (this.users.get(input.username)) throw badRequest(`username "${input.username.slice(0, 100)}" is taken`);
    const now = this.options.now();
    const user: UserRecord = {
      id: randomUUID(),
      username: input.username,
      password: await hashPassword(input.password),
      totp: newTotpSecret(),
      revoked: false,
      tenant_name: input.tenant_name,
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
    if (!(await this.users.create(user))) throw badRequest(`username "${input.username.slice(0, 100)}" is taken`);
    return user;
  }

  async updateUser(username: string, changes: UserChanges): Promise<UserRecord> {
    this.require(username);
    if (changes.tenant_name !== undefined) validateName('tenant_name', changes.tenant_name, MAX_TENANT_BYTES);
    if (changes.password !== undefined) validatePassword(changes.password);
    validateEmail(changes.email);
    validateScopes(changes.scopes);
    if (changes.password !== undefined && this.options.passwordChecker) checkStrength(changes.password, [username]);
    const hash = changes.password === undefined ? undefined : await hashPassword(changes.password);
    let tenantChanged = false;
    const updated = await this.users.update(username, (user) => {
      if (changes.tenant_name !== undefined) {
        tenantChanged = user.tenant_name !== changes.tenant_name;
        user.tenant_name = changes.tenant_name;
      }
      if (changes.email !== undefined) user.email = changes.email;
      if (changes.scopes !== undefined) user.scopes = changes.scopes;
      if (changes.data !== undefined) user.data = changes.data;
      if (changes.two_factor !== undefined) user.two_factor = changes.two_factor;
      if (hash !== undefined) {
        user.password = hash;
        user.token_version++;
      }
    });
    if (!updated) throw notFound(`no user named "${username.slice(0, 100)}"`);
    if (hash !== undefined) this.endSessions(username, 'password changed');
    else if (tenantChanged) this.endSessions(username, 'tenant changed');
    return updated;
  }

  async setRevoked(username: string, revoked: boolean): Promise<void> {
    this.require(username);
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

  async createQr(username: string, issuer: string): Promise<string> {
    if (issuer.length > MAX_ISSUER_CHARS) throw badRequest(`issuer must be at most ${MAX_ISSUER_CHARS} characters`);
    const user = this.require(username);
    return qrPngBase64(otpauthUri(issuer, user.username, user.totp));
  }

  async createResetCode(username: string): Promise<string> {
    this.require(username);
    const { code, record } = newResetCode(this.options.now(), this.options.totpDuration);
    await this.users.update(username, (user) => {
      user.reset = record;
    });
    return code;
  }

  async createRecoveryCodes(username: string): Promise<string[]> {
    this.require(username);
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
    await this.users.update(username, (user) => {
      user.recovery_codes = codes.map(hashRecoveryCode);
    });
    return codes;
  }

  async resetPassword(username: string, code: string, password: string): Promise<void> {
    validatePassword(password);
    const user = this.users.get(username);
    const now = this.options.now();
    const reset = user?.reset;
    if (!user || !reset || reset.expires_at <= now || reset.attempts >= RESET_MAX_ATTEMPTS) throw unauthorized('invalid or expired code');
    if (!sameHash(reset.hash, sha256(code))) {
      await this.users.update(username, (u) => {
        if (u.reset) u.reset.attempts++;
      });
      throw unauthorized('invalid or expired code');
    }
    if (this.options.passwordChecker) checkStrength(password, [username]);
    const hash = await hashPassword(password);
    let accepted = false;
    await this.users.update(username, (u) => {
      // Re-checked inside the transaction: two resets racing with one code, only one wins.
      if (!u.reset || !sameHash(u.reset.hash, sha256(code)) || u.reset.expires_at <= now) return;
      accepted = true;
      u.reset = null;
      u.password = hash;
      u.token_version++;
      u.failures = 0;
      u.locked_until = 0;
    });
    if (!accepted) throw unauthorized('invalid or expired code');
    this.endSessions(username, 'password changed');
  }

  private lockState(username: string, user: UserRecord | undefined): LockState {
    return user ?? this.unknownFailures.get(username) ?? { failures: 0, locked_until: 0 };
  }

  private async recordFailure(username: string, user: UserRecord | undefined): Promise<void> {
    const now = this.options.now();
    if (user) {
      await this.users.update(username, (u) => {
        Object.assign(u, lockAfterFailure(u, now));
      });
      return;
    }
    this.rememberUnknown(username, lockAfterFailure(this.lockState(username, undefined), now));
  }

  private rememberUnknown(username: string, state: LockState): void {
    this.unknownFailures.delete(username);
    this.unknownFailures.set(username, state);
    if (this.unknownFailures.size <= MAX_UNKNOWN_TRACKED) return;
    // Evict the oldest entry whose lock has expired: evicting a live lock would let an attacker tell an
    // unknown name (lock forgotten) from a real account (lock kept) by flooding other names.
    const now = this.options.now();
    let scanned = 0;
    for (const [name, entry] of this.unknownFailures) {
      if (entry.locked_until <= now) {
        this.unknownFailures.delete(name);
        return;
      }
      if (++scanned > 1000) break;
    }
    this.unknownFailures.delete(this.unknownFailures.keys().next().value as string);
  }

  /** Waits for a turn to check this account's password (attempt-gate.ts); 429 while it is locked. */
  private enterGate(username: string): Promise<() => void> {
    return this.gate.enter(username, () => this.lockState(username, this.users.get(username)));
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
  async login(username: string, password: string, code: string | undefined): Promise<{ jwt: string; exp: number }> {
    if (Buffer.byteLength(username) > MAX_USERNAME_BYTES) {
      // No such user can exist; answer like any unknown user, without remembering the name.
      await verifyPassword(undefined, password);
      throw unauthorized(LOGIN_FAILED);
    }
    const release = await this.enterGate(username);
    try {
      const user = this.users.get(username);
      const passwordOk = await verifyPassword(user?.password, password);
      const factor = user && passwordOk && !user.revoked ? this.secondFactor(user, code) : undefined;
      if (!user || !factor) {
        await this.recordFailure(username, user);
        throw unauthorized(LOGIN_FAILED);
      }
      let accepted = false;
      const updated = await this.users.update(username, (u) => {
        // Re-checked inside the transaction, so that one code cannot log in twice concurrently.
        if (u.revoked) return;
        if (factor.step !== undefined && factor.step <= u.totp_last_step) return;
        if (factor.recovery !== undefined && !u.recovery_codes.includes(factor.recovery)) return;
        accepted = true;
        if (factor.step !== undefined) u.totp_last_step = factor.step;
        if (factor.recovery !== undefined) u.recovery_codes = u.recovery_codes.filter((h) => h !== factor.recovery);
        u.failures = 0;
        u.locked_until = 0;
      });
      if (!updated || !accepted) {
        await this.recordFailure(username, user);
        throw unauthorized(LOGIN_FAILED);
      }
      return await this.tokens.issue(username, updated.token_version);
    } finally {
      // Only now: the outcome is recorded, so the next attempt sees it.
      release();
    }
  }

  /**
   * Resolves an Authorization header (Bearer JWT or Basic) to a user. Anything missing, malformed,
   * expired, tampered, revoked or older than the user's last password change → 401.
   */
  async authenticate(header: string | undefined): Promise<Principal> {
    if (!header) throw unauthorized('missing Authorization header');
    const space = header.indexOf(' ');
    const scheme = space < 0 ? header : header.slice(0, space);
    const credentials = space < 0 ? '' : header.slice(space + 1).trim();
    if (/^bearer$/i.test(scheme)) return this.authenticateToken(credentials);
    if (/^basic$/i.test(scheme)) return this.authenticateBasic(credentials);
    throw unauthorized('unsupported Authorization scheme');
  }

  async authenticateToken(jwt: string): Promise<Principal> {
    const claims = jwt ? this.tokens.verify(jwt) : undefined;
    if (!claims) throw unauthorized('invalid or expired token');
    const user = this.users.get(claims.sub);
    if (!user || user.revoked || claims.tv !== user.token_version) throw unauthorized('invalid or expired token');
    return { user, exp: claims.exp };
  }

  private async authenticateBasic(credentials: string): Promise<Principal> {
    if (!/^[A-Za-z0-9+/]+=*$/.test(credentials)) throw unauthorized('malformed Basic credentials');
    const decoded = Buffer.from(credentials, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw unauthorized('malformed Basic credentials');
    const username = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    if (Buffer.byteLength(username) > MAX_USERNAME_BYTES) throw unauthorized('invalid credentials');
    const release = await this.enterGate(username);
    let user: UserRecord | undefined;
    try {
      user = this.users.get(username);
      const ok = await verifyPassword(user?.password, password);
      // Basic cannot carry a second factor: a two-factor user must log in for a token. Every refusal
      // counts toward the lock, or a right password refused for 2FA would be told apart from a wrong one.
      if (!user || !ok || user.revoked || user.two_factor) {
        await this.recordFailure(username, user);
        throw unauthorized('invalid credentials');
      }
      // Basic is checked on every request: write only when there is a failure count to clear.
      if (user.failures > 0) {
        await this.users.update(username, (u) => {
          u.failures = 0;
          u.locked_until = 0;
        });
      }
    } finally {
      release();
    }
    return { user, exp: undefined };
  }

  /** /verify: the token's expiry and scopes, and a biscuit carrying one right per scope. */
  verification(principal: Principal): { key: number[]; token: number[]; expiry: number; username: string; scopes: string[] } {
    const scopes = principal.user.scopes ?? [];
    const expiry = principal.exp ?? Math.floor(this.options.now() / 1000) + this.options.jwtExpiry;
    return { key: this.biscuit.publicKey, token: this.biscuit.mint(scopes), expiry, username: principal.user.username, scopes };
  }
}
