// `broker backup` and `broker restore`: one file holding the whole database.
//
// Backup uses LMDB's own copy with compaction (mdb_env_copy2 + MDB_CP_COMPACT). It runs inside one read
// transaction, so the file is a consistent snapshot of the moment it began, and readers never block the
// writer: it is safe while a broker serves inserts. Every insert that was acknowledged (committed and
// fsync'd) before the backup began is in the copy.
//
// Restore refuses while a broker holds the database (its broker.pid lock), checks the file exactly as a
// start would (database.ts: header, meta pages, every page read in a child process) and that its schema
// is one this broker understands, and keeps the database it replaces beside it instead of deleting it.
// Files are fsync'd before each rename, so a crash never leaves a truncated file under the final name.
//
// A restore loses history (whatever was written after the backup), so it gives the restored database a
// new epoch: a client holding an id of the replaced history gets a reset, even once the restored log
// has grown back past that id.
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { open } from 'lmdb';
import { fsyncPath } from '../../lib/atomic-file.js';
import { BackupError, DatabaseOpenError } from '../errors.js';
import { newEpoch } from '../event-log.js';
import { EPOCH_KEY, SCHEMA_VERSION } from './database.js';
import { checkDatabaseFiles, LMDB_OPTIONS } from './integrity.js';
import { acquireLock } from './process-lock.js';

const DATA_FILE = 'data.mdb';

export async function backupDatabase(dbDir: string, outFile: string): Promise<{ file: string; bytes: number }> {
  const dir = resolve(dbDir);
  const out = resolve(outFile);
  if (!existsSync(join(dir, DATA_FILE))) throw new BackupError(`no database at ${dir} (no ${DATA_FILE}): check --db`);
  if (existsSync(out))
    throw new BackupError(`${out} already exists: choose a new --out file (a backup never overwrites one)`);
  mkdirSync(dirname(out), { recursive: true });
  // LMDB copies into a directory as data.mdb; a temporary folder beside the target makes the final
  // rename atomic (same filesystem), so a half-written backup never carries the final name.
  const staging = mkdtempSync(join(dirname(out), `.${basename(out)}.`));
  // No writer lock: backup only reads, and must work beside the running broker that holds it.
  const root = open({ path: dir, ...LMDB_OPTIONS, readOnly: true });
  try {
    await root.backup(staging, true);
    // The file holds password hashes, TOTP seeds and the JWT secret: owner-only, like the database.
    chmodSync(join(staging, DATA_FILE), 0o600);
    fsyncPath(join(staging, DATA_FILE));
    renameSync(join(staging, DATA_FILE), out);
    fsyncPath(dirname(out));
    return { file: out, bytes: statSync(out).size };
  } catch (err) {
    throw new BackupError(`backup of ${dir} failed: ${(err as Error).message}`);
  } finally {
    await root.close();
    rmSync(staging, { recursive: true, force: true });
  }
}

/** Checks a staged copy of the backup as a start would, then its schema version. */
async function checkBackup(stagingDir: string, source: string): Promise<void> {
  try {
    checkDatabaseFiles(stagingDir);
  } catch (err) {
    if (err instanceof DatabaseOpenError)
      throw new BackupError(`${source} is not a usable broker backup: ${err.message}`);
    throw err;
  }
  // Safe to open here now: every page was read without harm in a child process.
  const root = open({ path: stagingDir, ...LMDB_OPTIONS, readOnly: true });
  try {
    let version: unknown;
    try {
      version = root.openDB<unknown, string>({ name: 'meta' }).get('schema_version');
    } catch (err) {
      throw new BackupError(`${source} is not a broker database: ${(err as Error).message}`);
    }
    if (typeof version !== 'number') throw new BackupError(`${source} is not a broker database (no schema version)`);
    if (version > SCHEMA_VERSION) {
      throw new BackupError(
        `${source} has schema version ${version}, newer than this broker understands (${SCHEMA_VERSION}): ` +
          'upgrade broker first',
      );
    }
  } finally {
    await root.close();
  }
}

/** A new epoch in the staged copy, before it is moved into place (the put's commit is fsync'd). */
async function renewEpoch(stagingDir: string): Promise<void> {
  const root = open({ path: stagingDir, ...LMDB_OPTIONS });
  try {
    await root.openDB<unknown, string>({ name: 'meta' }).put(EPOCH_KEY, newEpoch());
  } finally {
    await root.close();
  }
  // The staged copy's reader table: not moved with data.mdb, and nothing to keep.
  rmSync(join(stagingDir, 'lock.mdb'), { force: true });
}

export async function restoreDatabase(
  inFile: string,
  dbDir: string,
): Promise<{ dir: string; previous: string | undefined }> {
  const source = resolve(inFile);
  const dir = resolve(dbDir);
  if (!existsSync(source) || !statSync(source).isFile())
    throw new BackupError(`no backup file at ${source}: check --in`);
  if (statSync(source).size < 4096)
    throw new BackupError(`${source} is too small to be an LMDB database (${statSync(source).size} bytes)`);
  // Owner-only, as a start would make it: the restored file holds every secret of the database.
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Throws DatabaseInUseError while a broker runs on `dir`; held until the restored file is in place,
  // so no broker can start on a half-restored database either.
  const release = acquireLock(dir);
  const staging = mkdtempSync(join(dir, '.restore-'));
  try {
    const staged = join(staging, DATA_FILE);
    copyFileSync(source, staged);
    chmodSync(staged, 0o600);
    fsyncPath(staged);
    await checkBackup(staging, source);
    await renewEpoch(staging);
    let previous: string | undefined;
    const target = join(dir, DATA_FILE);
    if (existsSync(target)) {
      previous = join(dir, `${DATA_FILE}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`);
      renameSync(target, previous);
    }
    renameSync(staged, target);
    fsyncPath(dir);
    // The reader table of the replaced file means nothing for the new one; LMDB recreates it.
    rmSync(join(dir, 'lock.mdb'), { force: true });
    return { dir, previous };
  } finally {
    rmSync(staging, { recursive: true, force: true });
    release();
  }
}
