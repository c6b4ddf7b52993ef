// Opens the LMDB environment and its sub-databases. Nothing above storage/ imports lmdb: the stores
// below are the seams where another engine can plug in later.
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { open, type Database as LmdbDatabase, type RootDatabase } from 'lmdb';
import { acquireLock } from './process-lock.js';

export const SCHEMA_VERSION = 1;

export class DatabaseOpenError extends Error {}

export interface Database {
  path: string;
  root: RootDatabase;
  meta: LmdbDatabase<unknown, string>;
  users: LmdbDatabase<unknown, string>;
  events: LmdbDatabase<unknown, [string, number]>;
  latest: LmdbDatabase<number, [string, string]>;
  close(): Promise<void>;
}

export interface OpenOptions {
  mapSize?: number;
  /** Tools that only read (backup) skip the writer lock. */
  lock?: boolean;
}

export function openDatabase(dir: string, options: OpenOptions = {}): Database {
  const path = resolve(dir);
  mkdirSync(path, { recursive: true });
  const release = options.lock === false ? () => {} : acquireLock(path);
  let root: RootDatabase;
  try {
    const dataFile = join(path, 'data.mdb');
    if (existsSync(dataFile) && statSync(dataFile).size > 0 && statSync(dataFile).size < 4096) {
      throw new DatabaseOpenError(`${dataFile} is truncated (${statSync(dataFile).size} bytes): not an LMDB database`);
    }
    root = open({
      path,
      // A directory, not one file: data.mdb + lock.mdb, which is what `mdb_copy`/backups expect.
      noSubdir: false,
      mapSize: options.mapSize,
      maxDbs: 8,
      // Durability: every commit is fsync'd (the default); inserts answer only after their commit.
      compression: false,
    });
    const meta = root.openDB<unknown, string>({ name: 'meta' });
    const version = meta.get('schema_version');
    if (version === undefined) {
      meta.putSync('schema_version', SCHEMA_VERSION);
    } else if (typeof version !== 'number' || version > SCHEMA_VERSION) {
      throw new DatabaseOpenError(`the database ${path} has schema version ${String(version)}, newer than this broker understands (${SCHEMA_VERSION}); upgrade broker`);
    }
    const db: Database = {
      path,
      root,
      meta,
      users: root.openDB<unknown, string>({ name: 'users' }),
      events: root.openDB<unknown, [string, number]>({ name: 'events' }),
      latest: root.openDB<number, [string, string]>({ name: 'latest' }),
      async close() {
        try {
          await root.close();
        } finally {
          release();
        }
      },
    };
    return db;
  } catch (err) {
    release();
    if (err instanceof DatabaseOpenError) throw err;
    throw new DatabaseOpenError(`cannot open the database ${path}: ${(err as Error).message} (is it corrupt or unreadable? restore a backup)`);
  }
}
