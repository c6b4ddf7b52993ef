// The bounded reads of an EventLog, the same for every engine: an engine yields its stored events in id
// order (or reverse) and these cut the page by the query's bounds. One place for the rules, so that two
// engines cannot answer one query differently.
import { recordBytes, type EventRecord, type RetentionPolicy, type ScanPage, type ScanQuery } from './event-log.js';

/** An event as an engine keeps it: short field names, since a log holds many. */
export interface StoredEvent {
  e: string;
  d: string;
  t: number;
}

/** A stored event under its key, as LMDB's range reads yield them: [tenant, id]. */
export interface StoredEntry {
  key: readonly [string, number];
  value: StoredEvent;
}

export const MAX_ID = Number.MAX_SAFE_INTEGER;

export function recordOf(tenant: string, id: number, stored: StoredEvent): EventRecord {
  return { tenant, id, event: stored.e, data: stored.d, timestamp: stored.t };
}

/** The id range a scan reads (after < id < before), or undefined when it is empty. */
export function scanRange(q: ScanQuery): { after: number; before: number } | undefined {
  const after = q.after ?? 0;
  const before = q.before ?? MAX_ID;
  return before <= after + 1 ? undefined : { after, before };
}

export const emptyPage = (): ScanPage => ({ records: [], through: undefined, end: true });

/** One page of `entries` (the scan's range, in its order) under the query's bounds. */
export function pageOf(tenant: string, entries: Iterable<StoredEntry>, q: ScanQuery): ScanPage {
  const records: EventRecord[] = [];
  let bytes = 0;
  let examined = 0;
  let examinedBytes = 0;
  let through: number | undefined;
  for (const { key, value: stored } of entries) {
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
    records.push(recordOf(tenant, key[1], stored));
    bytes += size;
  }
  return { records, through, end: true };
}

/** getMany's rule: in the order given, as many as fit in maxBytes and at least one; missing ids skipped. */
export function takeMany(
  tenant: string,
  ids: readonly number[],
  maxBytes: number,
  get: (id: number) => StoredEvent | undefined,
): { records: EventRecord[]; taken: number } {
  const records: EventRecord[] = [];
  let bytes = 0;
  let taken = 0;
  while (taken < ids.length && (taken === 0 || bytes < maxBytes)) {
    const id = ids[taken++];
    const stored = get(id);
    if (!stored) continue;
    records.push(recordOf(tenant, id, stored));
    bytes += Buffer.byteLength(stored.d);
  }
  return { records, taken };
}

/** The highest id beyond a count policy when a tenant's ids are contiguous (one node: 1, 2, 3, ...). */
export const countCutoffOf = (policy: RetentionPolicy, lastId: number) =>
  policy.maxEvents > 0 ? lastId - policy.maxEvents : 0;

/** Deleted per tenant by one prune at most: retention runs every minute, a backlog goes in steps. */
const PRUNE_STEP = 10_000;

/**
 * What retention deletes from one tenant's log (`entries`: oldest first): events at or below `countCutoff`
 * (beyond the policy's count: countCutoffOf) or older than its age, never a name's latest (`keep`), at
 * most PRUNE_STEP of them.
 */
export function doomedBy(
  policy: RetentionPolicy,
  nowMs: number,
  countCutoff: number,
  keep: ReadonlySet<number>,
  entries: Iterable<StoredEntry>,
): { ids: number[]; bytes: number } {
  const ageCutoff = policy.maxAgeMs > 0 ? nowMs - policy.maxAgeMs : -Infinity;
  const ids: number[] = [];
  let bytes = 0;
  for (const { key, value: stored } of entries) {
    const id = key[1];
    if (id > countCutoff && stored.t >= ageCutoff) break;
    if (!keep.has(id)) {
      ids.push(id);
      bytes += recordBytes(stored.e, stored.d);
    }
    if (ids.length >= PRUNE_STEP) break;
  }
  return { ids, bytes };
}
