// Idempotency-Key answers in memory, beside memory/event-log.ts (which alone writes them, in its append).
// A Map keeps insertion order, and answers are inserted as their appends are stamped: the oldest come
// first, so a sweep reads from the front and stops at the first young one, as LMDB's age index does.
import type { IdempotencyClaim, IdempotencyStore, IdempotentAnswer } from '../idempotency.js';

export class MemoryIdempotencyStore implements IdempotencyStore {
  private readonly answers = new Map<string, IdempotentAnswer>();

  get(scope: string, key: string): IdempotentAnswer | undefined {
    return this.answers.get(slotOf(scope, key));
  }

  /** Stores an answer; for the log's append only (it is the event's commit). */
  put(claim: IdempotencyClaim, id: number, at: number): void {
    const slot = slotOf(claim.scope, claim.key);
    // Re-inserted at the end: a key answered again after it expired is as young as its new answer.
    this.answers.delete(slot);
    this.answers.set(slot, { hash: claim.hash, id, at });
  }

  async sweep(before: number, limit: number): Promise<number> {
    let deleted = 0;
    for (const [slot, answer] of this.answers) {
      if (deleted >= limit || answer.at >= before) break;
      this.answers.delete(slot);
      deleted++;
    }
    return deleted;
  }
}

/** One string per (scope, key): JSON keeps "a\nb"+"c" apart from "a"+"b\nc". */
const slotOf = (scope: string, key: string) => JSON.stringify([scope, key]);
