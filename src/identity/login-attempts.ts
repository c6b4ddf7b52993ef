// Counting failed logins (JSON login and Basic alike) toward the per-account lock (lockout.ts), and the
// turn each password check waits for (attempt-gate.ts).
import { isStorageFull } from '../storage/errors.js';
import type { UserRecord, UserStore } from '../storage/users.js';
import { AttemptGate } from './attempt-gate.js';
import { lockAfterFailure, lockDurationMs, type LockState } from './lockout.js';

/** Names whose failures are kept in memory (bounded: names are at most 512 bytes). */
const MAX_REMEMBERED = 50_000;
const CLEAN: LockState = { failures: 0, locked_until: 0 };

export class LoginAttempts {
  /**
   * Failures kept in memory: those of usernames that do not exist, so that they lock exactly like real
   * accounts and an attacker cannot tell them apart, and those of real accounts whose record could not
   * be written (a full database), so that guesses stay counted while a right password, which needs no
   * write, still logs in. Bounded: expired entries go first (remember).
   */
  private readonly memory = new Map<string, LockState>();
  private readonly gate: AttemptGate;
  /** Locks set so far, on every path that counts failures (the metrics read it when scraped). */
  locks = 0;

  constructor(
    private readonly users: UserStore,
    private readonly now: () => number,
  ) {
    this.gate = new AttemptGate(now);
  }

  /** The stricter of the stored and the remembered state. */
  state(username: string, user: UserRecord | undefined): LockState {
    const remembered = this.memory.get(username);
    if (!user) return remembered ?? CLEAN;
    return remembered && remembered.failures > user.failures ? remembered : user;
  }

  /** Waits for a turn to check this account's password; 429 while it is locked. */
  enter(username: string): Promise<() => void> {
    return this.gate.enter(username, () => this.state(username, this.users.get(username)));
  }

  /** Whether a successful login has a failure count or a lock to clear (a write). */
  needsClearing(username: string, user: UserRecord): boolean {
    return user.failures > 0 || user.locked_until > 0 || this.memory.has(username);
  }

  succeeded(username: string): void {
    this.memory.delete(username);
  }

  async failed(username: string, user: UserRecord | undefined): Promise<void> {
    const now = this.now();
    if (user) {
      try {
        let next: LockState | undefined;
        await this.users.update(username, (u) => {
          next = lockAfterFailure(this.state(username, u), now);
          Object.assign(u, next);
        });
        if (next && lockDurationMs(next.failures) > 0) this.locks++;
        return;
      } catch (err) {
        if (!isStorageFull(err)) throw err;
        // Not written: counted here instead, so that a full database gives no unlimited guesses.
      }
    }
    const next = lockAfterFailure(this.state(username, user && this.users.get(username)), now);
    if (lockDurationMs(next.failures) > 0) this.locks++;
    this.remember(username, next);
  }

  private remember(username: string, state: LockState): void {
    this.memory.delete(username);
    this.memory.set(username, state);
    if (this.memory.size <= MAX_REMEMBERED) return;
    // Evict the oldest entry whose lock has expired: evicting a live lock would let an attacker tell an
    // unknown name (lock forgotten) from a real account (lock kept) by flooding other names.
    const now = this.now();
    let scanned = 0;
    for (const [name, entry] of this.memory) {
      if (entry.locked_until <= now) {
        this.memory.delete(name);
        return;
      }
      if (++scanned > 1000) break;
    }
    this.memory.delete(this.memory.keys().next().value as string);
  }
}
