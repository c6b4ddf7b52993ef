// The UserStore in memory, for the contract suite beside LMDB. Records are copied in and out, as LMDB
// decodes a new object on every read: a caller changing what it read changes nothing stored.
import { Signal } from '../../lib/signal.js';
import {
  changed,
  EmailTakenError,
  emailKey,
  type UserChange,
  type UserChangeEvent,
  type UserRecord,
  type UserStore,
} from '../users.js';

/** Usernames in the order LMDB keeps its string keys: by their UTF-8 bytes. */
const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

export class MemoryUserStore implements UserStore {
  readonly changes = new Signal<UserChangeEvent>();
  private readonly users = new Map<string, UserRecord>();
  private readonly deleted = new Map<string, number>();
  /** emailKey → username: the one email index. */
  private readonly emails = new Map<string, string>();

  get(username: string): UserRecord | undefined {
    const user = this.users.get(username);
    return user && structuredClone(user);
  }

  emailOwner(email: string): string | undefined {
    return this.emails.get(emailKey(email));
  }

  /** Checks first, then moves: a refused email changes nothing. */
  private moveEmail(username: string, previous: string | null, next: string | null): void {
    const from = previous === null ? undefined : emailKey(previous);
    const to = next === null ? undefined : emailKey(next);
    if (from === to) return;
    if (to !== undefined) {
      const owner = this.emails.get(to);
      if (owner !== undefined && owner !== username) throw new EmailTakenError();
      this.emails.set(to, username);
    }
    if (from !== undefined && this.emails.get(from) === username) this.emails.delete(from);
  }

  async create(user: UserRecord): Promise<boolean> {
    if (this.users.has(user.username)) return false;
    this.moveEmail(user.username, null, user.email);
    const tomb = this.deleted.get(user.username);
    if (tomb !== undefined) user.token_version = Math.max(user.token_version, tomb + 1);
    this.deleted.delete(user.username);
    this.users.set(user.username, structuredClone(user));
    this.changes.emit({ username: user.username, before: undefined, after: structuredClone(user) });
    return true;
  }

  async update(username: string, change: UserChange): Promise<UserRecord | undefined> {
    // Read, change and write in one synchronous step: no other update can come in between.
    const current = this.get(username);
    if (!current) return undefined;
    const next = changed(current, change);
    if (!next) return current;
    this.moveEmail(username, current.email, next.email);
    this.users.set(username, structuredClone(next));
    this.changes.emit({ username, before: current, after: structuredClone(next) });
    return next;
  }

  async delete(username: string): Promise<boolean> {
    const user = this.users.get(username);
    if (!user) return false;
    this.deleted.set(username, user.token_version);
    this.moveEmail(username, user.email, null);
    this.users.delete(username);
    this.changes.emit({ username, before: user, after: undefined });
    return true;
  }

  list(): UserRecord[] {
    return [...this.users.keys()].sort(byBytes).map((name) => structuredClone(this.users.get(name)!));
  }
}
