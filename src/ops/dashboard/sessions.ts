// The dashboard's sign-in sessions: the admin token is exchanged for a random id held here (in memory,
// per node: a restart or another cluster node asks to sign in again). The browser keeps only the id, in
// an HttpOnly cookie; the map holds its sha256, so a heap dump or timing on the lookup shows no live id.
import { randomBytes } from 'node:crypto';
import { sha256Hex } from '../../lib/digest.js';
import { Signal } from '../../lib/signal.js';

export interface DashboardSessionOptions {
  /** How long a session lives from sign-in (ms). */
  ttlMs: number;
  /** Sessions held at once; a new sign-in past it ends the oldest. */
  max: number;
  now: () => number;
}

export const SESSION_DEFAULTS = { ttlMs: 8 * 3600_000, max: 32 } as const;

/** A cookie value we issued is 43 base64url characters: anything else is not looked up at all. */
const ID_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export class DashboardSessions {
  /** sha256(id) → expiry in ms; a Map keeps insertion order, so the first entry is the oldest. */
  private readonly live = new Map<string, number>();

  /** A session's key (the sha256 of its id) when it ends early: sign-out, or pushed out by a newer one. */
  readonly ended = new Signal<string>();

  constructor(private readonly options: DashboardSessionOptions) {}

  get size(): number {
    return this.live.size;
  }

  /** A new session: its id (for the cookie) and when it expires. */
  open(): { id: string; expiresAt: number } {
    this.sweep();
    while (this.live.size >= this.options.max) {
      const oldest = this.live.keys().next().value as string;
      this.live.delete(oldest);
      this.ended.emit(oldest);
    }
    const id = randomBytes(32).toString('base64url');
    const expiresAt = this.options.now() + this.options.ttlMs;
    this.live.set(sha256Hex(id), expiresAt);
    return { id, expiresAt };
  }

  isValid(id: string | undefined): boolean {
    return this.check(id) !== undefined;
  }

  /** The live session of this id: its key and expiry, or undefined (unknown, ended or expired). */
  check(id: string | undefined): { key: string; expiresAt: number } | undefined {
    if (id === undefined || !ID_PATTERN.test(id)) return undefined;
    const key = sha256Hex(id);
    const expiresAt = this.live.get(key);
    if (expiresAt === undefined) return undefined;
    if (expiresAt <= this.options.now()) {
      this.live.delete(key);
      return undefined;
    }
    return { key, expiresAt };
  }

  close(id: string | undefined): void {
    if (id === undefined || !ID_PATTERN.test(id)) return;
    const key = sha256Hex(id);
    if (this.live.delete(key)) this.ended.emit(key);
  }

  private sweep(): void {
    const now = this.options.now();
    for (const [key, expiresAt] of this.live) if (expiresAt <= now) this.live.delete(key);
  }
}
