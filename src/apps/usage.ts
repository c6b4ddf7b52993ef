// The anonymous active-user count: an id seen in the last 30 days counts once. Writes are batched: the
// requests of one turn of the event loop share one commit, and each is answered once that commit is
// durable. A sweep deletes ids not seen for 30 days, a bounded number per run.
import { randomUUID } from 'node:crypto';
import { busy } from '../errors.js';
import type { UsageEntry, UsageStore } from '../storage/usage.js';
import { badRequest } from './errors.js';

export const ACTIVE_DAYS = 30;
const DAY_MS = 86_400_000;
/** Entries one sweep run deletes at most. */
export const SWEEP_LIMIT = 10_000;
/** Writes waiting for a commit at most; more answer 503 (a commit is slower than requests arrive). */
const MAX_PENDING = 50_000;
export const MAX_ID_BYTES = 128;
export const MAX_PLATFORM_BYTES = 64;

interface Batch {
  entries: Map<string, { appId: string; entry: UsageEntry }>;
  done: Promise<void>;
}

/** How long a count is answered from memory: counting reads every active id's index key. */
const COUNT_CACHE_MS = 10_000;
const MAX_CACHED = 10_000;

export class UsageCounts {
  private batch: Batch | undefined;
  private readonly cache = new Map<string, { at: number; count: number }>();

  constructor(
    private readonly store: UsageStore,
    private readonly now: () => number,
  ) {}

  today(): number {
    return Math.floor(this.now() / DAY_MS);
  }

  /** Records an id's use today; answers the id to keep (a new one for "", unknown or expired ids). */
  async record(appId: string, id: string, platform: string): Promise<string> {
    if (Buffer.byteLength(platform) > MAX_PLATFORM_BYTES || platform === '')
      throw badRequest(`platform must be 1-${MAX_PLATFORM_BYTES} bytes`);
    const day = this.today();
    const known = id !== '' && Buffer.byteLength(id) <= MAX_ID_BYTES ? this.lookup(appId, id) : undefined;
    const kept = known && day - known.day < ACTIVE_DAYS ? id : randomUUID();
    const batch = this.current();
    if (batch.entries.size >= MAX_PENDING) throw busy('too many counts waiting for the disk: retry');
    batch.entries.set(`${appId}\0${kept}`, { appId, entry: { id: kept, platform, day } });
    await batch.done;
    return kept;
  }

  /** Ids seen in the last 30 days, on `platform` (undefined or "all" = every platform). */
  count(appId: string, platform: string | undefined): number {
    const only = platform === undefined || platform === 'all' ? undefined : platform;
    if (only !== undefined && Buffer.byteLength(only) > MAX_PLATFORM_BYTES)
      throw badRequest(`platform must be at most ${MAX_PLATFORM_BYTES} bytes`);
    // Answered from memory for 10 s: a key may ask often, and a count reads every active id's key.
    const cacheKey = `${appId}\0${only ?? ''}\0${only === undefined ? 'all' : ''}`;
    const now = this.now();
    const cached = this.cache.get(cacheKey);
    if (cached && now - cached.at < COUNT_CACHE_MS) return cached.count;
    const today = this.today();
    let n = 0;
    for (let day = today - ACTIVE_DAYS + 1; day <= today; day++) n += this.store.countDay(appId, day, only);
    if (this.cache.size >= MAX_CACHED) this.cache.clear();
    this.cache.set(cacheKey, { at: now, count: n });
    return n;
  }

  /** One bounded run; answers how many entries went. */
  sweep(): Promise<number> {
    return this.store.sweep(this.today() - ACTIVE_DAYS + 1, SWEEP_LIMIT);
  }

  private lookup(appId: string, id: string): UsageEntry | undefined {
    return this.batch?.entries.get(`${appId}\0${id}`)?.entry ?? this.store.get(appId, id);
  }

  private current(): Batch {
    if (this.batch) return this.batch;
    const entries: Batch['entries'] = new Map();
    // The batch closes at the end of this turn: every request arriving until then shares its commit.
    const done = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      if (this.batch?.entries === entries) this.batch = undefined;
      return this.store.putMany([...entries.values()]);
    });
    // A failed commit rejects every request of the batch (each answers 5xx); nothing is left unhandled.
    done.catch(() => {});
    const batch = { entries, done };
    this.batch = batch;
    return batch;
  }
}
