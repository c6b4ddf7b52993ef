// What a storage engine's failures mean to the rest of the broker, whatever the engine: each engine turns
// its own errors into these where its writes are awaited, so that errors.ts (the HTTP answers) and the
// domains (login counting failures in memory when a write is refused) never learn an engine's codes.

/** A write refused because the database reached its size limit (--map_size): nothing was written. */
export class StorageFullError extends Error {
  override readonly name = 'StorageFullError';
}

/** A write the disk refused (full, over quota, failing): nothing was written. */
export class DiskFullError extends Error {
  override readonly name = 'DiskFullError';
}

/** The database cannot be opened (corrupt, truncated, missing, not writable): the message says why. */
export class DatabaseOpenError extends Error {}

/** Another broker holds the database (one writer process per database). */
export class DatabaseInUseError extends Error {}

/** A backup or a restore refused (bad input, a file in the way): the message says why, in one line. */
export class BackupError extends Error {}

/** A write that failed for lack of room (the database's limit or the disk's): retrying later may work. */
export function isStorageFull(err: unknown): boolean {
  return err instanceof StorageFullError || err instanceof DiskFullError;
}

/**
 * A cluster write that the replicated log could not take now (no JetStream quorum, NATS unreachable, no
 * answer in time): nothing the request asked for was applied here; retrying later may work (503).
 */
export class NoQuorumError extends Error {
  override readonly name = 'NoQuorumError';
}

/** A write larger than one replicated message may be (the NATS server's max_payload): refused, nothing written. */
export class WriteTooLargeError extends Error {
  override readonly name = 'WriteTooLargeError';
}
