// lmdb-js grows its map by itself whenever a write needs room (its LMDB is patched to), so MDB_MAP_FULL
// never happens and the database would grow until the disk is full. --map_size is made a real limit
// instead: once the live data (the pages of every tree, freed pages excluded) reaches it, writes throw
// StorageFullError (the API answers 507) while reads and deletes go on. Deleting (retention) frees pages
// and writes resume; a restart with a larger --map_size too.
import type { Database as LmdbTree, Key, RootDatabase } from 'lmdb';
import { StorageFullError } from '../errors.js';
import { META_PAGES } from './integrity.js';
import { TREE_NAMES, treesOf, type Trees } from './trees.js';

interface TreeStats {
  pageSize: number;
  treeBranchPageCount: number;
  treeLeafPageCount: number;
  overflowPages: number;
  lastPageNumber: number;
  free: TreeStats;
}

const treePages = (s: TreeStats | undefined) => (s ? s.treeBranchPageCount + s.treeLeafPageCount + s.overflowPages : 0);

/** Bytes of live data: the pages of every tree of the registry and of the free list, what --map_size bounds. */
export function usedBytesOf(root: RootDatabase, trees: Trees): () => number {
  return () => {
    const s = root.getStats() as TreeStats;
    let pages = META_PAGES + treePages(s) + treePages(s.free);
    for (const name of TREE_NAMES) pages += treePages(trees[name].getStats() as TreeStats);
    return pages * s.pageSize;
  };
}

/**
 * The share of --map_size kept for identity (users, the meta keys): event writes are refused once the
 * live data reaches the limit less this, so one tenant's events filling the map cannot stop logins,
 * user changes or admin work for every tenant; those writes may use the margin.
 */
export function identityReserve(limit: number): number {
  return Math.min(Math.max(Math.floor(limit / 20), 64 * 1024), 64 * 1024 * 1024);
}

/**
 * The check before a write: throws StorageFullError once the live data reaches `cap` (the limit, or
 * `eventLimit` for events). A cluster node runs it before publishing a write (storage/cluster/room.ts).
 */
export function roomCheck(
  limit: number,
  usedBytes: () => number,
): { check(cap: number): void; eventLimit: number; limit: number } {
  // usedBytes() costs 5 mdb_stat calls (~30 µs), a fifth of an insert's CPU if done on every put. Far
  // from the limit a figure up to 100 ms old is good enough (writing the remaining margin in 100 ms is
  // out of reach of fsync'd commits); near it, every write measures afresh.
  const margin = Math.max(limit / 10, 64 * 1024 * 1024);
  const eventLimit = limit - identityReserve(limit);
  let used = 0;
  let measuredAt = -Infinity;
  const check = (cap: number) => {
    const now = performance.now();
    if (used >= limit - margin || now - measuredAt > 100) {
      used = usedBytes();
      measuredAt = now;
    }
    if (used >= cap) {
      const what = cap === limit ? '' : ` (events may use ${cap} of it; the rest is kept for users and logins)`;
      throw new StorageFullError(
        `MDB_MAP_FULL: the database holds ${used} bytes of live data, its --map_size is ${limit}${what}`,
      );
    }
  };
  return { check, eventLimit, limit };
}

/** Makes --map_size a limit: the write entry points the stores use check the live size first. */
export function enforceLimit(root: RootDatabase, trees: Trees, limit: number, usedBytes: () => number): void {
  // Inside a transaction callback the transaction was already checked when it began, and a refusal in
  // its middle would abort it half-way for no gain: only top-level writes are checked.
  let inTransaction = 0;
  const room = roomCheck(limit, usedBytes);
  const { eventLimit } = room;
  const check = (cap: number) => {
    if (inTransaction === 0) room.check(cap);
  };
  const wrapTransaction = (name: 'transaction' | 'transactionSync') => {
    const original = (root[name] as (...args: unknown[]) => unknown).bind(root);
    (root as unknown as Record<string, unknown>)[name] = (
      callback: (...a: unknown[]) => unknown,
      ...rest: unknown[]
    ) => {
      check(limit);
      return original(
        (...a: unknown[]) => {
          inTransaction++;
          try {
            return callback(...a);
          } finally {
            inTransaction--;
          }
        },
        ...rest,
      );
    };
  };
  wrapTransaction('transaction');
  wrapTransaction('transactionSync');
  // Deletes stay allowed (they are how space comes back); bookkeeping trees (meta) hold a few small keys
  // that must land even when full (retention's "pruned through" marker goes with the deletes it records).
  const wrapPuts = (store: LmdbTree<unknown, Key>, cap: number) => {
    for (const name of ['put', 'putSync'] as const) {
      const original = (store[name] as (...args: unknown[]) => unknown).bind(store);
      (store as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
        // Throws synchronously: callers `void` some puts, and a rejected promise there would be unhandled.
        check(cap);
        return original(...args);
      };
    }
  };
  for (const store of treesOf(trees, 'identity')) wrapPuts(store, limit);
  for (const store of treesOf(trees, 'events')) wrapPuts(store, eventLimit);
}
