// UserStore: users keyed by username (the index every lookup uses; no scans except list_users), the seam
// every storage engine implements (lmdb/users.ts, memory/users.ts; test/storage/users.contract.ts).
import type { Signal } from '../lib/signal.js';

export interface ResetCode {
  hash: string;
  expires_at: number;
  attempts: number;
}

export interface UserRecord {
  id: string;
  username: string;
  /** argon2id encoded hash; never leaves the server. */
  password: string;
  /** base32 TOTP secret; never leaves the server. */
  totp: string;
  revoked: boolean;
  tenant_name: string;
  email: string | null;
  scopes: string[] | null;
  data: unknown;
  two_factor: boolean | null;
  /** Bumped by a password change or a revoke: tokens carrying an older version are refused. */
  token_version: number;
  /** The last TOTP time step accepted at login, so that a code works once. */
  totp_last_step: number;
  reset: ResetCode | null;
  /** Failed logins in a row and the lock they caused (ms since epoch). */
  failures: number;
  locked_until: number;
  /** sha256 hashes of unused two-factor recovery codes. */
  recovery_codes: string[];
  created_at: number;
  updated_at: number;
}

/** What list_users/get_user return: the contract's fields, secrets masked. */
export type PublicUser = Pick<
  UserRecord,
  'id' | 'username' | 'revoked' | 'tenant_name' | 'email' | 'scopes' | 'data' | 'two_factor'
> & {
  password: '***';
  totp: '***';
};

export function toPublicUser(u: UserRecord): PublicUser {
  return {
    id: u.id,
    username: u.username,
    password: '***',
    totp: '***',
    revoked: u.revoked,
    tenant_name: u.tenant_name,
    email: u.email,
    scopes: u.scopes,
    data: u.data ?? null,
    two_factor: u.two_factor,
  };
}

/** The form an email is unique in: trimmed, lower-cased. */
export const emailKey = (email: string) => email.trim().toLowerCase();

/** A create or update refused because another user holds the email (emailKey): nothing was written. */
export class EmailTakenError extends Error {
  override readonly name = 'EmailTakenError';
  constructor() {
    super('email is taken');
  }
}

/** A user as it was and is after one committed write (undefined: none then / deleted). */
export interface UserChangeEvent {
  username: string;
  before: UserRecord | undefined;
  after: UserRecord | undefined;
}

export interface UserStore {
  /**
   * Every committed create, update and delete, once durable: in a cluster on every node, as it applies
   * the write of any node (identity/sessions.ts ends sessions from it).
   */
  readonly changes: Signal<UserChangeEvent>;
  /** Synchronous: a local read (README.md says why). */
  get(username: string): UserRecord | undefined;
  /** The username holding an email (any case, trimmed), from the one email index: no scan. */
  emailOwner(email: string): string | undefined;
  /**
   * false when the username is taken; throws EmailTakenError when another user holds the email. A name
   * that was deleted gets a token version past its last one, so that no token of the deleted user fits
   * the new account.
   */
  create(user: UserRecord): Promise<boolean>;
  /**
   * Read-modify-write in one transaction; undefined when there is no such user. A change that returns
   * false writes nothing (a check that refused) and the update answers the record as it is. A change to
   * an email another user holds throws EmailTakenError and writes nothing. The change may run more than
   * once (a cluster node runs it again on the fresh record after a concurrent write), and only its last
   * run counts: a flag it sets for the caller must be set on every run, not only on one path.
   */
  update(username: string, change: UserChange): Promise<UserRecord | undefined>;
  list(): UserRecord[];
  /** Removes the user (the name and email are free again, its last token version remembered); false when none. */
  delete(username: string): Promise<boolean>;
}

/** What an update does to a user: mutates the copy it is given, returns a replacement, or refuses (false). */
// biome-ignore lint/suspicious/noConfusingVoidType: a change that mutates in place returns nothing
export type UserChange = (user: UserRecord) => UserRecord | void | false;

/** The record an update writes (stamped updated_at), or undefined when the change refused. */
export function changed(current: UserRecord, change: UserChange): UserRecord | undefined {
  const copy = structuredClone(current);
  const result = change(copy);
  if (result === false) return undefined;
  const next = result ?? copy;
  next.updated_at = Date.now();
  return next;
}
