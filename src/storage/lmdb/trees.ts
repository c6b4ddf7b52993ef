// The registry of LMDB trees (named sub-databases): the one list that the open, the integrity walk
// (integrity.ts), usedBytes and the --map_size guard (map-limit.ts) all read, so a new store adds one
// entry here and nothing else learns its name.
//   meta    string          -> schema_version, epoch, secrets, pruned:<tenant>, bytes:<tenant>, ...
//   users   username        -> UserRecord
//   events  [tenant, id]    -> {e: event name, d: data as compact JSON, t: timestamp ms}
//   latest  [tenant, name]  -> id of that name's latest event
//   identity_links   [issuer, subject]            -> {username, linked_at}   (OIDC logins)
//   user_identities  [username, issuer, subject]  -> linked_at              (get_user, unlink)
//   denied_tokens    [exp, sha256 of the token]   -> 1                      (POST /logout)
//   idempotency      [scope, key]      -> {h: content hash, i: id, t: ms}
//   idempotency_age  [t, scope, key]   -> true (the sweep's order)
// Array keys compare element by element, so tenant "a" never sees the keys of tenant "ab".
import type { Database as LmdbTree, Key, RootDatabase } from 'lmdb';
import type { StoredEvent } from '../pages.js';
import type { IdentityLink } from '../accounts.js';
import type { UserRecord } from '../users.js';
import type { AppRecord, KeyRecord } from '../apps.js';
import type { CrashReport } from '../crashes.js';
import type { UsageEntry } from '../usage.js';

/**
 * What the --map_size guard lets a tree's puts use: `identity` may fill the map to its limit, `events`
 * stop a reserve short of it (map-limit.ts: one tenant's events cannot stop logins), `bookkeeping` is
 * never refused (a few small keys that must land with the deletes that free space).
 */
export type Budget = 'identity' | 'events' | 'bookkeeping';

export interface TreeSpec<K extends Key, V> {
  readonly budget: Budget;
  /**
   * How the integrity walk reads the tree: `values` decodes every value, `keys` reads the pages by key
   * only (a log is big; decoding it all would slow every start).
   */
  readonly walk: 'values' | 'keys';
  /**
   * The schema version that first had this tree: the walk requires it in databases of that version or
   * newer (the first start creates every tree), so a tree added later comes with a version bump.
   */
  readonly since: number;
  /** Types only: what the tree's keys and values are. */
  readonly types?: { key: K; value: V };
}

const tree = <K extends Key, V>(spec: TreeSpec<K, V>) => spec;

export const TREES = {
  meta: tree<string, unknown>({ budget: 'bookkeeping', walk: 'values', since: 1 }),
  users: tree<string, UserRecord>({ budget: 'identity', walk: 'values', since: 1 }),
  latest: tree<[string, string], number>({ budget: 'events', walk: 'values', since: 1 }),
  events: tree<[string, number], StoredEvent>({ budget: 'events', walk: 'keys', since: 1 }),
  identity_links: tree<[string, string], Pick<IdentityLink, 'username' | 'linked_at'>>({
    budget: 'identity',
    walk: 'values',
    since: 2,
  }),
  user_identities: tree<[string, string, string], number>({ budget: 'identity', walk: 'values', since: 2 }),
  denied_tokens: tree<[number, string], 1>({ budget: 'identity', walk: 'keys', since: 2 }),
  // Apps (src/apps): apps by app_id, API keys by the hex sha256 of the key, usage counts ([app, id] and
  // the day index [day, app, platform, id]), crash reports and archive.
  apps: tree<string, AppRecord>({ budget: 'identity', walk: 'values', since: 2 }),
  api_keys: tree<string, KeyRecord>({ budget: 'identity', walk: 'values', since: 2 }),
  // Every user's email (emailKey → username), the UserStore's one index (lmdb/users.ts); named when it
  // held only the emails of users made through an app.
  app_emails: tree<string, string>({ budget: 'identity', walk: 'values', since: 2 }),
  usage: tree<[string, string], UsageEntry>({ budget: 'events', walk: 'keys', since: 2 }),
  usage_days: tree<[number, string, string, string], true>({ budget: 'events', walk: 'keys', since: 2 }),
  crashes: tree<[string, string], CrashReport>({ budget: 'events', walk: 'keys', since: 2 }),
  crash_archive: tree<[string, string], true>({ budget: 'events', walk: 'keys', since: 2 }),
  // Idempotency-Key answers (idempotency.ts), swept after 24 h. `since: 2` without a schema bump: the
  // integrity walk checks them where present and does not require them in databases made before.
  idempotency: tree<[string, string], { h: string; i: number; t: number }>({
    budget: 'events',
    walk: 'values',
    since: 2,
  }),
  idempotency_age: tree<[number, string, string], true>({ budget: 'events', walk: 'keys', since: 2 }),
};

export type TreeName = keyof typeof TREES;

/** Each tree of the registry, opened, typed by its entry. */
export type Trees = {
  [N in TreeName]: (typeof TREES)[N] extends TreeSpec<infer K, infer V> ? LmdbTree<V, K> : never;
};

export const TREE_NAMES = Object.keys(TREES) as TreeName[];

export function openTrees(root: RootDatabase): Trees {
  const trees: Record<string, unknown> = {};
  for (const name of TREE_NAMES) trees[name] = root.openDB({ name });
  return trees as Trees;
}

/** The trees whose puts a budget governs. */
export function treesOf(trees: Trees, budget: Budget): LmdbTree<unknown, Key>[] {
  return TREE_NAMES.filter((name) => TREES[name].budget === budget).map(
    (name) => trees[name] as unknown as LmdbTree<unknown, Key>,
  );
}
