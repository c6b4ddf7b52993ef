// Experiment on a COPY of the --map_size check (src/storage/database.ts untouched): enforceLimit() calls
// usedBytes() before every put, and usedBytes() calls getStats() on the root and on the 4 stores, so an
// insert (2 puts) costs 10 mdb_stat calls: ~65 µs, a fifth of the server's CPU under an insert load
// (profile: lmdb/read.js getStats). Here each store's getStats() result is reused until the next
// macrotask: the check still runs before every put, on figures at most one event-loop turn old.
import type { Database } from '../../src/storage/database.js';

interface HasStats {
  getStats(): unknown;
}

export function applyCachedStats(db: Database): void {
  const d = db as unknown as Record<string, unknown>;
  for (const name of ['root', 'meta', 'users', 'events', 'latest']) {
    const store = d[name] as HasStats | undefined;
    if (!store || typeof store.getStats !== 'function') continue;
    const original = store.getStats.bind(store);
    let cached: unknown;
    let scheduled = false;
    store.getStats = () => {
      if (cached === undefined) {
        cached = original();
        if (!scheduled) {
          scheduled = true;
          setImmediate(() => {
            cached = undefined;
            scheduled = false;
          });
        }
      }
      return cached;
    };
  }
}
