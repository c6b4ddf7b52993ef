// The LMDB engine as a Storage bundle: one database directory, its stores over the trees of trees.ts.
import type { Storage, StorageOptions } from '../storage.js';
import { LmdbIdentityLinks, LmdbTokenDenylist } from './accounts.js';
import { openDatabase, type Database } from './database.js';
import { LmdbEventLog } from './event-log.js';
import { LmdbSecretStore } from './secrets.js';
import { LmdbUserStore } from './users.js';
import { LmdbAppStore } from './apps.js';
import { LmdbCrashStore } from './crashes.js';
import { LmdbUsageStore } from './usage.js';

const databases = new WeakMap<Storage, Database>();

/**
 * The LMDB database under a bundle this engine opened: for tests that look at (or plant) what is
 * stored beneath the seams. Nothing in src/ needs it.
 */
export function lmdbDatabase(storage: Storage): Database {
  const db = databases.get(storage);
  if (!db) throw new Error('not an LMDB storage');
  return db;
}

export function openLmdbStorage(dir: string, options: StorageOptions = {}): Storage {
  const db = openDatabase(dir, { mapSize: options.mapSize });
  try {
    const storage: Storage = {
      path: db.path,
      log: new LmdbEventLog(db, options.now),
      users: new LmdbUserStore(db),
      secrets: new LmdbSecretStore(db),
      identityLinks: new LmdbIdentityLinks(db),
      deniedTokens: new LmdbTokenDenylist(db),
      apps: new LmdbAppStore(db),
      usage: new LmdbUsageStore(db),
      crashes: new LmdbCrashStore(db),
      epoch: db.epoch,
      warnings: db.warnings,
      usedBytes: () => db.usedBytes(),
      sync: async () => {},
      state: () => undefined,
      close: () => db.close(),
    };
    databases.set(storage, db);
    return storage;
  } catch (err) {
    void db.close();
    throw err;
  }
}
