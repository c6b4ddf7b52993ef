// Users through an app: Broker's own users (identity/), created in the app's tenant, logging in under
// Broker's lockout (shared with POST /login), with Broker JWTs. What this adds: the contract's password
// rule (12-128 characters) and the originals' answers; emails are unique across all users (UserStore's index).
import { BrokerError } from '../errors.js';
import type { Credentials } from '../identity/credentials.js';
import type { Login } from '../identity/login.js';
import { MAX_USERNAME_BYTES, normalizeName, validateEmail } from '../identity/user-fields.js';
import type { Users } from '../identity/users.js';
import type { AppRecord } from '../storage/apps.js';
import type { UserRecord } from '../storage/users.js';
import type { Tokens } from '../tokens/tokens.js';
import { badEmail, badPassword, notFound, taken, unauthorized, usernameDisallowed } from './errors.js';

export const MIN_PASSWORD = 12;
export const MAX_PASSWORD = 128;

export type LoginOutcome = { token: string } | { invalid: true } | { lockedSeconds: number };

export interface AppUserParts {
  users: Users;
  login: Login;
  credentials: Credentials;
  tokens: Tokens;
}

function checkPassword(password: string): void {
  const chars = [...password].length;
  if (chars < MIN_PASSWORD || chars > MAX_PASSWORD)
    throw badPassword(`password must be ${MIN_PASSWORD}-${MAX_PASSWORD} characters`);
}

export class AppUsers {
  constructor(private readonly parts: AppUserParts) {}

  async create(app: AppRecord, input: { username: string; password: string; email: string }) {
    const { users, tokens } = this.parts;
    let username: string;
    try {
      username = normalizeName('username', input.username, MAX_USERNAME_BYTES);
    } catch (err) {
      throw usernameDisallowed((err as Error).message);
    }
    checkPassword(input.password);
    try {
      validateEmail(input.email);
    } catch (err) {
      throw badEmail((err as Error).message);
    }
    if (users.find(username)) throw taken('username');
    if (users.emailOwner(input.email) !== undefined) throw taken('email');
    let user: UserRecord;
    try {
      user = await users.create({
        username,
        password: input.password,
        tenant_name: app.tenant_name,
        email: input.email,
      });
    } catch (err) {
      if (err instanceof BrokerError && err.message === 'email is taken') throw taken('email');
      if (err instanceof BrokerError && /is taken/.test(err.message)) throw taken('username');
      // The strength checker (--password_checker) refused it.
      if (err instanceof BrokerError && err.statusCode === 400) throw badPassword(err.message);
      throw err;
    }
    const { jwt } = await tokens.issue(user.username, user.token_version);
    return { username: user.username, token: jwt };
  }

  /** Broker's login, lockout and all; a user of another app's tenant answers as a wrong password. */
  async login(app: AppRecord, username: string, password: string): Promise<LoginOutcome> {
    try {
      const { jwt } = await this.parts.login.attempt(username, password, undefined);
      const user = this.parts.users.find(username);
      if (!user || user.tenant_name !== app.tenant_name) return { invalid: true };
      return { token: jwt };
    } catch (err) {
      if (err instanceof BrokerError && err.statusCode === 401) return { invalid: true };
      if (err instanceof BrokerError && err.statusCode === 429)
        return { lockedSeconds: Number(err.headers['retry-after'] ?? 1) };
      throw err;
    }
  }

  /** Checks `old` (counted by the lockout), applies the rules, ends every older token and stream. */
  async changePassword(app: AppRecord, token: string, old: string, next: string): Promise<void> {
    const user = await this.userOf(app, token);
    const outcome = await this.login(app, user.username, old);
    if (!('token' in outcome)) throw unauthorized('wrong password');
    checkPassword(next);
    await this.parts.users.update(user.username, { password: next });
  }

  /** Deletes a user by Broker id (of `tenant` only, unless undefined: a management key). */
  async delete(userId: string, tenant: string | undefined): Promise<void> {
    const user = userId.length <= 64 ? this.parts.users.list().find((u) => u.id === userId) : undefined;
    if (!user || (tenant !== undefined && user.tenant_name !== tenant)) throw notFound('no such user');
    await this.parts.users.delete(user.username);
  }

  private async userOf(app: AppRecord, token: string): Promise<UserRecord> {
    try {
      const principal = await this.parts.credentials.bearer(token);
      if (principal.user.tenant_name === app.tenant_name) return principal.user;
    } catch {
      // Any bad token is the same answer.
    }
    throw unauthorized();
  }
}
