// The EventLog in memory: the reference engine the contract suite runs beside LMDB (a cluster engine is
// next), with the same bounds. Each tenant's log is an array in id order, as LMDB's [tenant, id] keys
// are: appends push at the end, prune removes from the front half, scans find their start by bisection.
import { CommittedBatches } from '../committed-batches.js';
import {
  newEpoch,
  recordBytes,
  type AppendOptions,
  type EventLog,
  type EventRecord,
  type RetentionPolicy,
  type ScanPage,
  type ScanQuery,
  type TenantUsage,
} from '../event-log.js';
import { MemoryIdempotencyStore } from './idempotency.js';
import {
  countCutoffOf,
  doomedBy,
  emptyPage,
  pageOf,
  scanRange,
  takeMany,
  type StoredEntry,
  type StoredEvent,
} from '../pages.js';

interface TenantLog {
  entries: StoredEntry[];
  byId: Map<number, StoredEvent>;
  latest: Map<string, number>;
  lastId: number;
  prunedThrough: number;
  bytes: number;
}

/** The index of the first entry with an id above `id` (entries are in id order). */
function firstAfter(entries: readonly StoredEntry[], id: number): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (entries[mid].key[1] <= id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function* ascending(entries: readonly StoredEntry[], from: number, before: number): Generator<StoredEntry> {
  for (let i = from; i < entries.length && entries[i].key[1] < before; i++) yield entries[i];
}

function* descending(entries: readonly StoredEntry[], from: number, after: number): Generator<StoredEntry> {
  for (let i = from; i >= 0 && entries[i].key[1] > after; i--) yield entries[i];
}

export class MemoryEventLog implements EventLog {
  private readonly logs = new Map<string, TenantLog>();
  private readonly batches = new CommittedBatches();
  readonly committed = this.batches.committed;
  /** Made at construction: a new memory log is a new history. */
  readonly epoch = newEpoch();
  readonly idempotency = new MemoryIdempotencyStore();

  constructor(private readonly now: () => number = Date.now) {}

  private log(tenant: string): TenantLog | undefined {
    return this.logs.get(tenant);
  }

  private logFor(tenant: string): TenantLog {
    let log = this.logs.get(tenant);
    if (!log) {
      log = { entries: [], byId: new Map(), latest: new Map(), lastId: 0, prunedThrough: 0, bytes: 0 };
      this.logs.set(tenant, log);
    }
    return log;
  }

  async append(tenant: string, event: string, data: string, options?: AppendOptions): Promise<EventRecord> {
    const log = this.logFor(tenant);
    const original = options?.original;
    if (original && !(Number.isSafeInteger(original.id) && original.id > log.lastId))
      throw new RangeError(`an event copied with id ${original.id} into tenant ${tenant}, past id ${log.lastId}`);
    const id = original?.id ?? log.lastId + 1;
    // Ids skipped by a copy were pruned in the database it came from.
    if (id > log.lastId + 1) log.prunedThrough = id - 1;
    log.lastId = id;
    const stored: StoredEvent = { e: event, d: data, t: original?.timestamp ?? this.now() };
    // Kept before the promise resolves: in memory, "durable" is "stored".
    log.entries.push({ key: [tenant, id], value: stored });
    log.byId.set(id, stored);
    log.latest.set(event, id);
    log.bytes += recordBytes(event, data);
    if (options?.idempotency) this.idempotency.put(options.idempotency, id, stored.t);
    const record: EventRecord = { tenant, id, event, data, timestamp: stored.t };
    this.batches.add(record);
    return record;
  }

  latestIds(tenant: string, names?: ReadonlySet<string>): number[] {
    const log = this.log(tenant);
    if (!log) return [];
    const ids: number[] = [];
    if (names) {
      for (const name of names) {
        const id = log.latest.get(name);
        if (id !== undefined) ids.push(id);
      }
    } else for (const id of log.latest.values()) ids.push(id);
    return ids.sort((a, b) => a - b);
  }

  getMany(tenant: string, ids: readonly number[], maxBytes: number): { records: EventRecord[]; taken: number } {
    const log = this.log(tenant);
    return takeMany(tenant, ids, maxBytes, (id) => log?.byId.get(id));
  }

  scan(tenant: string, q: ScanQuery): ScanPage {
    const range = scanRange(q);
    const log = this.log(tenant);
    if (!range || !log) return emptyPage();
    const { entries } = log;
    const rows = q.desc
      ? descending(entries, firstAfter(entries, range.before - 1) - 1, range.after)
      : ascending(entries, firstAfter(entries, range.after), range.before);
    return pageOf(tenant, rows, q);
  }

  tenants(after: string | undefined, limit: number): string[] {
    // Sorted as LMDB orders its keys (by UTF-8 bytes, which code point order matches).
    const order = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
    const all = [...this.logs.keys()].filter((t) => after === undefined || order(t, after) > 0);
    return all.sort(order).slice(0, limit);
  }

  prunedThrough(tenant: string): number {
    return this.log(tenant)?.prunedThrough ?? 0;
  }

  lastId(tenant: string): number {
    return this.log(tenant)?.lastId ?? 0;
  }

  committedId(tenant: string): number {
    return this.lastId(tenant);
  }

  usage(tenant: string): TenantUsage {
    const log = this.log(tenant);
    return { bytes: log?.bytes ?? 0, names: log?.latest.size ?? 0 };
  }

  isNewName(tenant: string, event: string): boolean {
    return !this.log(tenant)?.latest.has(event);
  }

  async prune(policy: RetentionPolicy, nowMs: number): Promise<number> {
    if (policy.maxAgeMs <= 0 && policy.maxEvents <= 0) return 0;
    let deleted = 0;
    for (const log of this.logs.values()) {
      const keep = new Set(log.latest.values());
      const doomed = doomedBy(policy, nowMs, countCutoffOf(policy, log.lastId), keep, log.entries);
      if (doomed.ids.length === 0) continue;
      const gone = new Set(doomed.ids);
      for (const id of doomed.ids) {
        log.byId.delete(id);
        log.prunedThrough = Math.max(log.prunedThrough, id);
      }
      log.entries = log.entries.filter((entry) => !gone.has(entry.key[1]));
      log.bytes = Math.max(0, log.bytes - doomed.bytes);
      deleted += doomed.ids.length;
    }
    return deleted;
  }
}
