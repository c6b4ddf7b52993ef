// `broker migrate`: copies one database into another through the Storage seams only, so it moves a
// single-node LMDB into an empty cluster (or any engine into any other). It writes in the order a node
// would have: secrets, users (with their hashes), links, apps and keys, crash reports, then every
// tenant's events oldest first, so each tenant keeps its order (ids are renumbered by the target, from 1
// per tenant, and its epoch is new, so old Last-Event-IDs replay from the start).
// It refuses a target that holds anything: merging two histories is not a copy.
import type { Storage } from './storage.js';

/** Bounds of one read of the source: a page, never the whole log, in memory at once. */
const PAGE = { limit: 1000, maxBytes: 8 << 20, maxExamined: 10_000, maxExaminedBytes: 64 << 20 };
/** The most crash reports one app keeps (the list is read in one bounded call). */
const MAX_CRASHES_PER_APP = 100_000;

export interface MigrateCounts {
  users: number;
  links: number;
  apps: number;
  keys: number;
  crashes: number;
  events: number;
  tenants: number;
}

export interface MigrateOptions {
  /** Tenants no user or app names (the topics stream): their events are copied too. */
  extraTenants?: readonly string[];
  /** Called after each step and each page of events, with the counts so far. */
  progress?: (step: string, counts: MigrateCounts) => void;
}

export class MigrateRefusedError extends Error {
  override readonly name = 'MigrateRefusedError';
}

/** What the target already holds, or undefined when it is empty (nothing a copy would collide with). */
export function nonEmpty(target: Storage, tenants: readonly string[]): string | undefined {
  if (target.users.list().length > 0) return `it has ${target.users.list().length} user(s)`;
  if (target.apps.listApps().length > 0) return `it has ${target.apps.listApps().length} app(s)`;
  for (const tenant of tenants) {
    if (target.log.lastId(tenant) > 0) return `tenant ${JSON.stringify(tenant)} has events`;
  }
  return undefined;
}

export async function migrate(source: Storage, target: Storage, options: MigrateOptions = {}): Promise<MigrateCounts> {
  const counts: MigrateCounts = { users: 0, links: 0, apps: 0, keys: 0, crashes: 0, events: 0, tenants: 0 };
  const progress = (step: string) => options.progress?.(step, counts);
  const users = source.users.list();
  const apps = source.apps.listApps();
  const tenants = [
    ...new Set([
      ...users.map((u) => u.tenant_name),
      ...apps.map((a) => a.tenant_name),
      ...(options.extraTenants ?? []),
    ]),
  ];
  const refusal = nonEmpty(target, tenants);
  if (refusal) throw new MigrateRefusedError(`the target is not empty: ${refusal}`);

  // The keys signing biscuits and topic tokens: a token issued before the move still verifies after it.
  const secrets = await source.secrets.load({});
  // The JWT secret and the admin token: the target keeps none yet, so these become its own.
  await target.secrets.load({ jwtSecret: secrets.jwtSecret, adminToken: secrets.adminToken });
  if (secrets.biscuitPrivateKey) await target.secrets.saveBiscuitKey(secrets.biscuitPrivateKey);
  if (secrets.topicPrivateJwk) await target.secrets.saveTopicKey(secrets.topicPrivateJwk);
  progress('secrets');

  for (const user of users) {
    if (!(await target.users.create(user))) throw new MigrateRefusedError(`user ${user.username} exists in the target`);
    counts.users++;
    for (const link of source.identityLinks.ofUser(user.username)) {
      if (await target.identityLinks.link(link)) counts.links++;
    }
  }
  progress('users');

  for (const app of apps) {
    if (!(await target.apps.createApp(app))) throw new MigrateRefusedError(`app ${app.app_id} exists in the target`);
    counts.apps++;
    for (const report of source.crashes.list(app.app_id, MAX_CRASHES_PER_APP)) {
      await target.crashes.update(app.app_id, report.id, () => report);
      counts.crashes++;
    }
  }
  // putKey, not putKeys: putKeys only refreshes keys that exist (the last_used flush).
  for (const key of source.apps.listKeys()) {
    await target.apps.putKey(key);
    counts.keys++;
  }
  progress('apps');

  for (const tenant of tenants) {
    let after = 0;
    let copied = false;
    for (;;) {
      const page = source.log.scan(tenant, { ...PAGE, after });
      // One at a time: the target orders them as given, and a failure stops at a known point.
      for (const record of page.records) await target.log.append(tenant, record.event, record.data);
      counts.events += page.records.length;
      copied ||= page.records.length > 0;
      if (page.records.length) progress('events');
      if (page.end || page.through === undefined) break;
      after = page.through;
    }
    if (copied) counts.tenants++;
  }
  progress('done');
  return counts;
}
