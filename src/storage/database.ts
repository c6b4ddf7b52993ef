// Opens the LMDB environment and its sub-databases. Nothing above storage/ imports lmdb: the stores
// below are the seams where another engine can plug in later.
//
// Two things LMDB does not do for us are done here:
// - It trusts its file. Garbage or a truncated file can crash the process (SIGSEGV/SIGBUS on a page
//   that is not there) instead of throwing, so the file is checked by hand before and after opening,
//   and anything wrong is a DatabaseOpenError with a clear message: never a silent empty start.
// - lmdb-js grows its map by itself whenever a write needs room (its LMDB is patched to), so
//   MDB_MAP_FULL never happens and the database would grow until the disk is full. --map_size is
//   made a real limit instead: once the live data (the pages of every tree, freed pages excluded)
//   reaches it, writes throw DatabaseFullError (the API answers 507) while reads and deletes go on.
//   Deleting (retention) frees pages and writes resume; a restart with a larger --map_size too.
import { spawnSync } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  closeSync,
  constants,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  statSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { open, type Database as LmdbDatabase, type RootDatabase } from 'lmdb';
import { isCommitFailure } from '../errors.js';
import { acquireLock, DatabaseInUseError } from './process-lock.js';

export const SCHEMA_VERSION = 1;

export class DatabaseOpenError extends Error {}

/** A write refused because the live data reached --map_size. `code` is what errors.ts maps to 507. */
export class DatabaseFullError extends Error {
  readonly code = 'MDB_MAP_FULL';
}

export interface Database {
  path: string;
  root: RootDatabase;
  meta: LmdbDatabase<unknown, string>;
  users: LmdbDatabase<unknown, string>;
  events: LmdbDatabase<unknown, [string, number]>;
  latest: LmdbDatabase<number, [string, string]>;
  /** Bytes of live data (every tree's pages), what --map_size bounds. */
  usedBytes(): number;
  /** What the open fixed and the startup log should say (a directory others could enter, made 0700). */
  warnings: string[];
  close(): Promise<void>;
}

export interface OpenOptions {
  /** The most live data the database may hold, in bytes; writes beyond it throw DatabaseFullError. */
  mapSize?: number;
}

/** How every broker opens LMDB: a directory (data.mdb + lock.mdb), four named trees, no compression. */
export const LMDB_OPTIONS = { noSubdir: false, maxDbs: 8, compression: false } as const;

const LMDB_MAGIC = 0xbeefc0de;
const META_PAGES = 2;

/**
 * Both meta pages of an existing data file must carry LMDB's magic and a sane page size before LMDB
 * maps the file. A file that does not exist is a new database; an empty one is not (LMDB writes its
 * meta pages at creation, so an empty data.mdb was truncated or never finished: refuse, not reinit).
 */
