// LMDB trusts its file. Garbage or a truncated file can crash the process (SIGSEGV/SIGBUS on a page that
// is not there) instead of throwing, so the file is checked by hand before and after opening, and
// anything wrong is a DatabaseOpenError with a clear message: never a silent empty start.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, lstatSync, openSync, readSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DatabaseOpenError } from '../errors.js';
import { describeOpenError } from './errors.js';
import { TREE_NAMES, TREES } from './trees.js';

/** How every broker opens LMDB: a directory (data.mdb + lock.mdb), the named trees, no compression. */
export const LMDB_OPTIONS = { noSubdir: false, maxDbs: 32, compression: false } as const;

const LMDB_MAGIC = 0xbeefc0de;
export const META_PAGES = 2;

/**
 * Both meta pages of an existing data file must carry LMDB's magic and a sane page size before LMDB
 * maps the file. A file that does not exist is a new database; an empty one is not (LMDB writes its
 * meta pages at creation, so an empty data.mdb was truncated or never finished: refuse, not reinit).
 */
export function checkDataFile(dataFile: string): void {
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
        `${dataFile} is missing but ${lockFile} is there: the database was deleted or moved. ` +
          `Restore it, or delete ${lockFile} to start a new, empty database`,
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
      `${dataFile} is empty (0 bytes): the database was truncated. ` +
        'Restore a backup, or delete the file to start a new, empty database',
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

/** The walk's plan, from the registry: meta first (it holds the schema version the others depend on). */
const WALK = TREE_NAMES.map((name) => ({ name, walk: TREES[name].walk, since: TREES[name].since }));

/**
 * Reads every page of an existing database in a child process before this one maps it: a corrupt page
 * can make LMDB crash (a SIGSEGV, or glibc aborting on a corrupt heap) rather than throw, and a crash
 * in a child is a clear refusal instead of a dead broker. Trees walked by value have every value
 * decoded; trees walked by key have their pages read, their values not decoded (logs are big).
 */
export function walkInChild(path: string, dataFile: string): void {
  const script = `
    try {
    const { open } = require(${JSON.stringify(require.resolve('lmdb'))});
    const root = open({ path: ${JSON.stringify(path)}, ...${JSON.stringify(LMDB_OPTIONS)}, readOnly: true });
    let n = 0;
    let version = 1;
    for (const { name, walk, since } of ${JSON.stringify(WALK)}) {
      // Every tree of the database's schema version exists (the first start creates them): failing to
      // open one is damage. A tree newer than the database's version is created by the open.
      let db;
      try { db = root.openDB({ name }); } catch (err) { if (since > version) continue; throw err; }
      // A read-only open answers a missing tree with undefined rather than an error.
      if (!db) { if (since > version) continue; throw new Error('the ' + name + ' tree is missing'); }
      let seen = 0;
      if (walk === 'keys') { for (const _ of db.getKeys({})) seen++; }
      else {
        for (const { value } of db.getRange({})) {
          if (value === undefined) throw new Error('an undecodable value in ' + name);
          seen++;
        }
      }
      if (name === 'meta' && typeof db.get('schema_version') === 'number') version = db.get('schema_version');
      // LMDB keeps each tree's entry count in its root record: a garbled page that still parses as a
      // page shows up as a walk that finds fewer (or more) entries than the tree says it holds.
      const expected = db.getStats().entryCount;
      if (seen !== expected)
        throw new Error('the ' + name + ' tree says it holds ' + expected + ' entries, ' + seen + ' were readable');
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
      `checking ${dataFile} took over 5 minutes (a very large database on a slow disk?); it was not found ` +
        'corrupt, but the broker will not open what it could not check',
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
