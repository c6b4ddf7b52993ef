// The UserStore in memory, for the contract suite beside LMDB. Records are copied in and out, as LMDB
// decodes a new object on every read: a caller changing what it read changes nothing stored.
import type { UserRecord, UserStore } from '../users.js';

/** Usernames in the order LMDB keeps its string keys: by their UTF-8 bytes. */
const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

export class MemoryUserStore implements UserStore {
  private readonly users = new Map<string, UserRecord>();

  get(username: string): UserRecord | undefined {
    const user = this.users.get(username);
    return user && structuredClone(user);
  }

  async create(user: UserRecord): Promise<boolean> {
    if (this.users.has(user.username)) return false;
    this.users.set(user.username, structuredClone(user));
    return true;
  }

  async update(
    username: string,
    // biome-ignore lint/suspicious/noConfusingVoidType: a change that mutates in place returns nothing
    change: (user: UserRecord) => UserRecord | void | false,
  ): Promise<UserRecord | undefined> {
    // Read, change and write in one synchronous step: no other update can come in between.
    const current = this.get(username);
    if (!current) return undefined;
    const copy = structuredClone(current);
    const changed = change(copy);
    if (changed === false) return current;
    const next = changed ?? copy;
    next.updated_at = Date.now();
    this.users.set(username, structuredClone(next));
    return next;
  }

  list(): UserRecord[] {
    return [...this.users.keys()].sort(byBytes).map((name) => structuredClone(this.users.get(name)!));
  }
}
