// EventLog: the insert-only log of every tenant, in LMDB.
//   events  [tenant, id]    -> {e: event name, d: data as compact JSON, t: timestamp ms}
//   latest  [tenant, name]  -> id of that name's latest event
//   meta    pruned:<tenant> -> the highest id retention has deleted (resume before it → reset)
// Array keys compare element by element, so tenant "a" never sees the keys of tenant "ab".
import type { Database } from './database.js';

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

export interface EventLog {
  /** Resolves once the event is durable on disk (fsync'd commit), with its id. */
  append(tenant: string, event: string, data: string): Promise<EventRecord>;
  /** The latest event of every name (optionally only these names), in id order. */
  latest(tenant: string, names?: ReadonlySet<string>): EventRecord[];
  /** Events with id > afterId, in id order, at most `limit`, optionally only these names. */
  after(tenant: string, afterId: number, limit: number, names?: ReadonlySet<string>): EventRecord[];
  /** The highest id retention deleted in this tenant (0 = nothing deleted). */
  prunedThrough(tenant: string): number;
  lastId(tenant: string): number;
  /** Deletes history beyond the policy, always keeping each name's latest event. Returns how many. */
  prune(policy: RetentionPolicy, nowMs: number): Promise<number>;
  /** Called with every batch of events committed together, in id order. */
  onCommit(listener: (records: EventRecord[]) => void): void;
}

const MAX_ID = Number.MAX_SAFE_INTEGER;

export class LmdbEventLog implements EventLog {
  private readonly counters = new Map<string, number>();
  private readonly listeners: Array<(records: EventRecord[]) => void> = [];
  private committed: EventRecord[] = [];
  private flushScheduled = false;

  constructor(
    private readonly db: Database,
    private readonly now: () => number = Date.now,
  ) {}

  onCommit(listener: (records: EventRecord[]) => void): void {
    this.listeners.push(listener);
  }

  lastId(tenant: string): number {
    let last = this.counters.get(tenant);
    if (last === undefined) {
      last = 0;
      for (const { key } of this.db.events.getRange({ start: [tenant, MAX_ID], end: [tenant, 0], reverse: true, limit: 1 })) {
        last = key[1];
      }
      last = Math.max(last, this.prunedThrough(tenant));
      this.counters.set(tenant, last);
    }
    return last;
  }

  async append(tenant: string, event: string, data: string): Promise<EventRecord> {
    const id = this.lastId(tenant) + 1;
    this.counters.set(tenant, id);
    const record: EventRecord = { tenant, id, event, data, timestamp: this.now() };
    // Both puts are issued in the same turn, so lmdb commits them in one transaction; puts from
    // concurrent inserts share that commit (and its fsync) too.
    const stored: StoredEvent = { e: event, d: data, t: record.timestamp };
    await Promise.all([this.db.events.put([tenant, id], stored), this.db.latest.put([tenant, event], id)]);
    this.committed.push(record);
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
      const batch = this.committed;
      this.committed = [];
      // Ids were assigned in order and commits complete in order, but resolution order of one commit's
      // puts is an lmdb detail: sort so that subscribers always receive id order.
      batch.sort((a, b) => a.id - b.id);
      for (const listener of this.listeners) listener(batch);
    });
  }

  private read(tenant: string, id: number, value: StoredEvent): EventRecord {
    return { tenant, id, event: value.e, data: value.d, timestamp: value.t };
  }

  latest(tenant: string, names?: ReadonlySet<string>): EventRecord[] {
    const out: EventRecord[] = [];
    for (const { key, value: id } of this.db.latest.getRange({ start: [tenant, ''] })) {
      if (key[0] !== tenant) break;
      if (names && !names.has(key[1])) continue;
      const stored = this.db.events.get([tenant, id]) as StoredEvent | undefined;
      if (stored) out.push(this.read(tenant, id, stored));
    }
    return out.sort((a, b) => a.id - b.id);
  }

  after(tenant: string, afterId: number, limit: number, names?: ReadonlySet<string>): EventRecord[] {
    const out: EventRecord[] = [];
    for (const { key, value } of this.db.events.getRange({ start: [tenant, afterId + 1], end: [tenant, MAX_ID] })) {
      const stored = value as StoredEvent;
      if (names && !names.has(stored.e)) continue;
      out.push(this.read(tenant, key[1], stored));
      if (out.length >= limit) break;
    }
    return out;
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
      const keep = new Set(this.latest(tenant).map((r) => r.id));
      const last = this.lastId(tenant);
      const countCutoff = policy.maxEvents > 0 ? last - policy.maxEvents : 0;
      const ageCutoff = policy.maxAgeMs > 0 ? nowMs - policy.maxAgeMs : -Infinity;
      let highest = this.prunedThrough(tenant);
      const doomed: number[] = [];
      for (const { key, value } of this.db.events.getRange({ start: [tenant, 0], end: [tenant, MAX_ID] })) {
        const id = key[1];
        const stored = value as StoredEvent;
        if (id > countCutoff && stored.t >= ageCutoff) break;
        if (!keep.has(id)) doomed.push(id);
        if (doomed.length >= 10_000) break;
      }
      if (doomed.length === 0) continue;
      for (const id of doomed) {
        void this.db.events.remove([tenant, id]);
        highest = Math.max(highest, id);
      }
      await this.db.meta.put(`pruned:${tenant}`, highest);
      deleted += doomed.length;
    }
    return deleted;
  }
}
