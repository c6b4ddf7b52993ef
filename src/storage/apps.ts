// AppStore: apps (app_id → app) and their API keys, keyed by the SHA-256 of the key (hex): a request's key
// is found by hashing it once, never by a scan; the key itself is never stored. lmdb/apps.ts implements it.
import type { Signal } from '../lib/signal.js';

export interface AppRecord {
  app_id: string;
  name: string;
  /** The Broker tenant the app's users and events belong to. */
  tenant_name: string;
  created: number;
}

export interface KeyRecord {
  /** sha256 of the key, hex: the tree's key. */
  hash: string;
  /** The public handle administration uses. */
  key_id: string;
  app_id: string;
  alias: string;
  permissions: Record<string, boolean>;
  /** Unix seconds after which the key is dead; -1 = no planned death. */
  death: number;
  allowed_origins: string[];
  /** ms since epoch. */
  created: number;
  /** ms since epoch, 0 = never; written at most once a minute (apps/keys.ts). */
  last_used: number;
}

/** A key write applied on a cluster node, from any node (AppStore.keyChanges). */
export type KeyChange = { put: KeyRecord[] } | { deleted: string } | { appDeleted: string };

export interface AppStore {
  /**
   * A cluster node's: every key write and app deletion applied here, from any node, once committed
   * (apps/keys.ts keeps its in-memory index in step with it). One node has none: its keys change only
   * through its own ApiKeys, which updates the index itself.
   */
  readonly keyChanges?: Signal<KeyChange>;
  getApp(appId: string): AppRecord | undefined;
  /** false when the app_id is taken. */
  createApp(app: AppRecord): Promise<boolean>;
  /** Deletes the app and every key of it, in one transaction. */
  deleteApp(appId: string): Promise<boolean>;
  listApps(): AppRecord[];
  /** Every key (read once at start: the domain keeps them in memory for O(1) checks). */
  listKeys(): KeyRecord[];
  putKey(key: KeyRecord): Promise<void>;
  /** Writes many keys in one commit (last_used flushes). */
  putKeys(keys: KeyRecord[]): Promise<void>;
  deleteKey(hash: string): Promise<boolean>;
}