function checkDataFile(dataFile: string): void {
  let link: ReturnType<typeof lstatSync> | undefined;
  try {
    link = lstatSync(dataFile);
  } catch {
    link = undefined;
  }
  if (!link) {
    // lock.mdb outlives every run: with it and no data.mdb, the data was deleted or moved (or a disk is
    // not mounted). Starting would create an empty database in its place, silently.
    const lockFile = join(dirname(dataFile), 'lock.mdb');
    if (existsSync(lockFile)) {
      throw new DatabaseOpenError(
        `${dataFile} is missing but ${lockFile} is there: the database was deleted or moved. Restore it, or delete ${lockFile} to start a new, empty database`,
      );
    }
    return;
  }
  if (link.isSymbolicLink() && !existsSync(dataFile)) {
    throw new DatabaseOpenError(
      `${dataFile} is a symbolic link to nothing (is a disk not mounted?): refusing to create an empty database there`,
    );
  }
  const stat = statSync(dataFile);
  if (!stat.isFile()) throw new DatabaseOpenError(`${dataFile} is not a regular file`);
  if (stat.size === 0) {
    throw new DatabaseOpenError(
      `${dataFile} is empty (0 bytes): the database was truncated. Restore a backup, or delete the file to start a new, empty database`,
    );
  }
  const fd = openSync(dataFile, 'r');
  const head = Buffer.alloc(64);
  let pageSize = 0;
  try {
    if (readSync(fd, head, 0, 64, 0) < 64)
      throw new DatabaseOpenError(`${dataFile} is truncated (${stat.size} bytes): not an LMDB database`);
    pageSize = head.readUInt32LE(48);
    if (
      head.readUInt32LE(24) !== LMDB_MAGIC ||
      pageSize < 512 ||
      pageSize > 65536 ||
      (pageSize & (pageSize - 1)) !== 0
    ) {
      throw new DatabaseOpenError(`${dataFile} is not an LMDB database (bad header): corrupt or not a broker database`);
    }
    if (stat.size < META_PAGES * pageSize)
      throw new DatabaseOpenError(`${dataFile} is truncated (${stat.size} bytes): not an LMDB database`);
    const second = Buffer.alloc(160);
    if (readSync(fd, second, 0, 160, pageSize) < 160 || second.readUInt32LE(24) !== LMDB_MAGIC) {
      throw new DatabaseOpenError(`${dataFile} has a corrupt second meta page`);
    }
    const first = Buffer.alloc(160);
    readSync(fd, first, 0, 160, 0);
    // The newer meta page (higher txnid, at byte 152) says where the last page is (byte 144): a file
    // shorter than that would fault (SIGBUS) on the first read of a missing page.
    const meta = first.readBigUInt64LE(152) >= second.readBigUInt64LE(152) ? first : second;
    const needed = (Number(meta.readBigUInt64LE(144)) + 1) * pageSize;
    if (stat.size < needed)
      throw new DatabaseOpenError(
        `${dataFile} is truncated: ${stat.size} bytes, but its pages reach ${needed}. Restore a backup`,
      );
  } finally {
    closeSync(fd);
  }
}

/**
 * The checks a start makes before LMDB maps a file (header, both meta pages, length, then every page
 * read in a child process), for a database directory about to be put in place (restore).
 */
export function checkDatabaseFiles(dir: string): void {
  const dataFile = join(dir, 'data.mdb');
  if (!existsSync(dataFile)) throw new DatabaseOpenError(`no ${dataFile}`);
  checkDataFile(dataFile);
  walkInChild(dir, dataFile);
}

const require = createRequire(import.meta.url);

/**
 * Reads every page of an existing database in a child process before this one maps it: a corrupt page
 * can make LMDB crash (a SIGSEGV, or glibc aborting on a corrupt heap) rather than throw, and a crash
 * in a child is a clear refusal instead of a dead broker. Every value of meta, users and latest is
 * decoded; events are walked by key (their pages are read, the values are not decoded: logs are big).
 */
function walkInChild(path: string, dataFile: string): void {
  const script = `
    try {
    const { open } = require(${JSON.stringify(require.resolve('lmdb'))});
    const root = open({ path: ${JSON.stringify(path)}, ...${JSON.stringify(LMDB_OPTIONS)}, readOnly: true });
    let n = 0;
    for (const name of ['meta', 'users', 'latest', 'events']) {
      // Every broker database has all four (the first start creates them): failing to open one is damage.
      const db = root.openDB({ name });
      let seen = 0;
      if (name === 'events') { for (const _ of db.getKeys({})) seen++; }
      else { for (const { value } of db.getRange({})) { if (value === undefined) throw new Error('an undecodable value in ' + name); seen++; } }
      // LMDB keeps each tree's entry count in its root record: a garbled page that still parses as a
      // page shows up as a walk that finds fewer (or more) entries than the tree says it holds.
      const expected = db.getStats().entryCount;
      if (seen !== expected) throw new Error('the ' + name + ' tree says it holds ' + expected + ' entries, ' + seen + ' were readable');
      n += seen;
    }
    process.stdout.write(String(n));
    } catch (err) {
      process.stderr.write('CORRUPT: ' + (err && err.message ? err.message : String(err)) + '\\n');
      process.exit(1);
    }
  `;
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 300_000, maxBuffer: 1 << 20 });
  if (child.status === 0) return;
  // spawnSync's timeout kills with SIGTERM too: a slow check of a large database is not corruption.
  if ((child.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT') {
    throw new DatabaseOpenError(
      `checking ${dataFile} took over 5 minutes (a very large database on a slow disk?); it was not found corrupt, but the broker will not open what it could not check`,
    );
  }
  const why = child.signal
    ? `reading it crashed a checker process (${child.signal})`
    : child.error
      ? `it could not be checked: ${child.error.message}`
      : (
          /CORRUPT: (.*)/.exec(child.stderr)?.[1] ??
          `the checker failed (exit ${child.status}): ${child.stderr.trim().split('\n')[0] ?? ''}`
        ).trim();
  // A checker that may not open the files (lock.mdb not writable) found nothing wrong with the data.
  const denied = describeOpenError(dirname(dataFile), { message: why });
  if (denied && /permission|read-only/.test(denied))
    throw new DatabaseOpenError(`cannot open the database ${dirname(dataFile)}: ${denied}`);
  throw new DatabaseOpenError(`${dataFile} is corrupt: ${why}. Restore a backup (broker restore)`);
}

