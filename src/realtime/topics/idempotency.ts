// Idempotency-Key on /broadcast and /insert (TOPICS-API.md): a repeat within 24 h answers the first id
// and stores nothing, across restarts (the store is durable); other content under the same key → 409.
// Concurrent requests with one key wait for the first one instead of racing it to the log. The answer is
// stored by the log's append, in the event's commit: no crash can keep the event and lose its answer.
import { BrokerError, badRequest } from '../../errors.js';
import { sha256 } from '../../lib/digest.js';
import type { IdempotencyClaim, IdempotencyStore } from '../../storage/idempotency.js';

export const IDEMPOTENCY_WINDOW_MS = 24 * 3600 * 1000;
/** Answers deleted per sweep: bounded work, run often enough to keep up. */
const SWEEP_LIMIT = 1000;
const KEY = /^[\x21-\x7e](?:[\x20-\x7e]{0,126}[\x21-\x7e])?$/;

/** The header's key, undefined when absent; 400 unless 1–128 printable ASCII characters. */
export function idempotencyKey(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const value = Array.isArray(header) ? header[0] : header;
  if (!KEY.test(value)) throw badRequest('Idempotency-Key must be 1 to 128 printable characters');
  return value;
}

export class Idempotency {
  private readonly inFlight = new Map<string, Promise<number>>();

  constructor(
    private readonly store: IdempotencyStore,
    private readonly now: () => number,
  ) {}

  /**
   * Runs `append` once per (scope, key) in the window: a repeat with the same content gets the first id,
   * one with other content 409. `content` is what makes two requests the same (not the token). `append`
   * passes the claim to EventLog.append, which stores the answer with the event.
   */
  async once(
    scope: string,
    key: string,
    content: string,
    append: (claim: IdempotencyClaim) => Promise<number>,
  ): Promise<number> {
    const hash = sha256(content).toString('base64url');
    const slot = `${scope}\n${key}`;
    for (;;) {
      const pending = this.inFlight.get(slot);
      if (!pending) break;
      await pending.catch(() => {});
    }
    const kept = this.store.get(scope, key);
    if (kept && kept.at > this.now() - IDEMPOTENCY_WINDOW_MS) {
      if (kept.hash !== hash) throw new BrokerError(409, 'CONFLICT', 'Idempotency-Key was used with other content');
      return kept.id;
    }
    const run = append({ scope, key, hash });
    this.inFlight.set(slot, run);
    try {
      return await run;
    } finally {
      this.inFlight.delete(slot);
    }
  }

  /** Deletes answers older than the window, at most SWEEP_LIMIT of them. */
  sweep(): Promise<number> {
    return this.store.sweep(this.now() - IDEMPOTENCY_WINDOW_MS, SWEEP_LIMIT);
  }
}
