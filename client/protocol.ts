// The wire protocol, defined once: the server (src/) and this client both import these names and
// shapes, so the two cannot drift apart. No code here, only what travels on the wire.

/** The server's own SSE event name: "drop local state, a fresh snapshot follows". Users may not insert it. */
export const RESET_EVENT = 'reset';

/**
 * The log's epoch: made when the database is created, renewed when history is lost (a backup restored).
 * An SSE response carries it in this header (and in a first `:epoch <epoch>` comment line); a resume sends
 * it back, with its last id, in the `epoch` query parameter or this header. An id from another epoch gets
 * `event:reset` and the snapshot.
 */
export const EPOCH_HEADER = 'broker-epoch';
export const EPOCH_PARAM = 'epoch';

/** One event as GET /events answers it: `data` exactly as inserted, `timestamp` in ms since 1970. */
export interface HistoryEvent<T = unknown> {
  id: number;
  event: string;
  data: T;
  timestamp: number;
}

/** GET /events: a page of the log; `next` is there when the page was cut short (pass it as `after`). */
export interface HistoryPage<T = unknown> {
  events: HistoryEvent<T>[];
  next?: number;
}

/** GET /verify: the token's user and expiry, with the biscuit (key and token bytes) for offline checks. */
export interface Verification {
  key: number[];
  token: number[];
  expiry: number;
  username: string;
  scopes: string[];
}
