// The UserStore in memory, for the contract suite beside LMDB. Records are copied in and out, as LMDB
// decodes a new object on every read: a caller changing what it read changes nothing stored.
import { changed, type UserChange, type UserRecord, type UserStore } from '../users.js';

/** Usernames in the order LMDB keeps its string keys: by their UTF-8 bytes. */
const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

export class MemoryUserStore implements UserStore {
  private readonly users = new Map<string, UserRecord>();
  private readonly deleted = new Map<string, number>();

  get(username: string): UserRecord | undefined {
    const user = this.users.get(username);
    return user && structuredClone(user);
  }

  async create(user: UserRecord): Promise<boolean> {
    if (this.users.has(user.username)) return false;
    const tomb = this.deleted.get(user.username);
    if (tomb !== undefined) user.token_version = Math.max(user.token_version, tomb + 1);
    this.deleted.delete(user.username);
    this.users.set(user.username, structuredClone(user));
    return true;
  }

  async update(username: string, change: UserChange): Promise<UserRecord | undefined> {
    // Read, change and write in one synchronous step: no other update can come in between.
    const current = this.get(username);
    if (!current) return undefined;
    const next = changed(current, change);
    if (!next) return current;
    this.users.set(username, structuredClone(next));
    return next;
  }

  async delete(username: string): Promise<boolean> {
    const user = this.users.get(username);
    if (!user) return false;
    this.deleted.set(username, user.token_version);
    return this.users.delete(username);
  }

  list(): UserRecord[] {
    return [...this.users.keys()].sort(byBytes).map((name) => structuredClone(this.users.get(name)!));
  }
}
