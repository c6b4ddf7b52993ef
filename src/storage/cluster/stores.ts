// The smaller seams of a cluster node: reads from the local LMDB read model, every write a message on the
// stream applied by every node (apply.ts). Checks that decide a write (a link taken, an app_id taken, a key
// gone) run in the apply, so the first message in stream order wins on every node.
import { KeyedQueue } from '../../lib/keyed-queue.js';
import type { Signal } from '../../lib/signal.js';
import type { IdentityLink, IdentityLinkStore, TokenDenylist } from '../accounts.js';
import type { AppRecord, AppStore, KeyChange, KeyRecord } from '../apps.js';
import type { CrashChange, CrashReport, CrashStore } from '../crashes.js';
import { NoQuorumError } from '../errors.js';
import type { Storage } from '../storage.js';
import type { UsageEntry, UsageStore } from '../usage.js';
import { digestOf, STALE } from './apply.js';
import type { ClusterNode } from './node.js';
import type { WriteOp } from './messages.js';
import { MAX_TRIES } from './users.js';

export function clusterLinks(local: IdentityLinkStore, node: ClusterNode): IdentityLinkStore {
  return {
    find: (issuer, subject) => local.find(issuer, subject),
    ofUser: (username) => local.ofUser(username),
    link: (link: IdentityLink) => node.write<boolean>({ op: 'links.link', link }),
    unlink: (username, issuer) => node.write<number>({ op: 'links.unlink', username, issuer }),
  };
}

/** `loggedOut`: fed by the apply of every 'denied.add' that names its user (apply.ts). */
export function clusterDenylist(
  local: TokenDenylist,
  node: ClusterNode,
  loggedOut: Signal<{ username: string }>,
): TokenDenylist {
  return {
    has: (hash, exp) => local.has(hash, exp),
    page: (after, limit) => local.page(after, limit),
    add: (hash, exp, username) =>
      node.write<void>({ op: 'denied.add', hash, exp, ...(username === undefined ? {} : { username }) }),
    prune: (now, limit) => node.write<number>({ op: 'denied.prune', now, limit }),
    loggedOut,
  };
}

/** `keyChanges`: fed by the apply of every key write and app deletion (apply.ts), from any node. */
export function clusterApps(local: AppStore, node: ClusterNode, keyChanges: Signal<KeyChange>): AppStore {
  return {
    keyChanges,
    getApp: (appId) => local.getApp(appId),
    listApps: () => local.listApps(),
    listKeys: () => local.listKeys(),
    createApp: (app: AppRecord) => node.write<boolean>({ op: 'apps.create', app }),
    deleteApp: (appId) => node.write<boolean>({ op: 'apps.delete', appId }),
    putKey: (key: KeyRecord) => node.write<void>({ op: 'keys.put', keys: [key], onlyExisting: false }),
    putKeys: (keys) =>
      keys.length === 0 ? Promise.resolve() : node.write<void>({ op: 'keys.put', keys, onlyExisting: true }),
    deleteKey: (hash) => node.write<boolean>({ op: 'keys.delete', hash }),
  };
}

export function clusterUsage(local: UsageStore, node: ClusterNode): UsageStore {
  return {
    get: (appId, id) => local.get(appId, id),
    countDay: (appId, day, platform) => local.countDay(appId, day, platform),
    page: (after, limit) => local.page(after, limit),
    putMany: (entries: { appId: string; entry: UsageEntry }[]) =>
      entries.length === 0 ? Promise.resolve() : node.write<void>({ op: 'usage.put', entries }),
    sweep: (beforeDay, limit) => node.write<number>({ op: 'usage.sweep', beforeDay, limit }),
  };
}

export function clusterCrashes(local: CrashStore, node: ClusterNode): CrashStore {
  // One update of a report at a time from this node (lib/keyed-queue.ts says why).
  const updates = new KeyedQueue();
  return {
    get: (appId, id) => local.get(appId, id),
    list: (appId, limit) => local.list(appId, limit),
    isArchived: (appId, digest) => local.isArchived(appId, digest),
    archived: (appId, after, limit) => local.archived(appId, after, limit),
    delete: (appId, id) => node.write<boolean>({ op: 'crashes.delete', appId, id }),
    archive: (appId, digest) => node.write<void>({ op: 'crashes.archive', appId, digest }),
    // Read-modify-write as a conditional put, like UserStore.update (users.ts).
    update: (appId: string, id: string, change: CrashChange) =>
      updates.run(`${appId}\0${id}`, () => put(appId, id, change)),
  };

  async function put(appId: string, id: string, change: CrashChange): Promise<void> {
    for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
      if (attempt > 0) await node.sync();
      const current = local.get(appId, id);
      const next = change(current && structuredClone(current));
      if (next === false) return;
      const expect = digestOf(current);
      const patch = current && next ? patchOf(current, next) : undefined;
      const outcome = await node.write<unknown>(
        patch
          ? { op: 'crashes.patch', appId, id, expect, ...patch }
          : { op: 'crashes.put', appId, id, expect, next: (next ?? null) as CrashReport | null },
      );
      if (outcome !== STALE) return;
    }
    throw new NoQuorumError('the crash report kept meeting concurrent updates: retry');
  }
}

/** The parts of a cluster Storage that are the local model's as they are. */
export type LocalParts = Pick<Storage, 'identityLinks' | 'deniedTokens' | 'apps' | 'usage' | 'crashes'>;

/**
 * `next` as counts changed and individuals appended to `current`, or undefined when it is another change
 * (a field other than the list, an individual removed or changed beyond its count): then the whole report.
 */
function patchOf(current: CrashReport, next: CrashReport): Pick<CrashPatch, 'counts' | 'append'> | undefined {
  const { individual: before, ...restBefore } = current;
  const { individual: after, ...restAfter } = next;
  if (after.length < before.length || JSON.stringify(restBefore) !== JSON.stringify(restAfter)) return undefined;
  const counts: [number, number][] = [];
  for (let i = 0; i < before.length; i++) {
    const { count: was, ...a } = before[i]!;
    const { count: is, ...b } = after[i]!;
    if (JSON.stringify(a) !== JSON.stringify(b)) return undefined;
    if (was !== is) counts.push([i, is]);
  }
  return { counts, append: after.slice(before.length) };
}

type CrashPatch = Extract<WriteOp, { op: 'crashes.patch' }>;
