// Users, as the admin manages them: create, update, get, list, revoke. The field rules are user-fields.ts;
// a change that must end the user's sessions says so through sessions.ts.
import { randomUUID } from 'node:crypto';
import { badRequest, notFound } from '../errors.js';
import { EmailTakenError, type UserRecord, type UserStore } from '../storage/users.js';
import { checkStrength, hashPassword } from './passwords.js';
import type { Sessions } from './sessions.js';
import { newTotpSecret } from './totp.js';
import {
  MAX_TENANT_BYTES,
  MAX_USERNAME_BYTES,
  normalizeName,
  validateEmail,
  validatePassword,
  validateScopes,
} from './user-fields.js';

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

export interface UsersOptions {
  passwordChecker: boolean;
  now: () => number;
}

/**
 * The stored key a given name means: the name itself when a record has it (records from before names
 * were normalised keep working), else its NFC form, the form every new name is stored in.
 */
export function storedKey(store: UserStore, username: string): string {
  const nfc = username.normalize('NFC');
  return nfc === username || store.get(username) ? username : nfc;
}

/** Emails are unique across all users (the store's one index), answered as a taken username is. */
const emailTaken = () => badRequest('email is taken');

function refuseTakenEmail(err: unknown): never {
  throw err instanceof EmailTakenError ? emailTaken() : err;
}

export class Users {
  constructor(
    private readonly store: UserStore,
    private readonly sessions: Sessions,
    private readonly options: UsersOptions,
  ) {}

  /** The user a given name means; 404 when there is none. */
  get(name: string): UserRecord {
    const user = this.store.get(storedKey(this.store, name));
    if (!user) throw notFound(`no user named "${name.slice(0, 100)}"`);
    return user;
  }

  /** The user a given name means, or undefined. */
  find(name: string): UserRecord | undefined {
    return this.store.get(storedKey(this.store, name));
  }

  /** The username holding an email (any case), or undefined. */
  emailOwner(email: string): string | undefined {
    return this.store.emailOwner(email);
  }

  list(): UserRecord[] {
    return this.store.list();
  }

  async create(input: NewUser): Promise<UserRecord> {
    const username = normalizeName('username', input.username, MAX_USERNAME_BYTES);
    const tenant = normalizeName('tenant_name', input.tenant_name, MAX_TENANT_BYTES);
    validatePassword(input.password);
    validateEmail(input.email);
    validateScopes(input.scopes);
    if (this.options.passwordChecker) checkStrength(input.password, [username, input.email ?? '']);
    if (this.store.get(username)) throw badRequest(`username "${username.slice(0, 100)}" is taken`);
    // Before the hash: a taken email costs no argon2 (the store checks again in its transaction).
    if (input.email && this.store.emailOwner(input.email) !== undefined) throw emailTaken();
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
      // 0, as the original's tokens (no `tv`) count; the store starts a re-created name past its last one.
      token_version: 0,
      totp_last_step: 0,
      reset: null,
      failures: 0,
      locked_until: 0,
      recovery_codes: [],
      created_at: now,
      updated_at: now,
    };
    if (!(await this.store.create(user).catch(refuseTakenEmail)))
      throw badRequest(`username "${username.slice(0, 100)}" is taken`);
    return user;
  }

  async update(name: string, changes: UserChanges): Promise<UserRecord> {
    const { username } = this.get(name);
    const tenant =
      changes.tenant_name === undefined
        ? undefined
        : normalizeName('tenant_name', changes.tenant_name, MAX_TENANT_BYTES);
    if (changes.password !== undefined) validatePassword(changes.password);
    validateEmail(changes.email);
    validateScopes(changes.scopes);
    const holder = changes.email ? this.store.emailOwner(changes.email) : undefined;
    if (holder !== undefined && holder !== username) throw emailTaken();
    if (changes.password !== undefined && this.options.passwordChecker) checkStrength(changes.password, [username]);
    const hash = changes.password === undefined ? undefined : await hashPassword(changes.password);
    let tenantChanged = false;
    let twoFactorOn = false;
    const updated = await this.store
      .update(username, (user) => {
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
      })
      .catch(refuseTakenEmail);
    if (!updated) throw notFound(`no user named "${username.slice(0, 100)}"`);
    if (hash !== undefined) this.sessions.end(username, 'password changed');
    else if (twoFactorOn) this.sessions.end(username, 'two-factor enabled');
    else if (tenantChanged) this.sessions.end(username, 'tenant changed');
    return updated;
  }

  /** Deletes the user: the name is free again, and every token and stream of theirs ends. */
  async delete(name: string): Promise<void> {
    const { username } = this.get(name);
    if (!(await this.store.delete(username))) throw notFound(`no user named "${username.slice(0, 100)}"`);
    this.sessions.end(username, 'deleted');
  }

  async setRevoked(name: string, revoked: boolean): Promise<void> {
    const { username } = this.get(name);
    await this.store.update(username, (user) => {
      user.revoked = revoked;
      if (revoked) user.token_version++;
    });
    if (revoked) this.sessions.end(username, 'revoked');
  }
}
