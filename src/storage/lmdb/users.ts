// The UserStore in LMDB: the users tree, keyed by username, and the one email index (app_emails: emailKey →
// username; named when it held only the emails of users made through an app), kept in each write's
// transaction so that two users never hold one email.
import { changed, EmailTakenError, emailKey, type UserChange, type UserRecord, type UserStore } from '../users.js';
import type { Database } from './database.js';
import { Signal } from '../../lib/signal.js';
import type { UserChangeEvent } from '../users.js';
import { isStorageFull } from '../errors.js';
import { classified, toStorageError } from './errors.js';

/** lmdb-js refuses keys over 1978 bytes. */
const MAX_KEY_BYTES = 1978;
/** meta `deleted:<username>` → the deleted user's last token version (UserStore.create). */
const DELETED = 'deleted:';
/** meta flag: every user's email is in the index (databases made before it get one pass at open). */
const EMAILS_INDEXED = 'emails_indexed';

export class LmdbUserStore implements UserStore {
  readonly changes = new Signal<UserChangeEvent>();

  constructor(private readonly db: Database) {
    if (db.meta.get(EMAILS_INDEXED) !== true) {
      try {
        this.indexEmails();
      } catch (err) {
        // A full database still starts (its logins work); the pass runs again at the next open.
        if (!isStorageFull(toStorageError(err))) throw err;
      }
    }
  }

  emailOwner(email: string): string | undefined {
    const key = emailKey(email);
    if (Buffer.byteLength(key) > MAX_KEY_BYTES) return undefined;
    const owner = this.db.app_emails.get(key);
    // An entry whose user no longer has the email (a write by an older broker) holds nothing.
    const user = owner === undefined ? undefined : this.db.users.get(owner);
    return user?.email != null && emailKey(user.email) === key ? owner : undefined;
  }

  /** Inside a write's transaction: `username` takes `next`'s email and lets go of `previous`'s. */
  private moveEmail(username: string, previous: string | null, next: string | null): void {
    const from = previous === null ? undefined : emailKey(previous);
    const to = next === null ? undefined : emailKey(next);
    if (from === to) return;
    if (to !== undefined) {
      const owner = this.emailOwner(to);
      if (owner !== undefined && owner !== username) throw new EmailTakenError();
      void this.db.app_emails.put(to, username);
    }
    if (from !== undefined && this.db.app_emails.get(from) === username) void this.db.app_emails.remove(from);
  }

  /**
   * One pass over the users of a database made before the index: each email goes to its first holder by
   * username order (two users sharing one from before keep it; the second is not in the index).
   */
  private indexEmails(): void {
    this.db.root.transactionSync(() => {
      for (const { key, value } of this.db.users.getRange({})) {
        if (value.email === null || this.emailOwner(value.email) !== undefined) continue;
        void this.db.app_emails.put(emailKey(value.email), key);
      }
      void this.db.meta.put(EMAILS_INDEXED, true);
    });
  }

  get(username: string): UserRecord | undefined {
    // No stored username can be longer than LMDB's key limit; looking one up would throw.
    if (Buffer.byteLength(username) > MAX_KEY_BYTES) return undefined;
    return this.db.users.get(username);
  }

  async create(user: UserRecord): Promise<boolean> {
    const created = await classified(() =>
      this.db.root.transaction(() => {
        if (this.db.users.doesExist(user.username)) return false;
        this.moveEmail(user.username, null, user.email);
        const tomb = this.db.meta.get(`${DELETED}${user.username}`);
        if (typeof tomb === 'number') {
          user.token_version = Math.max(user.token_version, tomb + 1);
          void this.db.meta.remove(`${DELETED}${user.username}`);
        }
        void this.db.users.put(user.username, user);
        return true;
      }),
    );
    if (created) this.changes.emit({ username: user.username, before: undefined, after: structuredClone(user) });
    return created;
  }

  async update(username: string, change: UserChange): Promise<UserRecord | undefined> {
    let before: UserRecord | undefined;
    const result = await classified(() =>
      this.db.root.transaction(() => {
        const current = this.get(username);
        if (!current) return undefined;
        const next = changed(current, change);
        if (!next) return current;
        this.moveEmail(username, current.email, next.email);
        void this.db.users.put(username, next);
        before = current;
        return next;
      }),
    );
    if (before && result) this.changes.emit({ username, before, after: structuredClone(result) });
    return result;
  }

  async delete(username: string): Promise<boolean> {
    if (Buffer.byteLength(username) > MAX_KEY_BYTES) return false;
    let before: UserRecord | undefined;
    const deleted = await classified(() =>
      this.db.root.transaction(() => {
        const user = this.db.users.get(username);
        if (!user) return false;
        void this.db.users.remove(username);
        this.moveEmail(username, user.email, null);
        void this.db.meta.put(`${DELETED}${username}`, user.token_version);
        before = user;
        return true;
      }),
    );
    if (before) this.changes.emit({ username, before, after: undefined });
    return deleted;
  }

  /**
   * The cluster's apply of a conditional put (storage/cluster/apply.ts), inside the caller's transaction:
   * the record computed by the writer, as it is (no clock here); throws EmailTakenError, writing nothing.
   */
  applyPut(username: string, current: UserRecord, next: UserRecord): void {
    this.moveEmail(username, current.email, next.email);
    void this.db.users.put(username, next);
  }

  list(): UserRecord[] {
    return Array.from(this.db.users.getRange({}), ({ value }) => value);
  }
}
