// migrate() round-trips a database through the Storage seams: users with their hashes, links, apps and
// keys, crash reports and archived digests, usage counts, the token deny list, the signing keys, and every
// tenant's events (a tenant no user names too) with their ids, timestamps and pruned history; it refuses a target
// that holds anything. Engine-generic: here LMDB to LMDB (test/cluster/migrate-cli.test.ts goes to NATS).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { migrate, MigrateRefusedError, type MigrateCounts } from '../../src/storage/migrate.js';
import { openStorage, type Storage } from '../../src/storage/storage.js';
import type { UserRecord } from '../../src/storage/users.js';
import { testDir } from '../helpers/broker.js';

const TOPICS = '\u007ftopics';

function user(username: string, tenant: string): UserRecord {
  return {
    id: `id-${username}`,
    username,
    password: `$argon2id$v=19$m=65536,t=3,p=4$hash-of-${username}`,
    totp: 'JBSWY3DPEHPK3PXP',
    revoked: false,
    tenant_name: tenant,
    email: `${username}@example.com`,
    scopes: ['read'],
    data: { plan: username.length },
    two_factor: null,
    token_version: 3,
    totp_last_step: 12345,
    reset: null,
    failures: 1,
    locked_until: 0,
    recovery_codes: ['hashed-code'],
    created_at: 1_700_000_000_000,
    updated_at: 1_700_000_000_001,
  };
}

/** A source database with a bit of everything, and the events it holds per tenant (in order). */
async function fill(db: Storage): Promise<Map<string, { event: string; data: string }[]>> {
  await db.secrets.load({});
  await db.secrets.saveBiscuitKey('ab'.repeat(32));
  await db.secrets.saveTopicKey('{"kty":"EC","crv":"P-256"}');
  expect(await db.users.create(user('alice', 'tenant-a'))).toBe(true);
  expect(await db.users.create(user('bob', 'tenant-b'))).toBe(true);
  expect(await db.identityLinks.link({ issuer: 'https://idp', subject: 's1', username: 'alice', linked_at: 5 })).toBe(
    true,
  );
  expect(await db.apps.createApp({ app_id: 'app1', name: 'One', tenant_name: 'tenant-app', created: 7 })).toBe(true);
  await db.apps.putKey({
    hash: 'h1',
    key_id: 'k1',
    app_id: 'app1',
    alias: 'main',
    permissions: { count: true },
    death: 0,
    allowed_origins: ['https://a.example'],
    created: 8,
    last_used: 9,
  });
  await db.crashes.update('app1', 'c1', () => ({
    id: 'c1',
    error: 'TypeError',
    firstLine: 'at x',
    individual: [{ platform: 'web', version: '1', error: 'TypeError', stack: 'at x', count: 2 }],
  }));
  // More than one page of migrate's list reads.
  await Promise.all(Array.from({ length: 1500 }, (_, i) => db.crashes.archive('app1', `digest-${i}`)));
  await db.usage.putMany(
    Array.from({ length: 2500 }, (_, i) => ({
      appId: 'app1',
      entry: { id: `anon-${i}`, platform: ['web', 'ios'][i % 2]!, day: 20_000 + (i % 3) },
    })),
  );
  await Promise.all(
    Array.from({ length: 1200 }, (_, i) => db.deniedTokens.add(`token-hash-${i}`, 2_000_000_000 + (i % 5))),
  );
  const events = new Map<string, { event: string; data: string }[]>();
  // Interleaved over tenants, with repeated names, so order and latest-per-name both matter; tenant-a
  // holds more than one page of migrate's reads.
  for (let i = 0; i < 1200; i++) {
    // 'orphan': a tenant no user or app names (its user was deleted); its events move too.
    const tenant = i % 20 < 16 ? 'tenant-a' : ['tenant-b', 'tenant-app', TOPICS, 'orphan'][(i % 20) - 16]!;
    const e = { event: `name${i % 7}`, data: JSON.stringify({ i, text: 'x'.repeat(i % 50) }) };
    await db.log.append(tenant, e.event, e.data);
    events.set(tenant, [...(events.get(tenant) ?? []), e]);
  }
  return events;
}

function allRecords(db: Storage, tenant: string) {
  return db.log.scan(tenant, { limit: 100_000, maxBytes: 1 << 30, maxExamined: 100_000, maxExaminedBytes: 1 << 30 })
    .records;
}

function allEvents(db: Storage, tenant: string): { event: string; data: string }[] {
  const page = db.log.scan(tenant, {
    limit: 100_000,
    maxBytes: 1 << 30,
    maxExamined: 100_000,
    maxExaminedBytes: 1 << 30,
  });
  expect(page.end).toBe(true);
  return page.records.map((r) => ({ event: r.event, data: r.data }));
}

