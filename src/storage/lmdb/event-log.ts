// The EventLog in LMDB (trees.ts has the layout):
//   events  [tenant, id]    -> {e: event name, d: data as compact JSON, t: timestamp ms}
//   latest  [tenant, name]  -> id of that name's latest event
//   meta    pruned:<tenant> -> the highest id retention has deleted (resume before it → reset)
//   meta    bytes:<tenant>  -> the bytes the tenant's events hold (tenant-usage.ts), in the same commit
// Array keys compare element by element, so tenant "a" never sees the keys of tenant "ab".
import { Signal } from '../../lib/signal.js';
import {
  recordBytes,
  type EventLog,
  type EventRecord,
  type RetentionPolicy,
  type ScanPage,
  type ScanQuery,
  type TenantUsage,
} from '../event-log.js';
import type { Database } from './database.js';
import { classified, toStorageError } from './errors.js';
import { TenantUsageBook } from './tenant-usage.js';
import type { StoredEvent } from './trees.js';

const MAX_ID = Number.MAX_SAFE_INTEGER;

export class LmdbEventLog implements EventLog {
  private readonly counters = new Map<string, number>();
  private readonly book: TenantUsageBook;
  readonly committed = new Signal<readonly EventRecord[]>();
  readonly epoch: string;
  private pending: EventRecord[] = [];
  private flushScheduled = false;

  constructor(
    private readonly db: Database,
    private readonly now: () => number = Date.now,
  ) {
    this.book = new TenantUsageBook(db);
    this.epoch = db.epoch;
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

  async append(tenant: string, event: string, data: string): Promise<EventRecord> {
    const id = this.lastId(tenant) + 1;
    this.counters.set(tenant, id);
    const record: EventRecord = { tenant, id, event, data, timestamp: this.now() };
    const claim = this.book.claim(tenant, event, data);
    // Every put is issued in the same turn, so lmdb commits them in one transaction (the byte count
    // with the event it counts); puts from concurrent inserts share that commit (and its fsync) too.
    const stored: StoredEvent = { e: event, d: data, t: record.timestamp };
    let failed = true;
    try {
      await Promise.all([
        this.db.events.put([tenant, id], stored),
        this.db.latest.put([tenant, event], id),
        this.db.meta.put(`bytes:${tenant}`, claim.total),
      ]);
      failed = false;
    } catch (err) {
      // Inline rather than classified(): the insert path is the hot one.
      throw toStorageError(err);
    } finally {
      this.book.settle(claim, failed);
    }
    this.pending.push(record);
    this.scheduleFlush();
    return record;
  }

  /**
   * Every put of one commit resolves in the same turn: gathering them until the next macrotask hands
   * the hub one batch per commit, so it writes one buffer per subscriber instead of one per event.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      const batch = this.pending;
      this.pending = [];
      // Ids were assigned in order and commits complete in order, but resolution order of one commit's
      // puts is an lmdb detail: sort so that subscribers always receive id order.
      batch.sort((a, b) => a.id - b.id);
      this.committed.emit(batch);
    });
  }

  private read(tenant: string, id: number, value: StoredEvent): EventRecord {
    return { tenant, id, event: value.e, data: value.d, timestamp: value.t };
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
    const records: EventRecord[] = [];
    let bytes = 0;
    let taken = 0;
    while (taken < ids.length && (taken === 0 || bytes < maxBytes)) {
      const id = ids[taken++];
      const stored = this.db.events.get([tenant, id]);
      if (!stored) continue;
      records.push(this.read(tenant, id, stored));
      bytes += Buffer.byteLength(stored.d);
    }
    return { records, taken };
  }

  scan(tenant: string, q: ScanQuery): ScanPage {
    const after = q.after ?? 0;
    const before = q.before ?? MAX_ID;
    if (before <= after + 1) return { records: [], through: undefined, end: true };
    const range = q.desc
      ? { start: [tenant, before - 1] as [string, number], end: [tenant, after] as [string, number], reverse: true }
      : { start: [tenant, after + 1] as [string, number], end: [tenant, before] as [string, number] };
    const records: EventRecord[] = [];
    let bytes = 0;
    let examined = 0;
    let examinedBytes = 0;
    let through: number | undefined;
    for (const { key, value: stored } of this.db.events.getRange(range)) {
      // Checked before taking the next: the page always holds what it took, and the first event.
      if (records.length >= q.limit || (records.length > 0 && bytes >= q.maxBytes))
        return { records, through, end: false };
      if (examined >= q.maxExamined || examinedBytes >= q.maxExaminedBytes) return { records, through, end: false };
      examined++;
      examinedBytes += stored.d.length;
      if (q.names && !q.names.has(stored.e)) {
        through = key[1];
        continue;
      }
      // UTF-8 bytes, what a page costs on the wire (non-ASCII data is up to 3 bytes a UTF-16 unit).
      const size = Buffer.byteLength(stored.d);
      if (records.length > 0 && bytes + size > q.maxBytes) return { records, through, end: false };
      through = key[1];
      records.push(this.read(tenant, key[1], stored));
      bytes += size;
    }
    return { records, through, end: true };
  }

  prunedThrough(tenant: string): number {
    const v = this.db.meta.get(`pruned:${tenant}`);
    return typeof v === 'number' ? v : 0;
  }

  private tenants(): string[] {
    const tenants: string[] = [];
    let last: string | undefined;
    for (const { key } of this.db.latest.getRange({})) {
      if (key[0] !== last) tenants.push((last = key[0]));
    }
    return tenants;
  }

  async prune(policy: RetentionPolicy, nowMs: number): Promise<number> {
    if (policy.maxAgeMs <= 0 && policy.maxEvents <= 0) return 0;
    let deleted = 0;
    for (const tenant of this.tenants()) {
      const keep = new Set(this.latestIds(tenant));
      const last = this.lastId(tenant);
      const countCutoff = policy.maxEvents > 0 ? last - policy.maxEvents : 0;
      const ageCutoff = policy.maxAgeMs > 0 ? nowMs - policy.maxAgeMs : -Infinity;
      let highest = this.prunedThrough(tenant);
      const doomed: number[] = [];
      let freed = 0;
      for (const { key, value: stored } of this.db.events.getRange({ start: [tenant, 0], end: [tenant, MAX_ID] })) {
        const id = key[1];
        if (id > countCutoff && stored.t >= ageCutoff) break;
        if (!keep.has(id)) {
          doomed.push(id);
          freed += recordBytes(stored.e, stored.d);
        }
        if (doomed.length >= 10_000) break;
      }
      if (doomed.length === 0) continue;
      for (const id of doomed) {
        void this.db.events.remove([tenant, id]);
        highest = Math.max(highest, id);
      }
      const total = this.book.freed(tenant, freed);
      await classified(
        Promise.all([this.db.meta.put(`pruned:${tenant}`, highest), this.db.meta.put(`bytes:${tenant}`, total)]),
      );
      deleted += doomed.length;
    }
    return deleted;
  }
}
