// Per-account backoff after failed logins: every 3rd failure in a row locks the account, for 1 minute
// the first time and 3 times longer each time after (3, 9, 27 minutes), never more than 60 minutes.
// A successful login resets the count (login.ts).

export interface LockState {
  failures: number;
  locked_until: number;
}

export const FAILURES_PER_LOCK = 3;
const FIRST_LOCK_MS = 60_000;
const MAX_LOCK_MS = 60 * 60_000;

export function lockDurationMs(failures: number): number {
  if (failures < FAILURES_PER_LOCK || failures % FAILURES_PER_LOCK !== 0) return 0;
  const locks = failures / FAILURES_PER_LOCK;
  return Math.min(MAX_LOCK_MS, FIRST_LOCK_MS * 3 ** (locks - 1));
}

export function lockAfterFailure(state: LockState, nowMs: number): LockState {
  const failures = state.failures + 1;
  const duration = lockDurationMs(failures);
  return { failures, locked_until: duration > 0 ? nowMs + duration : state.locked_until };
}
