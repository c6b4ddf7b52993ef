// `broker migrate --db DIR --nats URLS` end to end: a database filled through a real single-node broker's
// routes is copied into an empty JetStream (a real nats-server); a cluster node started on that stream
// answers the same routes the same way: the same users (with their password hashes), /events with the same
// ids, timestamps and epoch, GET /count, the crash list (an archived crash still dropped), a logged-out token
// still 401, and the events of a tenant no user holds any more; a second run refuses.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStorage, type Storage } from '../../src/storage/storage.js';
import { ADMIN, runCli, startBroker, testDir, type TestBroker } from '../helpers/broker.js';
import { bearer, get, makeUser, post } from '../helpers/http.js';
import { natsServerBinary, SKIP_NATS, startNats } from '../helpers/nats.js';
import { appWithKey, call, crash } from '../apps/support.js';

const everything = { limit: 10_000, maxBytes: 1 << 28, maxExamined: 10_000, maxExaminedBytes: 1 << 28 };
const recordsOf = (s: Storage, tenant: string) => s.log.scan(tenant, everything).records;

/** What the routes answer, asked the same way of the old node and of the cluster node. */
async function answers(url: string, who: { alice: string; loggedOut: string; key: string }) {
  const events = await get(url, '/events?limit=1000', bearer(who.alice));
  // Reported again: dropped on both (its digest is archived), so the list below stays the same.
  const again = await call(url, 'POST', '/crash', who.key, crash({ platform: 'android' }));
  return {
    events: { status: events.status, epoch: events.headers.get('broker-epoch'), body: events.body },
    verify: (await get(url, '/verify', bearer(who.alice))).status,
    loggedOut: (await get(url, '/verify', bearer(who.loggedOut))).status,
    countAll: (await call(url, 'GET', '/count', who.key)).body,
    countIos: (await call(url, 'GET', '/count?platform=ios', who.key)).body,
    crashAgain: again.status,
    crashes: (await call(url, 'GET', '/crash', who.key)).body,
  };
}

describe.skipIf(SKIP_NATS)('broker migrate', () => {
  it('copies a single-node database into an empty cluster that answers alike; refuses a non-empty one', async () => {
    natsServerBinary();
    const dir = testDir();
    const db = join(dir, 'db');
    const broker = await startBroker({ db, crash_rate_limit: 0 }, { dir });
    const alice = await makeUser(broker.url, { username: 'alice', tenant_name: 'tenant-a' });
    const bob = await makeUser(broker.url, { username: 'bob', tenant_name: 'tenant-b' });
    const carol = await makeUser(broker.url, { username: 'carol', tenant_name: 'tenant-c' });
    for (let i = 0; i < 30; i++) {
      const r = await post(broker.url, '/insert', { event: `e${i % 4}`, data: { i } }, bearer(alice.jwt));
      expect(r.status).toBe(200);
    }
    for (let i = 0; i < 5; i++)
      expect((await post(broker.url, '/insert', { event: 'c', data: i }, bearer(carol.jwt))).status).toBe(200);
    // tenant-c is nobody's now: its events stay in the database, and must move with it.
    const moved = await post(broker.url, '/update_user', { admin_token: ADMIN, username: 'carol', tenant_name: 'x' });
    expect(moved.status, moved.text).toBe(200);
    // A token logged out of: refused before the move, refused after it.
    const session = await post(broker.url, '/login', { username: 'bob', password: bob.password });
    expect((await post(broker.url, '/logout', {}, bearer(session.body.jwt))).status).toBe(200);
    const { key } = await appWithKey(broker.url);
    for (const platform of ['ios', 'ios', 'android', 'web'])
      expect((await call(broker.url, 'POST', '/count', key, { id: '', platform })).status).toBe(201);
    for (const c of [crash(), crash({ platform: 'android' }), crash({ error: 'RangeError' })])
      expect((await call(broker.url, 'POST', '/crash', key, c)).status).toBe(201);
    const archived = await call(broker.url, 'POST', '/crash/archive', key, { ...crash(), platform: 'all' });
    expect(archived.status).toBe(200);
    const who = { alice: alice.jwt, loggedOut: session.body.jwt as string, key };
    const before = await answers(broker.url, who);
    expect(before).toMatchObject({ verify: 200, loggedOut: 401, countAll: { count: 4 }, countIos: { count: 2 } });
    expect(before.crashes).toHaveLength(1);
    expect(before.events.body.events).toHaveLength(30);
    await broker.stop();

    const nats = await startNats(1);
    let node: TestBroker | undefined;
    try {
      const first = await runCli(['migrate', '--db', db, '--nats', nats.urls, '--nats_replicas', '1']);
      expect(first.stderr).toMatch(/migrate: users: 3 users/);
      expect(first.stdout).toMatch(
        /into the cluster: 3 users, .* 1 archived crashes, 4 usage ids, 1 denied tokens, 35 events in 2 streams/,
      );
      expect(first.code).toBe(0);

      node = await startBroker(
        { db: join(dir, 'node'), nats: nats.urls, nats_replicas: 1, crash_rate_limit: 0 },
        { dir },
      );
      expect(await answers(node.url, who)).toEqual(before);

      const source = openStorage(db);
      const cluster = node.services.storage;
      try {
        expect(cluster.users.get('alice')?.password).toBe(source.users.get('alice')?.password);
        expect(cluster.users.list().map((u) => u.username)).toEqual(['alice', 'bob', 'carol']);
        for (const tenant of ['tenant-a', 'tenant-c'])
          expect(recordsOf(cluster, tenant)).toEqual(recordsOf(source, tenant));
        expect(recordsOf(cluster, 'tenant-c')).toHaveLength(5);
        expect(cluster.epoch).toBe(source.epoch);
        // The old server's JWT secret and admin token are the cluster's: its tokens keep working.
        const kept = await source.secrets.load({});
        const moved = await cluster.secrets.load({});
        expect(moved.jwtSecret).toBe(kept.jwtSecret);
        expect(moved.adminToken).toBe(kept.adminToken);
      } finally {
        await source.close();
      }

      const again = await runCli(['migrate', '--db', db, '--nats', nats.urls, '--nats_replicas', '1']);
      expect(again.stderr).toMatch(/refusing to migrate: the target is not empty: it has 3 user/);
      expect(again.code).toBe(2);
    } finally {
      await node?.stop();
      await nats.stop();
    }
  }, 120_000);
});
