// Reconnection delays: exponential growth so a broker that is down is not hammered, "equal jitter" so
// that thousands of clients cut by the same restart do not all come back in the same millisecond, and a
// floor of half the delay so a client never reconnects in a tight loop.

export interface BackoffOptions {
  /** The first delay in ms. Default: the server's `retry:` value, else 1000. */
  initialDelayMs?: number;
  /** The largest delay in ms. Default 30000. */
  maxDelayMs?: number;
  /** Growth per consecutive failure. Default 2. */
  factor?: number;
}

export const DEFAULT_INITIAL_DELAY_MS = 1000;
export const DEFAULT_MAX_DELAY_MS = 30_000;
export const DEFAULT_FACTOR = 2;

/**
 * The delay before reconnection attempt number `attempt` (0 = first after a drop), in
 * [cap/2, cap] where cap = min(max, initial * factor^attempt).
 */
export function backoffDelay(
  attempt: number,
  initialDelayMs: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const max = options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
  const factor = options.factor ?? DEFAULT_FACTOR;
  const cap = Math.min(max, initialDelayMs * factor ** Math.min(attempt, 64));
  return Math.round(cap / 2 + random() * (cap / 2));
}
