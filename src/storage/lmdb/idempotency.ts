// Idempotency-Key answers in LMDB: `idempotency` [scope, key] -> {h, i, t}, and `idempotency_age`
// [t, scope, key] -> true so that a sweep reads the oldest first and stops at the first young one.
// Answers are written only by event-log.ts's append, with putAnswer, in the same turn as the event.
import type { IdempotencyClaim, IdempotencyStore, IdempotentAnswer } from '../idempotency.js';
import type { Database } from './database.js';
import { classified } from './errors.js';

export class LmdbIdempotencyStore implements IdempotencyStore {
  constructor(private readonly db: Database) {}

  get(scope: string, key: string): IdempotentAnswer | undefined {
    const v = this.db.idempotency.get([scope, key]);
    return v ? { hash: v.h, id: v.i, at: v.t } : undefined;
  }

  async sweep(before: number, limit: number): Promise<number> {
    const { idempotency, idempotency_age } = this.db;
    const old: [number, string, string][] = [];
    for (const { key } of idempotency_age.getRange({ end: [before], limit })) old.push(key as [number, string, string]);
    if (old.length === 0) return 0;
    await classified(
      idempotency.transaction(() => {
        for (const [at, scope, key] of old) {
          idempotency_age.remove([at, scope, key]);
          // A later put of the same key (after an earlier sweep) keeps its own, younger entry.
          if (idempotency.get([scope, key])?.t === at) idempotency.remove([scope, key]);
        }
      }),
    );
    return old.length;
  }
}

/**
 * Issues an answer's puts: called in the turn that issues its event's puts, so that lmdb commits them in
 * that one transaction.
 */
export function putAnswer(db: Database, claim: IdempotencyClaim, id: number, at: number): Promise<boolean>[] {
  const { scope, key, hash } = claim;
  return [db.idempotency.put([scope, key], { h: hash, i: id, t: at }), db.idempotency_age.put([at, scope, key], true)];
}
