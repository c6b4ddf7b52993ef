// The UserStore in LMDB: the users tree, keyed by username.
import { changed, type UserChange, type UserRecord, type UserStore } from '../users.js';
import type { Database } from './database.js';
import { classified } from './errors.js';

/** lmdb-js refuses keys over 1978 bytes. */
const MAX_KEY_BYTES = 1978;
/** meta `deleted:<username>` → the deleted user's last token version (UserStore.create). */
const DELETED = 'deleted:';

export class LmdbUserStore implements UserStore {
  constructor(private readonly db: Database) {}

  get(username: string): UserRecord | undefined {
    // No stored username can be longer than LMDB's key limit; looking one up would throw.
    if (Buffer.byteLength(username) > MAX_KEY_BYTES) return undefined;
    return this.db.users.get(username);
  }

  async create(user: UserRecord): Promise<boolean> {
    return classified(() =>
      this.db.root.transaction(() => {
        if (this.db.users.doesExist(user.username)) return false;
        const tomb = this.db.meta.get(`${DELETED}${user.username}`);
        if (typeof tomb === 'number') {
          user.token_version = Math.max(user.token_version, tomb + 1);
          void this.db.meta.remove(`${DELETED}${user.username}`);
        }
        void this.db.users.put(user.username, user);
        return true;
      }),
    );
  }

  async update(username: string, change: UserChange): Promise<UserRecord | undefined> {
    return classified(() =>
      this.db.root.transaction(() => {
        const current = this.get(username);
        if (!current) return undefined;
        const next = changed(current, change);
        if (!next) return current;
        void this.db.users.put(username, next);
        return next;
      }),
    );
  }

  async delete(username: string): Promise<boolean> {
    if (Buffer.byteLength(username) > MAX_KEY_BYTES) return false;
    return classified(() =>
      this.db.root.transaction(() => {
        const user = this.db.users.get(username);
        if (!user) return false;
        void this.db.users.remove(username);
        void this.db.meta.put(`${DELETED}${username}`, user.token_version);
        return true;
      }),
    );
  }

  list(): UserRecord[] {
    return Array.from(this.db.users.getRange({}), ({ value }) => value);
  }
}
