// The EventLog in LMDB (trees.ts has the layout):
//   events  [tenant, id]    -> {e: event name, d: data as compact JSON, t: timestamp ms}
//   latest  [tenant, name]  -> id of that name's latest event
//   meta    pruned:<tenant> -> the highest id retention has deleted (resume before it → reset)
//   meta    bytes:<tenant>  -> the bytes the tenant's events hold (tenant-usage.ts), in the same commit
//   idempotency, idempotency_age -> the append's Idempotency-Key answer (idempotency.ts), in the same commit
// Array keys compare element by element, so tenant "a" never sees the keys of tenant "ab".
import { CommittedBatches } from '../committed-batches.js';
import type {
  AppendOptions,
  EventLog,
  EventRecord,
  RetentionPolicy,
  ScanPage,
  ScanQuery,
  TenantUsage,
} from '../event-log.js';
import type { Database } from './database.js';
import { classified, toStorageError } from './errors.js';
import { LmdbIdempotencyStore, putAnswer } from './idempotency.js';
import { TenantUsageBook, type UsageClaim } from './tenant-usage.js';
import type { IdempotencyClaim } from '../idempotency.js';
import { countCutoffOf, doomedBy, emptyPage, MAX_ID, pageOf, scanRange, takeMany, type StoredEvent } from '../pages.js';

export class LmdbEventLog implements EventLog {
  private readonly counters = new Map<string, number>();
  private readonly book: TenantUsageBook;
  private readonly batches = new CommittedBatches();
  readonly committed = this.batches.committed;
  readonly epoch: string;
  readonly idempotency: LmdbIdempotencyStore;

  constructor(
    private readonly db: Database,
    private readonly now: () => number = Date.now,
  ) {
    this.book = new TenantUsageBook(db);
    this.epoch = db.epoch;
    this.idempotency = new LmdbIdempotencyStore(db);
  }

  lastId(tenant: string): number {
    let last = this.counters.get(tenant);
    if (last === undefined) {
      last = this.committedId(tenant);
      this.counters.set(tenant, last);
    }
    return last;
  }

  committedId(tenant: string): number {
    let last = 0;
    for (const { key } of this.db.events.getRange({
      start: [tenant, MAX_ID],
      end: [tenant, 0],
      reverse: true,
      limit: 1,
    }))
      last = key[1];
    return Math.max(last, this.prunedThrough(tenant));
  }

  usage(tenant: string): TenantUsage {
    return { bytes: this.book.bytesOf(tenant), names: this.book.namesOf(tenant) };
  }

  isNewName(tenant: string, event: string): boolean {
    return this.book.isNewName(tenant, event);
  }

  async append(tenant: string, event: string, data: string, options?: AppendOptions): Promise<EventRecord> {
    const next = this.lastId(tenant) + 1;
    const original = options?.original;
    if (original && !(Number.isSafeInteger(original.id) && original.id >= next))
      throw new RangeError(`an event copied with id ${original.id} into tenant ${tenant}, whose next id is ${next}`);
    const id = original?.id ?? next;
    this.counters.set(tenant, id);
    const record: EventRecord = { tenant, id, event, data, timestamp: original?.timestamp ?? this.now() };
    const claim = this.book.claim(tenant, event, data);
    // Every put is issued in the same turn, so lmdb commits them in one transaction (the byte count
    // with the event it counts, the Idempotency-Key answer with the event it answers: a crash keeps
    // both or neither); puts from concurrent inserts share that commit (and its fsync) too.
    const stored: StoredEvent = { e: event, d: data, t: record.timestamp };
    let failed = true;
    try {
      const puts = [
        this.db.events.put([tenant, id], stored),
        this.db.latest.put([tenant, event], id),
        this.db.meta.put(`bytes:${tenant}`, claim.total),
      ];
      // Ids skipped by a copy were pruned in the database it came from: a resume from before them resets.
      if (id > next) puts.push(this.db.meta.put(`pruned:${tenant}`, id - 1));
      if (options?.idempotency) puts.push(...putAnswer(this.db, options.idempotency, id, record.timestamp));
      await Promise.all(puts);
      failed = false;
    } catch (err) {
      // Inline rather than classified(): the insert path is the hot one.
      throw toStorageError(err);
    } finally {
      this.book.settle(claim, failed);
    }
    this.batches.add(record);
    return record;
  }

