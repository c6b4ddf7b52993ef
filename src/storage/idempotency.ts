// Idempotency-Key answers (TOPICS-API.md): per scope (a tenant, or the topics' log) and key, the hash of
// the first request's content and the id it was answered; kept 24 h so that a retry, also after a
// restart, gets the first answer and stores nothing. lmdb/idempotency.ts keeps them.

export interface IdempotentAnswer {
  /** sha256 of the request's content (base64url): a repeat with other content is refused. */
  hash: string;
  id: number;
  /** When it was first answered, ms since epoch. */
  at: number;
}

export interface IdempotencyStore {
  get(scope: string, key: string): IdempotentAnswer | undefined;
  /** Resolves once it is durable. */
  put(scope: string, key: string, answer: IdempotentAnswer): Promise<void>;
  /** Deletes at most `limit` answers older than `before` (bounded work per sweep). Returns how many. */
  sweep(before: number, limit: number): Promise<number>;
}
