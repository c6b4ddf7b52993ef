// A page of a tenant's history for GET /events, read in bounded chunks: the answer is bounded by
// count and bytes, the request by the records it may look at, and the scan yields between chunks.
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { EventLog, EventRecord } from '../storage/event-log.js';
import { EXAMINE_BYTES_PER_TURN, EXAMINE_PER_TURN } from './replay.js';

/**
 * GET /events: `limit` defaults to 100, at most 1,000; an answer holds about 4 MiB of data at most (always
 * one event).
 */
export const EVENTS_DEFAULT_LIMIT = 100;
export const EVENTS_MAX_LIMIT = 1000;
export const EVENTS_MAX_BYTES = 4 * 1024 * 1024;
/** Records one /events request looks at (a filter that matches little): past it, the answer says where to go on. */
export const EVENTS_SCAN_BUDGET = 100_000;
const EVENTS_SCAN_BYTES = 256 * 1024 * 1024;

export interface HistoryQuery {
  after: number;
  before: number | undefined;
  desc: boolean;
  limit: number;
  names: Set<string> | undefined;
}

/**
 * Reads one /events answer in chunks of EXAMINE_PER_TURN records, yielding between them, within the
 * answer's limits and the request's scan budget. `next` is set when the answer was cut short: the
 * client continues with after=next (oldest first) or before=next (newest first).
 */
export async function history(
  log: EventLog,
  tenant: string,
  q: HistoryQuery,
): Promise<{ records: EventRecord[]; next: number | undefined }> {
  const records: EventRecord[] = [];
  let bytes = 0;
  let examined = 0;
  let examinedBytes = 0;
  let after = q.after;
  let before = q.before;
  for (;;) {
    const page = log.scan(tenant, {
      after,
      before,
      desc: q.desc,
      limit: q.limit - records.length,
      maxBytes: EVENTS_MAX_BYTES - bytes,
      maxExamined: Math.min(EXAMINE_PER_TURN, EVENTS_SCAN_BUDGET - examined),
      maxExaminedBytes: EXAMINE_BYTES_PER_TURN,
      names: q.names,
    });
    for (const r of page.records) {
      records.push(r);
      bytes += Buffer.byteLength(r.data);
    }
    if (page.end) return { records, next: undefined };
    if (page.through === undefined) return { records, next: q.desc ? before : after };
    if (q.desc) before = page.through;
    else after = page.through;
    // The examined count is only known per chunk: a chunk is at most EXAMINE_PER_TURN records.
    examined += EXAMINE_PER_TURN;
    examinedBytes += EXAMINE_BYTES_PER_TURN;
    if (
      records.length >= q.limit ||
      bytes >= EVENTS_MAX_BYTES ||
      examined >= EVENTS_SCAN_BUDGET ||
      examinedBytes >= EVENTS_SCAN_BYTES
    ) {
      return { records, next: page.through };
    }
    await yieldToLoop();
  }
}
