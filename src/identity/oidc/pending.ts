// What a login in progress keeps on the server between its steps: single-use (taken, never read),
// short-lived and bounded in count, so that a flood of started logins costs a fixed amount of memory.
// Kept in memory: a restart forgets logins in flight, which then simply start again.
import { randomBytes } from 'node:crypto';
import { busy } from '../../errors.js';

export class PendingStore<T> {
  private readonly entries = new Map<string, { value: T; expiresAt: number }>();

  constructor(
    private readonly maxEntries: number,
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  /** Keeps `value` under a new random key (or a given one); 503 while full of unexpired entries. */
  put(value: T, key = randomBytes(32).toString('base64url')): string {
    if (this.entries.size >= this.maxEntries) this.sweep();
    if (this.entries.size >= this.maxEntries) throw busy('too many logins in progress: retry in a moment');
    this.entries.set(key, { value, expiresAt: this.now() + this.ttlMs });
    return key;
  }

  /** The value, removed: a key works once. Undefined when unknown or expired. */
  take(key: string): T | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    return entry.expiresAt > this.now() ? entry.value : undefined;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Map order is insertion order, so the expired entries are the first ones. */
  private sweep(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt > now) break;
      this.entries.delete(key);
    }
  }
}
