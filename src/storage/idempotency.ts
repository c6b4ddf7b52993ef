// Idempotency-Key answers (TOPICS-API.md): per scope (a tenant, or the topics' log) and key, the hash of
// the first request's content and the id it was answered; kept 24 h so that a retry, also after a
// restart, gets the first answer and stores nothing. An answer is written by EventLog.append in the
// event's own commit (a crash between two commits would let the retry append the event twice), so each
// engine's log owns its store: lmdb/idempotency.ts, memory/idempotency.ts.

/** How long an answer stands (realtime/topics/idempotency.ts answers repeats within it). */
export const ANSWER_WINDOW_MS = 24 * 3600 * 1000;

/** What append stores beside its event: the answer's key and the request's content hash. */
export interface IdempotencyClaim {
  scope: string;
  key: string;
  hash: string;
}

export interface IdempotentAnswer {
  /** sha256 of the request's content (base64url): a repeat with other content is refused. */
  hash: string;
  id: number;
  /** When it was first answered, ms since epoch. */
  at: number;
}

export interface IdempotencyStore {
  get(scope: string, key: string): IdempotentAnswer | undefined;
  /** Deletes at most `limit` answers older than `before` (bounded work per sweep). Returns how many. */
  sweep(before: number, limit: number): Promise<number>;
}
