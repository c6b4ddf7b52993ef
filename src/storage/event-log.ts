// EventLog: the insert-only log of every tenant, the seam every storage engine implements (lmdb/ is the
// default, memory/ the reference the contract suite also runs against). What an engine must guarantee
// is in README.md beside this file; test/storage/event-log.contract.ts checks it.
import { randomBytes } from 'node:crypto';
import type { Signal } from '../lib/signal.js';
import type { IdempotencyClaim, IdempotencyStore } from './idempotency.js';

export interface EventRecord {
  tenant: string;
  id: number;
  event: string;
  /** The event's data as compact JSON text: stored, replayed and framed without re-serializing. */
  data: string;
  timestamp: number;
}

export interface RetentionPolicy {
  maxAgeMs: number;
  maxEvents: number;
}

/**
 * One bounded read of a tenant's log: at most `limit` events, `maxBytes` of data, `maxExamined` records
 * looked at.
 */
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
  /**
   * Stop after looking at this many records, or this many bytes of them, matching or not (a filter that
   * matches nothing).
   */
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

export interface AppendOptions {
  /** An Idempotency-Key answer ({id, at} = the record's), committed with the event: both or neither. */
  idempotency?: IdempotencyClaim;
  /**
   * The event as another database stored it (`broker migrate`): its id, above every id of the tenant, and
   * its timestamp. Ids skipped up to it were pruned there, so they count as pruned here (prunedThrough).
   */
  original?: { id: number; timestamp: number };
}

export interface EventLog {
  /** Resolves once the event (and its idempotency answer) is durable on disk (fsync'd commit), with its id. */
  append(tenant: string, event: string, data: string, options?: AppendOptions): Promise<EventRecord>;
  /** The answers appends stored (readable once their append resolves), and their sweep. */
  readonly idempotency: IdempotencyStore;
  /** Ids of the latest event of every name (optionally only these names), ascending. */
  latestIds(tenant: string, names?: ReadonlySet<string>): number[];
  /**
   * These events (as many as fit in maxBytes, at least one), in the order given; deleted ones are skipped.
   * `taken` is how many ids were looked at: the caller continues with the rest.
   */
  getMany(tenant: string, ids: readonly number[], maxBytes: number): { records: EventRecord[]; taken: number };
  /** A bounded page of the log (see ScanQuery). */
  scan(tenant: string, query: ScanQuery): ScanPage;
  /** At most `limit` tenants holding events, in order, after `after` (a page of them: `broker migrate`). */
  tenants(after: string | undefined, limit: number): string[];
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

/** A new epoch: 8 random bytes, base64url. */
export const newEpoch = () => randomBytes(8).toString('base64url');

/** What one event costs a tenant's quota: its data and name, and a little for the keys around them. */
export function recordBytes(event: string, data: string): number {
  return Buffer.byteLength(data) + Buffer.byteLength(event) + 32;
}