describe('migrate', () => {
  it('copies users with hashes, links, apps, keys, crashes, keys of the tokens and every event in order', async () => {
    const dir = testDir();
    let clock = 1_600_000_000_000;
    const source = openStorage(join(dir, 'source'), { now: () => (clock += 1000) });
    const target = openStorage(join(dir, 'target'));
    try {
      const events = await fill(source);
      // Retention ran on the source: tenant-a's ids have gaps and a pruned floor, which the copy keeps.
      expect(await source.log.prune({ maxAgeMs: 0, maxEvents: 300 }, clock)).toBeGreaterThan(0);
      for (const [tenant, list] of events) {
        const kept = new Set(allRecords(source, tenant).map((r) => `${r.event}\u0000${r.data}`));
        events.set(
          tenant,
          list.filter((e) => kept.has(`${e.event}\u0000${e.data}`)),
        );
      }
      expect(source.log.prunedThrough('tenant-a')).toBeGreaterThan(0);
      const steps: string[] = [];
      let last: MigrateCounts | undefined;
      const counts = await migrate(source, target, {
        progress: (step, c) => {
          steps.push(step);
          last = { ...c };
        },
      });
      const kept = [...events.values()].reduce((n, list) => n + list.length, 0);
      expect(counts).toEqual({
        ...{ users: 2, links: 1, apps: 1, keys: 1, crashes: 1, archived: 1500, usage: 2500, denied: 1200 },
        ...{ events: kept, tenants: 5 },
      });
      expect(last).toEqual(counts);
      expect(steps[0]).toBe('secrets');
      expect(steps.at(-1)).toBe('done');
      expect(steps.filter((s) => s === 'events').length).toBeGreaterThan(3);

      expect(target.users.list()).toEqual(source.users.list());
      expect(target.users.emailOwner('alice@example.com')).toBe('alice');
      expect(target.identityLinks.find('https://idp', 's1')).toBe('alice');
      expect(target.apps.listApps()).toEqual(source.apps.listApps());
      expect(target.apps.listKeys()).toEqual(source.apps.listKeys());
      expect(target.crashes.list('app1', 10)).toEqual(source.crashes.list('app1', 10));
      const secrets = await target.secrets.load({});
      expect(secrets.biscuitPrivateKey).toBe('ab'.repeat(32));
      expect(secrets.topicPrivateJwk).toBe('{"kty":"EC","crv":"P-256"}');
      expect(target.crashes.archived('app1', undefined, 10_000)).toEqual(
        source.crashes.archived('app1', undefined, 10_000),
      );
      expect(target.crashes.isArchived('app1', 'digest-1499')).toBe(true);
      expect(target.usage.page(undefined, 10_000)).toEqual(source.usage.page(undefined, 10_000));
      for (const day of [20_000, 20_001, 20_002])
        expect(target.usage.countDay('app1', day, 'ios')).toBe(source.usage.countDay('app1', day, 'ios'));
      expect(target.deniedTokens.page(undefined, 10_000)).toEqual(source.deniedTokens.page(undefined, 10_000));
      expect(target.deniedTokens.has('token-hash-7', 2_000_000_002)).toBe(true);
      expect(target.log.tenants(undefined, 100)).toEqual(source.log.tenants(undefined, 100));
      for (const [tenant, expected] of events) {
        expect(allEvents(target, tenant)).toEqual(expected);
        // The same ids and timestamps, the same pruned floor and next id.
        expect(allRecords(target, tenant)).toEqual(allRecords(source, tenant));
        expect(target.log.prunedThrough(tenant)).toBe(source.log.prunedThrough(tenant));
        expect(target.log.lastId(tenant)).toBe(source.log.lastId(tenant));
        // The same latest-per-name snapshot: the same data under each name's newest id.
        const latest = (db: Storage) =>
          db.log.getMany(tenant, db.log.latestIds(tenant), 1 << 30).records.map((r) => [r.event, r.data]);
        expect(latest(target)).toEqual(latest(source));
      }
    } finally {
      await source.close();
      await target.close();
    }
  }, 60_000);

  it('refuses a target that already holds users or events, and writes nothing to it', async () => {
    const dir = testDir();
    const source = openStorage(join(dir, 'source'));
    const target = openStorage(join(dir, 'target'));
    try {
      await source.users.create(user('alice', 'tenant-a'));
      await source.log.append('tenant-a', 'e', '1');
      await target.log.append('tenant-a', 'other', '2');
      await expect(migrate(source, target)).rejects.toThrow(MigrateRefusedError);
      await expect(migrate(source, target)).rejects.toThrow(/not empty: tenant "tenant-a" has events/);
      expect(target.users.list()).toEqual([]);
      expect(allEvents(target, 'tenant-a')).toEqual([{ event: 'other', data: '2' }]);

      const target2 = openStorage(join(dir, 'target2'));
      try {
        await target2.users.create(user('carol', 'tenant-c'));
        await expect(migrate(source, target2)).rejects.toThrow(/not empty: it has 1 user/);
        expect(allEvents(target2, 'tenant-a')).toEqual([]);
      } finally {
        await target2.close();
      }
    } finally {
      await source.close();
      await target.close();
    }
  });
});
