// lmdb-js's failures, classified: the LMDB stores turn them into storage/errors.ts's classes where
// their writes are awaited (`classified`), so nothing above storage/ knows LMDB's codes or stack paths.
import { DiskFullError, StorageFullError } from '../errors.js';

/**
 * A full map: LMDB's MDB_MAP_FULL (code -30792), or the "MDB_MAP_FULL" refusal of map-limit.ts, which
 * enforces --map_size because lmdb-js grows its map by itself.
 */
export function isMapFull(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  return (
    !!e &&
    (e instanceof StorageFullError ||
      e.code === -30792 ||
      e.code === 'MDB_MAP_FULL' ||
      (typeof e.message === 'string' && e.message.includes('MDB_MAP_FULL')))
  );
}

/**
 * A failed commit in lmdb-js (disk full, over quota, I/O error): the "Commit failed" error each write of
 * the batch rejects with (it carries `commitError`), or that shared cause, an LMDB status with a numeric
 * code raised in lmdb-js's write path. Not a key-size or encoding error (no code): those are bugs.
 */
export function isCommitFailure(err: unknown): boolean {
  const e = err as { code?: unknown; stack?: unknown; commitError?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  if (e.commitError !== undefined) return true;
  return typeof e.code === 'number' && typeof e.stack === 'string' && /[\\/]lmdb[\\/]write\.js/.test(e.stack);
}

/** The disk (or the process's file size limit, or a quota) refused to grow a file: errno as text or number. */
export function isDiskFull(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG' || code === 28 || code === 122 || code === 27;
}

/** lmdb's failure as the engine-neutral error it means; anything else (a bug) as it is. */
export function toStorageError(err: unknown): unknown {
  if (err instanceof StorageFullError || err instanceof DiskFullError) return err;
  if (isMapFull(err)) return new StorageFullError((err as Error).message, { cause: err });
  if (isDiskFull(err) || isCommitFailure(err)) return new DiskFullError((err as Error).message, { cause: err });
  return err;
}

/** Awaits an lmdb write (or a function that starts one and may throw at once), classifying its failure. */
export async function classified<T>(write: Promise<T> | (() => Promise<T>)): Promise<T> {
  try {
    return await (typeof write === 'function' ? write() : write);
  } catch (err) {
    throw toStorageError(err);
  }
}

/** An open that failed for a reason of the filesystem, not of the data: say so, not "corrupt". */
export function describeOpenError(path: string, err: unknown): string | undefined {
  const e = err as NodeJS.ErrnoException;
  const text = `${e.code ?? ''} ${e.message ?? ''}`;
  if (/EACCES|EPERM|permission denied|operation not permitted/i.test(text)) {
    return (
      `no permission to write the database (${e.message}): the directory and its files must be owned by and ` +
      `writable for the user running broker (check with: ls -la ${path})`
    );
  }
  if (/EROFS|read-only file system/i.test(text))
    return `it is on a read-only file system (${e.message}): choose a writable --db`;
  if (/ENOTDIR|not a directory/i.test(text))
    return `it is not a directory, or a part of its path is a file (${e.message}): choose another --db`;
  if (/EEXIST/i.test(text)) return `it exists and is not a directory (${e.message}): choose another --db`;
  if (/ENOSPC|no space left/i.test(text)) return `no space left on its device (${e.message})`;
  return undefined;
}

let survivingCommitFailures = false;

/**
 * When a commit fails (the disk is full or failing), lmdb-js rejects promises nobody can handle: its
 * shared `commitError` promise, and the put promises of the batch that callers do not await. Unhandled,
 * Node would end the process, every reader and stream with it, for a condition the requests that did
 * await their writes already answer (507). Those rejections, and only those, are absorbed; any other
 * unhandled rejection is re-thrown, which is exactly Node's default (it becomes an uncaught exception).
 */
export function surviveCommitFailures(): void {
  if (survivingCommitFailures) return;
  survivingCommitFailures = true;
  process.on('unhandledRejection', (reason) => {
    if (isCommitFailure(reason)) return;
    throw reason;
  });
}
