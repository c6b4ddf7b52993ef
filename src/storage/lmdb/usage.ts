// The UsageStore in LMDB: `usage` [app, id] → {id, platform, day}, and `usage_days` [day, app, platform, id]
// → true, the index that counts a day in one range and lets the sweep read the oldest days first.
import type { UsageEntry, UsageStore } from '../usage.js';
import type { Database } from './database.js';
import { classified } from './errors.js';

/** Sorts after every string of a key part (lmdb orders strings by their bytes). */
const END = '\uffff';

export class LmdbUsageStore implements UsageStore {
  constructor(private readonly db: Database) {}

  get(appId: string, id: string): UsageEntry | undefined {
    return this.db.usage.get([appId, id]);
  }

  async putMany(entries: { appId: string; entry: UsageEntry }[]): Promise<void> {
    await classified(() =>
      this.db.root.transaction(() => {
        for (const { appId, entry } of entries) {
          const old = this.db.usage.get([appId, entry.id]);
          if (old) void this.db.usage_days.remove([old.day, appId, old.platform, entry.id]);
          void this.db.usage.put([appId, entry.id], entry);
          void this.db.usage_days.put([entry.day, appId, entry.platform, entry.id], true);
        }
      }),
    );
  }

  countDay(appId: string, day: number, platform: string | undefined): number {
    const start = platform === undefined ? [day, appId] : [day, appId, platform];
    const end = platform === undefined ? [day, appId, END] : [day, appId, platform, END];
    return this.db.usage_days.getKeysCount({ start, end });
  }

  page(after: { appId: string; id: string } | undefined, limit: number): { appId: string; entry: UsageEntry }[] {
    // [app, id + NUL] sorts after [app, id] and before every later id.
    const range = after === undefined ? { limit } : { start: [after.appId, `${after.id}\u0000`], limit };
    return Array.from(this.db.usage.getRange(range), ({ key, value }) => ({ appId: key[0], entry: value }));
  }

  async sweep(beforeDay: number, limit: number): Promise<number> {
    return classified(() =>
      this.db.root.transaction(() => {
        let deleted = 0;
        for (const key of this.db.usage_days.getKeys({ end: [beforeDay], limit })) {
          const [day, appId, , id] = key as [number, string, string, string];
          void this.db.usage_days.remove(key);
          // The id's entry goes only if it was not seen since (a later day has its own index key).
          if (this.db.usage.get([appId, id])?.day === day) void this.db.usage.remove([appId, id]);
          deleted++;
        }
        return deleted;
      }),
    );
  }
}
