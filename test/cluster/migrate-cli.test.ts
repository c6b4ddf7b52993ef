// `broker migrate --db DIR --nats URLS` end to end: a database filled through a real single-node broker's
// routes is copied into an empty JetStream (a real nats-server); a cluster node opened on that stream
// reads the same users (with their password hashes), the same events in the same order; a second run refuses.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openClusterStorage } from '../../src/storage/cluster/storage.js';
import { openStorage, type Storage } from '../../src/storage/storage.js';
import { runCli, startBroker, testDir } from '../helpers/broker.js';
import { bearer, makeUser, post } from '../helpers/http.js';
import { natsServerBinary, SKIP_NATS, startNats } from '../helpers/nats.js';

const everything = { limit: 10_000, maxBytes: 1 << 28, maxExamined: 10_000, maxExaminedBytes: 1 << 28 };
const eventsOf = (s: Storage, tenant: string) =>
  s.log.scan(tenant, everything).records.map((r) => ({ event: r.event, data: r.data }));

describe.skipIf(SKIP_NATS)('broker migrate', () => {
  it('copies a single-node database into an empty cluster, and refuses a non-empty one', async () => {
    natsServerBinary();
    const dir = testDir();
    const db = join(dir, 'db');
    const broker = await startBroker({ db }, { dir });
    const alice = await makeUser(broker.url, { username: 'alice', tenant_name: 'tenant-a' });
    await makeUser(broker.url, { username: 'bob', tenant_name: 'tenant-b' });
    for (let i = 0; i < 30; i++) {
      const r = await post(broker.url, '/insert', { event: `e${i % 4}`, data: { i } }, bearer(alice.jwt));
      expect(r.status).toBe(200);
    }
    await broker.stop();

    const nats = await startNats(1);
    const model = join(dir, 'model');
    try {
      const first = await runCli(['migrate', '--db', db, '--nats', nats.urls, '--nats_replicas', '1']);
      expect(first.stderr).toMatch(/migrate: users: 2 users/);
      expect(first.stdout).toMatch(/migrated .* into the cluster: 2 users, .* 30 events in 1 streams/);
      expect(first.code).toBe(0);

      const source = openStorage(db);
      const cluster = await openClusterStorage(model, { nats: { urls: nats.urls, replicas: 1 } });
      try {
        expect(cluster.users.get('alice')?.password).toBe(source.users.get('alice')?.password);
        expect(cluster.users.list().map((u) => u.username)).toEqual(['alice', 'bob']);
        expect(eventsOf(cluster, 'tenant-a')).toEqual(eventsOf(source, 'tenant-a'));
        expect(eventsOf(cluster, 'tenant-a')).toHaveLength(30);
        // The old server's JWT secret and admin token are the cluster's: its tokens keep working.
        const kept = await source.secrets.load({});
        const moved = await cluster.secrets.load({});
        expect(moved.jwtSecret).toBe(kept.jwtSecret);
        expect(moved.adminToken).toBe(kept.adminToken);
      } finally {
        await cluster.close();
        await source.close();
      }

      const again = await runCli(['migrate', '--db', db, '--nats', nats.urls, '--nats_replicas', '1']);
      expect(again.stderr).toMatch(/refusing to migrate: the target is not empty: it has 2 user/);
      expect(again.code).toBe(2);
    } finally {
      await nats.stop();
    }
  }, 90_000);
});