interface TreeStats {
  pageSize: number;
  treeBranchPageCount: number;
  treeLeafPageCount: number;
  overflowPages: number;
  lastPageNumber: number;
  free: TreeStats;
}

const treePages = (s: TreeStats | undefined) => (s ? s.treeBranchPageCount + s.treeLeafPageCount + s.overflowPages : 0);

/**
 * The share of --map_size kept for identity (users, the meta keys): event writes are refused once the
 * live data reaches the limit less this, so one tenant's events filling the map cannot stop logins,
 * user changes or admin work for every tenant; those writes may use the margin.
 */
export function identityReserve(limit: number): number {
  return Math.min(Math.max(Math.floor(limit / 20), 64 * 1024), 64 * 1024 * 1024);
}

/** Makes --map_size a limit: the write entry points the stores use check the live size first. */
// biome-ignore lint/suspicious/noExplicitAny: the guard wraps trees of every key and value type
type AnyTree = LmdbDatabase<any, any>;

function enforceLimit(
  root: RootDatabase,
  stores: { identity: AnyTree[]; events: AnyTree[] },
  limit: number,
  usedBytes: () => number,
): void {
  // Inside a transaction callback the transaction was already checked when it began, and a refusal in
  // its middle would abort it half-way for no gain: only top-level writes are checked.
  let inTransaction = 0;
  // usedBytes() costs 5 mdb_stat calls (~30 µs), a fifth of an insert's CPU if done on every put. Far
  // from the limit a figure up to 100 ms old is good enough (writing the remaining margin in 100 ms is
  // out of reach of fsync'd commits); near it, every write measures afresh.
  const margin = Math.max(limit / 10, 64 * 1024 * 1024);
  const eventLimit = limit - identityReserve(limit);
  let used = 0;
  let measuredAt = -Infinity;
  const check = (cap: number) => {
    if (inTransaction > 0) return;
    const now = performance.now();
    if (used >= limit - margin || now - measuredAt > 100) {
      used = usedBytes();
      measuredAt = now;
    }
    if (used >= cap) {
      const what = cap === limit ? '' : ` (events may use ${cap} of it; the rest is kept for users and logins)`;
      throw new DatabaseFullError(
        `MDB_MAP_FULL: the database holds ${used} bytes of live data, its --map_size is ${limit}${what}`,
      );
    }
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
  // Deletes stay allowed (they are how space comes back); meta holds a few small bookkeeping keys that
  // must land even when full (retention's "pruned through" marker goes with the deletes it records).
  const wrapPuts = (store: AnyTree, cap: number) => {
    for (const name of ['put', 'putSync'] as const) {
      const original = (store[name] as (...args: unknown[]) => unknown).bind(store);
      (store as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
        // Throws synchronously: callers `void` some puts, and a rejected promise there would be unhandled.
        check(cap);
        return original(...args);
      };
    }
  };
  for (const store of stores.identity) wrapPuts(store, limit);
  for (const store of stores.events) wrapPuts(store, eventLimit);
}

let survivingCommitFailures = false;

/**
 * When a commit fails (the disk is full or failing), lmdb-js rejects promises nobody can handle: its
 * shared `commitError` promise, and the put promises of the batch that callers do not await. Unhandled,
 * Node would end the process, every reader and stream with it, for a condition the requests that did
 * await their writes already answer (errors.ts: 507). Those rejections, and only those, are absorbed;
 * any other unhandled rejection is re-thrown, which is exactly Node's default (it becomes an uncaught
 * exception).
 */
function surviveCommitFailures(): void {
  if (survivingCommitFailures) return;
  survivingCommitFailures = true;
  process.on('unhandledRejection', (reason) => {
    if (isCommitFailure(reason)) return;
    throw reason;
  });
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
      `the database directory ${path} was open to other accounts (mode ${dirMode.toString(8)}): made it ${(dirMode & 0o700).toString(8)}, owner-only`,
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

/** An open that failed for a reason of the filesystem, not of the data: say so, not "corrupt". */
function describeOpenError(path: string, err: unknown): string | undefined {
  const e = err as NodeJS.ErrnoException;
  const text = `${e.code ?? ''} ${e.message ?? ''}`;
  if (/EACCES|EPERM|permission denied|operation not permitted/i.test(text)) {
    return `no permission to write the database (${e.message}): the directory and its files must be owned by and writable for the user running broker (check with: ls -la ${path})`;
  }
  if (/EROFS|read-only file system/i.test(text))
    return `it is on a read-only file system (${e.message}): choose a writable --db`;
  if (/ENOTDIR|not a directory/i.test(text))
    return `it is not a directory, or a part of its path is a file (${e.message}): choose another --db`;
  if (/EEXIST/i.test(text)) return `it exists and is not a directory (${e.message}): choose another --db`;
  if (/ENOSPC|no space left/i.test(text)) return `no space left on its device (${e.message})`;
  return undefined;
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

    const meta = opened.openDB<unknown, string>({ name: 'meta' });
    const users = opened.openDB<unknown, string>({ name: 'users' });
    const events = opened.openDB<unknown, [string, number]>({ name: 'events' });
    const latest = opened.openDB<number, [string, string]>({ name: 'latest' });
    const version = meta.get('schema_version');
    if (version === undefined) {
      // A database with users or events but no schema version was not made by this broker (or lost
      // its meta): refuse rather than stamp it and serve it.
      if (users.getKeysCount({ limit: 1 }) > 0 || events.getKeysCount({ limit: 1 }) > 0) {
        throw new DatabaseOpenError(
          `the database ${path} holds data but no schema version: not a broker database, or its meta data is lost`,
        );
      }
      meta.putSync('schema_version', SCHEMA_VERSION);
    } else if (typeof version !== 'number' || version > SCHEMA_VERSION) {
      throw new DatabaseOpenError(
        `the database ${path} has schema version ${String(version)}, newer than this broker understands (${SCHEMA_VERSION}); upgrade broker`,
      );
    }

    const usedBytes = () => {
      const s = opened.getStats() as TreeStats;
      let pages = META_PAGES + treePages(s) + treePages(s.free);
      for (const store of [meta, users, events, latest]) pages += treePages(store.getStats() as TreeStats);
      return pages * s.pageSize;
    };
    if (options.mapSize !== undefined)
      enforceLimit(opened, { identity: [users], events: [events, latest] }, options.mapSize, usedBytes);

    const releaseLock = release;
    return {
      path,
      root: opened,
      meta,
      users,
      events,
      latest,
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
    throw new DatabaseOpenError(
      `cannot open the database ${path}: ${describeOpenError(path, err) ?? `${(err as Error).message} (is it corrupt? restore a backup)`}`,
    );
  } finally {
    process.umask(umask);
  }
}
