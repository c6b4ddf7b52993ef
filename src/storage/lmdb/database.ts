// Opens the LMDB environment and the trees of the registry (trees.ts), checks the schema version and
// keeps the epoch. Nothing above storage/ imports lmdb: the stores beside this file implement the seams
// of storage/, where another engine can plug in.
//
// Two things LMDB does not do for us are done beside this file: it trusts its file (integrity.ts checks
// it before mapping), and it grows its map without a limit (map-limit.ts makes --map_size one).
import { accessSync, chmodSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { open, type RootDatabase } from 'lmdb';
import { DatabaseInUseError, DatabaseOpenError } from '../errors.js';
import { newEpoch } from '../event-log.js';
import { describeOpenError, surviveCommitFailures } from './errors.js';
import { checkDataFile, LMDB_OPTIONS, walkInChild } from './integrity.js';
import { enforceLimit, usedBytesOf } from './map-limit.js';
import { acquireLock } from './process-lock.js';
import { openTrees, TREE_NAMES, type Trees } from './trees.js';

// 2: the accounts' trees (identity_links, user_identities, denied_tokens) and the apps' trees (trees.ts);
// a version-1 database gets them at its next open.
export const SCHEMA_VERSION = 2;

/** The database's epoch (meta `epoch`): made on first open, renewed by a restore (backup.ts). */
export const EPOCH_KEY = 'epoch';

export interface Database extends Trees {
  path: string;
  root: RootDatabase;
  /** This database's history (see EventLog.epoch). */
  epoch: string;
  /** Bytes of live data (every tree's pages), what --map_size bounds. */
  usedBytes(): number;
  /** What the open fixed and the startup log should say (a directory others could enter, made 0700). */
  warnings: string[];
  close(): Promise<void>;
}

export interface OpenOptions {
  /** The most live data the database may hold, in bytes; writes beyond it throw StorageFullError. */
  mapSize?: number;
}

/**
 * Owner-only, before LMDB creates anything: the database holds the JWT secret, the admin token, the
 * biscuit root key and every password hash. Files LMDB creates are born 0600 under a 077 umask (a chmod
 * after the open leaves a window in which another account can open data.mdb and keep it open). A
 * directory others may enter is made 0700 rather than refused: it is the database's own directory
 * (data.mdb, lock.mdb, broker.pid), nothing else needs it, and a `mkdir db` (0755) before the first
 * start is the common way to get there. Files an older broker left 0644 are fixed before the open.
 */
function makeOwnerOnly(path: string, dataFile: string, warnings: string[]): void {
  const dirMode = statSync(path).mode & 0o777;
  if (dirMode & 0o077) {
    chmodSync(path, dirMode & 0o700);
    warnings.push(
      `the database directory ${path} was open to other accounts (mode ${dirMode.toString(8)}): ` +
        `made it ${(dirMode & 0o700).toString(8)}, owner-only`,
    );
  }
  for (const file of [dataFile, join(path, 'lock.mdb')]) {
    if (existsSync(file) && statSync(file).mode & 0o077) chmodSync(file, 0o600);
  }
  // lmdb-js crashes (SIGSEGV) rather than throws when it may not open an existing lock.mdb: ask first.
  accessSync(path, constants.R_OK | constants.W_OK | constants.X_OK);
  for (const file of [dataFile, join(path, 'lock.mdb')])
    if (existsSync(file)) accessSync(file, constants.R_OK | constants.W_OK);
}

export function openDatabase(dir: string, options: OpenOptions = {}): Database {
  const path = resolve(dir);
  let release: () => void = () => {};
  let root: RootDatabase | undefined;
  const warnings: string[] = [];
  // The umask is process-wide: restored as soon as LMDB has created its files (synchronous, so no other
  // code of ours runs in between).
  const umask = process.umask(0o077);
  try {
    const dataFile = join(path, 'data.mdb');
    try {
      mkdirSync(path, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new DatabaseOpenError(
        `cannot create the database directory ${path}: ${describeOpenError(path, err) ?? (err as Error).message}`,
      );
    }
    makeOwnerOnly(path, dataFile, warnings);
    release = acquireLock(path);
    checkDataFile(dataFile);
    if (existsSync(dataFile)) walkInChild(path, dataFile);
    // Durability: every commit is fsync'd (lmdb's default); inserts answer only after their commit.
    root = open({ path, ...LMDB_OPTIONS, mapSize: options.mapSize });
    process.umask(umask);
    const opened = root;
    surviveCommitFailures();

    const trees = openTrees(opened);
    const version = trees.meta.get('schema_version');
    if (version === undefined) {
      // A database with data but no schema version was not made by this broker (or lost its meta):
      // refuse rather than stamp it and serve it.
      if (TREE_NAMES.some((name) => name !== 'meta' && trees[name].getKeysCount({ limit: 1 }) > 0)) {
        throw new DatabaseOpenError(
          `the database ${path} holds data but no schema version: not a broker database, or its meta data is lost`,
        );
      }
      trees.meta.putSync('schema_version', SCHEMA_VERSION);
    } else if (typeof version !== 'number' || version > SCHEMA_VERSION) {
      throw new DatabaseOpenError(
        `the database ${path} has schema version ${String(version)}, newer than this broker understands ` +
          `(${SCHEMA_VERSION}); upgrade broker`,
      );
    }
    const stored = trees.meta.get(EPOCH_KEY);
    const epoch = typeof stored === 'string' ? stored : newEpoch();
    if (stored !== epoch) trees.meta.putSync(EPOCH_KEY, epoch);

    const usedBytes = usedBytesOf(opened, trees);
    if (options.mapSize !== undefined) enforceLimit(opened, trees, options.mapSize, usedBytes);

    const releaseLock = release;
    return {
      path,
      ...trees,
      root: opened,
      epoch,
      usedBytes,
      warnings,
      async close() {
        try {
          await opened.close();
        } finally {
          releaseLock();
        }
      },
    };
  } catch (err) {
    if (root) void root.close().catch(() => {});
    release();
    if (err instanceof DatabaseOpenError || err instanceof DatabaseInUseError) throw err;
    const why = describeOpenError(path, err) ?? `${(err as Error).message} (is it corrupt? restore a backup)`;
    throw new DatabaseOpenError(`cannot open the database ${path}: ${why}`);
  } finally {
    process.umask(umask);
  }
}