  latestIds(tenant: string, names?: ReadonlySet<string>): number[] {
    const ids: number[] = [];
    if (names) {
      for (const name of names) {
        const id = this.db.latest.get([tenant, name]);
        if (id !== undefined) ids.push(id);
      }
    } else {
      for (const { key, value: id } of this.db.latest.getRange({ start: [tenant, ''] })) {
        if (key[0] !== tenant) break;
        ids.push(id);
      }
    }
    return ids.sort((a, b) => a - b);
  }

  getMany(tenant: string, ids: readonly number[], maxBytes: number): { records: EventRecord[]; taken: number } {
    return takeMany(tenant, ids, maxBytes, (id) => this.db.events.get([tenant, id]));
  }

  scan(tenant: string, q: ScanQuery): ScanPage {
    const range = scanRange(q);
    if (!range) return emptyPage();
    const { after, before } = range;
    const entries = q.desc
      ? this.db.events.getRange({ start: [tenant, before - 1], end: [tenant, after], reverse: true })
      : this.db.events.getRange({ start: [tenant, after + 1], end: [tenant, before] });
    return pageOf(tenant, entries, q);
  }

  prunedThrough(tenant: string): number {
    const v = this.db.meta.get(`pruned:${tenant}`);
    return typeof v === 'number' ? v : 0;
  }

  private allTenants(): string[] {
    const tenants: string[] = [];
    let last: string | undefined;
    for (const { key } of this.db.latest.getRange({})) {
      if (key[0] !== last) tenants.push((last = key[0]));
    }
    return tenants;
  }

  tenants(after: string | undefined, limit: number): string[] {
    const tenants: string[] = [];
    // One key read per tenant: [t + NUL] sorts after every [t, name] and before the next tenant's keys.
    let from = after;
    while (tenants.length < limit) {
      const [key] = this.db.latest.getKeys(from === undefined ? { limit: 1 } : { start: [`${from}\u0000`], limit: 1 });
      if (!key) break;
      tenants.push((from = key[0]));
    }
    return tenants;
  }

  /**
   * In one transaction (the cluster's apply runs it inside its own, with the applied sequence).
   */
  async prune(policy: RetentionPolicy, nowMs: number): Promise<number> {
    if (policy.maxAgeMs <= 0 && policy.maxEvents <= 0) return 0;
    return classified(() =>
      this.db.root.transaction(() => {
        let deleted = 0;
        for (const tenant of this.allTenants()) {
          const keep = new Set(this.latestIds(tenant));
          const log = this.db.events.getRange({ start: [tenant, 0], end: [tenant, MAX_ID] });
          const cutoff = countCutoffOf(policy, this.lastId(tenant));
          const doomed = doomedBy(policy, nowMs, cutoff, keep, log);
          if (doomed.ids.length === 0) continue;
          let highest = this.prunedThrough(tenant);
          for (const id of doomed.ids) {
            void this.db.events.remove([tenant, id]);
            highest = Math.max(highest, id);
          }
          const total = this.book.freed(tenant, doomed.bytes);
          void this.db.meta.put(`pruned:${tenant}`, highest);
          void this.db.meta.put(`bytes:${tenant}`, total);
          deleted += doomed.ids.length;
        }
        return deleted;
      }),
    );
  }

  /**
   * The cluster's apply path (storage/cluster/apply.ts): an event whose id and timestamp the replicated log
   * gave, written inside the caller's transaction. `settleApplied` once that commit is over announces it.
   */
  applyAppend(record: EventRecord, idempotency: IdempotencyClaim | undefined): UsageClaim {
    const { tenant, id, event, data, timestamp } = record;
    if (id > this.lastId(tenant) + 1) void this.db.meta.put(`pruned:${tenant}`, id - 1);
    this.counters.set(tenant, Math.max(id, this.lastId(tenant)));
    const claim = this.book.claim(tenant, event, data);
    void this.db.events.put([tenant, id], { e: event, d: data, t: timestamp });
    void this.db.latest.put([tenant, event], id);
    void this.db.meta.put(`bytes:${tenant}`, claim.total);
    if (idempotency) putAnswer(this.db, idempotency, id, timestamp);
    return claim;
  }

  settleApplied(record: EventRecord, claim: UsageClaim, failed: boolean): void {
    this.book.settle(claim, failed);
    if (!failed) this.batches.add(record);
    // Not written (a full disk): the tenant's next id is read again from what is stored, so the apply of
    // this message again gives it the same id as on every other node.
    else this.counters.delete(record.tenant);
  }
}
