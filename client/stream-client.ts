// What a subscription (and the tab sharing) needs of its client, as an interface of their own: BrokerClient
// is one, and subscription.ts need not import client.ts, which imports it (no cycle).
import type { BackoffOptions } from './backoff.js';

/** What a subscription needs of its client (BrokerClient is one): requests, the token and its renewal. */
export interface StreamClient {
  readonly url: string;
  readonly token: string | undefined;
  readonly options: { readonly reconnect?: BackoffOptions; readonly idleTimeoutMs?: number };
  readonly canRelogin: boolean;
  send(path: string, init: RequestInit, what: string): Promise<Response>;
  authHeaders(): Record<string, string>;
  relogin(stale: string | undefined): Promise<void>;
  ensureFreshToken(): Promise<void>;
  /** A subscription is open (the token is renewed ahead of expiry only while one is). */
  retain(): void;
  release(): void;
}
