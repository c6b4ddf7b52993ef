// Every error the API answers with is created here, with its HTTP status, so that handlers and the
// domain code throw meaning ("not found") and only the error handler knows it becomes {"error": "..."}.
import { DiskFullError, NoQuorumError, StorageFullError, WriteTooLargeError } from './storage/errors.js';

export class BrokerError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** One message for every login failure, so that usernames cannot be probed. */
export const LOGIN_FAILED = 'invalid username, password or code';

export const badRequest = (message: string) => new BrokerError(400, 'BAD_REQUEST', message);
export const unauthorized = (message = 'unauthorized') => new BrokerError(401, 'UNAUTHORIZED', message);
export const notFound = (message: string) => new BrokerError(404, 'NOT_FOUND', message);
export const conflict = (message: string) => new BrokerError(400, 'CONFLICT', message);
export const tooMany = (message: string, retryAfterSeconds?: number) =>
  new BrokerError(
    429,
    'TOO_MANY',
    message,
    retryAfterSeconds === undefined ? {} : { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))) },
  );
export const busy = (message: string) => new BrokerError(503, 'BUSY', message, { 'retry-after': '1' });
export const storageFull = () =>
  new BrokerError(
    507,
    'STORAGE_FULL',
    'the database is full (--map_size reached): nothing was written; reads still work. ' +
      'Raise --map_size or let retention free space, then retry',
  );
export const diskFull = () =>
  new BrokerError(
    507,
    'STORAGE_FULL',
    'the database could not write to its disk (full, over quota or failing): nothing was written; ' +
      'reads still work. Free disk space, then retry',
  );

export const noQuorum = () =>
  new BrokerError(
    503,
    'NO_QUORUM',
    'the cluster did not confirm the write in time (no JetStream quorum or NATS unreachable); it may ' +
      'still land, once and whole: retry with the same Idempotency-Key where the route takes one; reads still work',
    { 'retry-after': '2' },
  );

/** The disk (or the process's file size limit, or a quota) refused a file write outside the storage engine. */
function isDiskFull(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG';
}

export interface HttpError {
  statusCode: number;
  headers: Record<string, string>;
  body: { error: string };
}

/** The one mapping from anything thrown to an HTTP answer. */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof BrokerError)
    return { statusCode: err.statusCode, headers: err.headers, body: { error: err.message } };
  // The storage engines classify their failures (storage/errors.ts): no engine's codes are known here.
  if (err instanceof StorageFullError) return toHttpError(storageFull());
  if (err instanceof DiskFullError || isDiskFull(err)) return toHttpError(diskFull());
  if (err instanceof NoQuorumError) return toHttpError(noQuorum());
  if (err instanceof WriteTooLargeError) return toHttpError(new BrokerError(413, 'TOO_LARGE', err.message));
  const e = err as { statusCode?: number; validation?: unknown; message?: string; code?: string };
  if (e?.validation) return { statusCode: 400, headers: {}, body: { error: e.message ?? 'invalid request' } };
  if (e && typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    let message = e.message ?? 'bad request';
    if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') message = 'request body is too large';
    if (e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') message = 'request body must be JSON';
    return { statusCode: e.statusCode, headers: {}, body: { error: message } };
  }
  return { statusCode: 500, headers: {}, body: { error: 'internal error' } };
}

/**
 * A per-tenant limit (--tenant_quota, --tenant_max_event_names) refuses a write: retrying will not help
 * until something changes.
 */
export const tenantLimit = (message: string) => new BrokerError(403, 'TENANT_LIMIT', message);
