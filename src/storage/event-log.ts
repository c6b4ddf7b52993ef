// EventLog: the insert-only log of every tenant, in LMDB.
//   events  [tenant, id]    -> {e: event name, d: data as compact JSON, t: timestamp ms}
//   latest  [tenant, name]  -> id of that name's latest event
//   meta    pruned:<tenant> -> the highest id retention has deleted (resume before it → reset)
//   meta    bytes:<tenant>  -> the bytes the tenant's events hold (tenant-usage.ts), in the same commit
// Array keys compare element by element, so tenant "a" never sees the keys of tenant "ab".
import { randomBytes } from 'node:crypto';
import { Signal } from '../lib/signal.js';
import type { Database } from './database.js';
import { recordBytes, TenantUsageBook } from './tenant-usage.js';

export { recordBytes };

export interface EventRecord {
  tenant: string;
  id: number;
  event: string;
  /** The event's data as compact JSON text: stored, replayed and framed without re-serializing. */
  data: string;
  timestamp: number;
}

interface StoredEvent {
  e: string;
  d: string;
  t: number;
}

export interface RetentionPolicy {
  maxAgeMs: number;
  maxEvents: number;
}

/** One bounded read of a tenant's log: at most `limit` events, `maxBytes` of data, `maxExamined` records looked at. */
export interface ScanQuery {
  /** Only ids above this (default 0). */
  after?: number;
  /** Only ids below this (default: no bound). */
  before?: number;
  /** Newest first (from `before` down), instead of oldest first. */
  desc?: boolean;
  limit: number;
  /** Stop once the events taken hold this many bytes (the first event is always taken). */
  maxBytes: number;
  /** Stop after looking at this many records, or this many bytes of them, matching or not (a filter that matches nothing). */
  maxExamined: number;
  maxExaminedBytes: number;
  names?: ReadonlySet<string>;
}

export interface ScanPage {
  records: EventRecord[];
  /** The last id looked at: a scan cut short continues after (or, newest first, before) it. */
  through: number | undefined;
  /** True when the range was read to its end: nothing more to look at. */
  end: boolean;
}

export interface TenantUsage {
  bytes: number;
  names: number;
}

export interface EventLog {
  /** Resolves once the event is durable on disk (fsync'd commit), with its id. */
  append(tenant: string, event: string, data: string): Promise<EventRecord>;
  /** Ids of the latest event of every name (optionally only these names), ascending. */
  latestIds(tenant: string, names?: ReadonlySet<string>): number[];
  /** These events (as many as fit in maxBytes, at least one), in the order given; deleted ones are skipped. */
  getMany(tenant: string, ids: readonly number[], maxBytes: number): { records: EventRecord[]; taken: number };
  /** A bounded page of the log (see ScanQuery). */
  scan(tenant: string, query: ScanQuery): ScanPage;
  /** The highest id retention deleted in this tenant (0 = nothing deleted). */
  prunedThrough(tenant: string): number;
  /** The highest id issued (an insert in flight may not be committed yet). */
  lastId(tenant: string): number;
  /** The highest id committed: every id at or below it is readable (or was pruned). */
  committedId(tenant: string): number;
  /** What the tenant's events hold, counting inserts not yet committed. */
  usage(tenant: string): TenantUsage;
  /** Whether an insert of this name would add a name to the tenant. */
  isNewName(tenant: string, event: string): boolean;
  /** Deletes history beyond the policy, always keeping each name's latest event. Returns how many. */
  prune(policy: RetentionPolicy, nowMs: number): Promise<number>;
  /** Every batch of events committed together, in id order, once it is durable: the hub listens here. */
  readonly committed: Signal<readonly EventRecord[]>;
  /**
   * This database's history: made when it is created, renewed when history is lost (a backup restored).
   * Ids are positions within one epoch; an id from another epoch means nothing here.
   */
  readonly epoch: string;
}

const MAX_ID = Number.MAX_SAFE_INTEGER;

/** The database's epoch (meta `epoch`), made on first use: 8 random bytes, base64url. */
export const EPOCH_KEY = 'epoch';
export const newEpoch = () => randomBytes(8).toString('base64url');

function epochOf(db: Database): string {
  const stored = db.meta.get(EPOCH_KEY);
  if (typeof stored === 'string') return stored;
  const epoch = newEpoch();
  db.meta.putSync(EPOCH_KEY, epoch);
  return epoch;
}

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
    this.epoch = epochOf(db);
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
      const stored = this.db.events.get([tenant, id]) as StoredEvent | undefined;
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
    for (const { key, value } of this.db.events.getRange(range)) {
      const stored = value as StoredEvent;
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
      for (const { key, value } of this.db.events.getRange({ start: [tenant, 0], end: [tenant, MAX_ID] })) {
        const id = key[1];
        const stored = value as StoredEvent;
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
      await Promise.all([this.db.meta.put(`pruned:${tenant}`, highest), this.db.meta.put(`bytes:${tenant}`, total)]);
      deleted += doomed.length;
    }
    return deleted;
  }
}
