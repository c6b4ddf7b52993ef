// `broker migrate`: copies one database into another through the Storage seams only, so it moves a
// single-node LMDB into an empty cluster (or any engine into any other). It writes in the order a node
// would have: secrets, users (with their hashes), links, apps with their crash reports and archived
// digests, keys, usage counts, the token deny list, then every tenant's events oldest first with their
// ids and timestamps (ids pruned there count as pruned here), so each route answers as the old database
// did. The long lists are read in bounded pages (users, keys and an app's crash reports whole). It refuses
// a target that holds anything: merging two histories is not a copy.
import type { Storage } from './storage.js';

/** Bounds of one read of the source: a page, never the whole log, in memory at once. */
const PAGE = { limit: 1000, maxBytes: 8 << 20, maxExamined: 10_000, maxExaminedBytes: 64 << 20 };
/** The most crash reports one app keeps (the list is read in one bounded call). */
const MAX_CRASHES_PER_APP = 100_000;
/** Entries of the smaller lists (tenants, usage ids, digests, denied tokens) read at once. */
const LIST_PAGE = 1000;

export interface MigrateCounts {
  users: number;
  links: number;
  apps: number;
  keys: number;
  crashes: number;
  archived: number;
  usage: number;
  denied: number;
  events: number;
  tenants: number;
}

export interface MigrateOptions {
  /** Called after each step and each page of events, with the counts so far. */
  progress?: (step: string, counts: MigrateCounts) => void;
}

export class MigrateRefusedError extends Error {
  override readonly name = 'MigrateRefusedError';
}

/** What the target already holds, or undefined when it is empty (nothing a copy would collide with). */
export function nonEmpty(target: Storage): string | undefined {
  if (target.users.list().length > 0) return `it has ${target.users.list().length} user(s)`;
  if (target.apps.listApps().length > 0) return `it has ${target.apps.listApps().length} app(s)`;
  const [tenant] = target.log.tenants(undefined, 1);
  if (tenant !== undefined) return `tenant ${JSON.stringify(tenant)} has events`;
  return undefined;
}

/** Every item of a paged list: `next(after)` answers the page after the item `after` (undefined: the first). */
async function eachPage<T>(next: (after: T | undefined) => T[], each: (page: T[]) => Promise<void>): Promise<void> {
  let after: T | undefined;
  for (;;) {
    const page = next(after);
    if (page.length === 0) return;
    await each(page);
    after = page.at(-1);
  }
}

export async function migrate(source: Storage, target: Storage, options: MigrateOptions = {}): Promise<MigrateCounts> {
  const counts: MigrateCounts = {
    ...{ users: 0, links: 0, apps: 0, keys: 0, crashes: 0, archived: 0, usage: 0, denied: 0 },
    ...{ events: 0, tenants: 0 },
  };
  const progress = (step: string) => options.progress?.(step, counts);
  const refusal = nonEmpty(target);
  if (refusal) throw new MigrateRefusedError(`the target is not empty: ${refusal}`);

  // The keys signing biscuits and topic tokens: a token issued before the move still verifies after it.
  const secrets = await source.secrets.load({});
  // The JWT secret and the admin token: the target keeps none yet, so these become its own.
  await target.secrets.load({ jwtSecret: secrets.jwtSecret, adminToken: secrets.adminToken });
  if (secrets.biscuitPrivateKey) await target.secrets.saveBiscuitKey(secrets.biscuitPrivateKey);
  if (secrets.topicPrivateJwk) await target.secrets.saveTopicKey(secrets.topicPrivateJwk);
  progress('secrets');

  for (const user of source.users.list()) {
    if (!(await target.users.create(user))) throw new MigrateRefusedError(`user ${user.username} exists in the target`);
    counts.users++;
    for (const link of source.identityLinks.ofUser(user.username)) {
      if (await target.identityLinks.link(link)) counts.links++;
    }
  }
  progress('users');

  for (const app of source.apps.listApps()) {
    if (!(await target.apps.createApp(app))) throw new MigrateRefusedError(`app ${app.app_id} exists in the target`);
    counts.apps++;
    for (const report of source.crashes.list(app.app_id, MAX_CRASHES_PER_APP)) {
      await target.crashes.update(app.app_id, report.id, () => report);
      counts.crashes++;
    }
    await eachPage(
      (after: string | undefined) => source.crashes.archived(app.app_id, after, LIST_PAGE),
      async (digests) => {
        // A page at a time, its writes at once: a set, in no order (a cluster publishes them side by side).
        await Promise.all(digests.map((digest) => target.crashes.archive(app.app_id, digest)));
        counts.archived += digests.length;
      },
    );
  }
  // putKey, not putKeys: putKeys only refreshes keys that exist (the last_used flush).
  for (const key of source.apps.listKeys()) {
    await target.apps.putKey(key);
    counts.keys++;
  }
  progress('apps');

  // Each id with its platform and last day: the counts of GET /count and the expiry sweep stay the same.
  await eachPage(
    (after: { appId: string; entry: { id: string } } | undefined) =>
      source.usage.page(after && { appId: after.appId, id: after.entry.id }, LIST_PAGE),
    async (entries) => {
      await target.usage.putMany(entries);
      counts.usage += entries.length;
    },
  );
  // Tokens logged out of stay refused (each entry leaves the list when its token expires anyway).
  await eachPage(
    (after: { hash: string; exp: number } | undefined) => source.deniedTokens.page(after, LIST_PAGE),
    async (entries) => {
      await Promise.all(entries.map(({ hash, exp }) => target.deniedTokens.add(hash, exp)));
      counts.denied += entries.length;
    },
  );
  progress('usage and logouts');

  // Every tenant holding events, whether or not a user or an app still names it (the topics stream too).
  await eachPage(
    (after: string | undefined) => source.log.tenants(after, LIST_PAGE),
    async (tenants) => {
      for (const tenant of tenants) if (await copyEvents(source, target, tenant, counts, progress)) counts.tenants++;
    },
  );
  progress('done');
  return counts;
}

/** One tenant's events, oldest first, with their ids and timestamps; whether it held any. */
async function copyEvents(
  source: Storage,
  target: Storage,
  tenant: string,
  counts: MigrateCounts,
  progress: (step: string) => void,
): Promise<boolean> {
  let after = 0;
  let copied = false;
  for (;;) {
    const page = source.log.scan(tenant, { ...PAGE, after });
    // One at a time: the target orders them as given, and a failure stops at a known point.
    for (const record of page.records) {
      const original = { id: record.id, timestamp: record.timestamp };
      await target.log.append(tenant, record.event, record.data, { original });
    }
    counts.events += page.records.length;
    copied ||= page.records.length > 0;
    if (page.records.length) progress('events');
    if (page.end || page.through === undefined) return copied;
    after = page.through;
  }
}
