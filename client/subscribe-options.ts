// What subscribe() takes and what it hands to the app: the options, each event, and what an error means
// for the subscription (whether it tries again, and when).
import type { LatestView } from './latest.js';

export interface BrokerEvent<T = unknown> {
  id: number;
  event: string;
  data: T;
}

export interface ErrorInfo {
  /** false: the subscription has stopped for good (e.g. a 401 with no way to log in again). */
  retrying: boolean;
  /** When retrying: the wait before the next attempt. */
  delayMs?: number;
}

export interface SubscribeOptions {
  /** Only these event names (replay and live). Names containing "," cannot be filtered. */
  events?: string[];
  onEvent?: (event: BrokerEvent) => void;
  /** Connection problems, each with whether (and when) the subscription tries again. */
  onError?: (error: Error, info: ErrorInfo) => void;
  /** The broker sent `event:reset` (our position is older than its history): state was dropped. */
  onReset?: () => void;
  /** Each time a stream is established (first connect and every reconnection). */
  onOpen?: () => void;
  /** Aborting it closes the subscription, as close() does. */
  signal?: AbortSignal;
  /**
   * Start after this id (0 = the whole history). Default: the latest event of each name, then live.
   */
  lastEventId?: number;
  /** The epoch `lastEventId` came from (`sub.epoch` when it was saved), sent with it. */
  epoch?: string;
  /** Share a view between subscriptions; by default each has its own. */
  latest?: LatestView;
  /**
   * In a browser, tabs subscribing alike (same broker, user and `events`) share one stream: one tab
   * holds it and relays to the others, and another takes over when it closes (shared-stream.ts).
   * Default true in a browser page (not in Node, even one with Web Locks); never with `lastEventId`.
   * A tab whose client then switches user stops with a final error (subscribe again for the new user).
   */
  shareAcrossTabs?: boolean;
}
