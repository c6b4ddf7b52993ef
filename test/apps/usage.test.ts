// The anonymous active-user count (APPS-API.md): POST /count, POST /log, GET /count, GET /{appID}/count;
// ids kept, renewed or expired with the test clock; only {id, platform, day} stored; the sweep.
import { afterEach, describe, expect, it } from 'vitest';
import { lmdbDatabase } from '../../src/storage/lmdb/storage.js';
import { startBroker, type TestBroker, testDir } from '../helpers/broker.js';
import { Clock } from '../security/support.js';
import { waitUntil } from '../helpers/wait.js';
import { singleNodeOnly } from '../helpers/nats-mode.js';
import { appWithKey, call, createApp, createKey } from './support.js';

const DAY = 86_400;
let brokers: TestBroker[] = [];
afterEach(async () => {
  for (const b of brokers) await b.stop();
  brokers = [];
});

async function broker(clock: Clock, dir: string, overrides: Record<string, unknown> = {}) {
  const b = await startBroker(overrides, { now: clock.now, dir });
  brokers.push(b);
  return b;
}

describe('usage counts', () => {
  it('gives a new id for "" and unknown ids, keeps a known one, counts ids per platform and all', async () => {
    const clock = new Clock();
    const b = await broker(clock, testDir());
    const { key } = await appWithKey(b.url);
    const first = await call(b.url, 'POST', '/count', key, { id: '', platform: 'ios' });
    expect(first.status).toBe(201);
    const id = first.body.id as string;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect((await call(b.url, 'POST', '/count', key, { id, platform: 'ios' })).body).toEqual({ id });
    const made = await call(b.url, 'POST', '/count', key, { id: 'made-up', platform: 'ios' });
    expect(made.body.id).not.toBe('made-up');
    const legacy = await call(b.url, 'POST', '/count?id=&platform=android', key);
    expect(legacy.status).toBe(201);
    const logged = await call(b.url, 'POST', '/log?id=&platform=web', key);
    expect(logged.status).toBe(201);
    expect(typeof logged.body.id).toBe('string');
    expect((await call(b.url, 'GET', '/count?platform=ios', key)).body).toEqual({ platform: 'ios', count: 2 });
    expect((await call(b.url, 'GET', '/count', key)).body).toEqual({ platform: 'all', count: 4 });
    expect((await call(b.url, 'GET', '/count?platform=all', key)).body).toEqual({ platform: 'all', count: 4 });
    const missing = await call(b.url, 'POST', '/log?platform=web', key);
    expect(missing.body.errorCode).toBe('invalidBody');
    const tooLong = await call(b.url, 'POST', '/count', key, { id: '', platform: 'x'.repeat(65) });
    expect(tooLong.body.errorCode).toBe('badRequest');
  });

  it('apps count apart; a management key reads any app', async () => {
    const clock = new Clock();
    const b = await broker(clock, testDir(), { management_app: 'boss' });
    const one = await appWithKey(b.url);
    const two = await appWithKey(b.url);
    await call(b.url, 'POST', '/count', one.key, { id: '', platform: 'ios' });
    expect((await call(b.url, 'GET', '/count', two.key)).body.count).toBe(0);
    await createApp(b.url, { app_id: 'boss' });
    const boss = await createKey(b.url, 'boss', { permissions: {} });
    expect((await call(b.url, 'GET', `/${one.app_id}/count`, boss.key)).body).toEqual({ platform: 'all', count: 1 });
  });

  // It reads the stored entry from LMDB itself (only {id, platform, day} is kept).
  it.skipIf(singleNodeOnly)(
    'an id seen 31 days ago is gone (swept) and no longer counted; one seen 29 days ago stays',
    async () => {
      const clock = new Clock();
      const dir = testDir();
      let b = await broker(clock, dir);
      const { key, app_id } = await appWithKey(b.url);
      const old = (await call(b.url, 'POST', '/count', key, { id: '', platform: 'ios' })).body.id;
      clock.advance(2 * DAY);
      const recent = (await call(b.url, 'POST', '/count', key, { id: '', platform: 'ios' })).body.id;
      expect((await call(b.url, 'GET', '/count', key)).body.count).toBe(2);
      await b.stop();
      brokers = [];
      clock.advance(29 * DAY);
      // The sweep runs at start (and every minute).
      b = await broker(clock, dir);
      expect((await call(b.url, 'GET', '/count', key)).body.count).toBe(1);
      const db = lmdbDatabase(b.services.storage);
      await waitUntil(() => db.usage.get([app_id, old]) === undefined);
      const stored = db.usage.get([app_id, recent]);
      // Nothing but {id, platform, day}.
      expect(stored).toEqual({ id: recent, platform: 'ios', day: expect.any(Number) });
      expect(Array.from(db.usage_days.getKeys({})).length).toBe(1);
      // The old id is unknown now: it gets a new one. The recent one is kept.
      expect((await call(b.url, 'POST', '/count', key, { id: old, platform: 'ios' })).body.id).not.toBe(old);
      expect((await call(b.url, 'POST', '/count', key, { id: recent, platform: 'ios' })).body.id).toBe(recent);
    },
  );

  it('an id not seen for 30 days gets a new one even before the sweep removed it', async () => {
    const clock = new Clock();
    const b = await broker(clock, testDir());
    const { key } = await appWithKey(b.url);
    const id = (await call(b.url, 'POST', '/count', key, { id: '', platform: 'ios' })).body.id;
    clock.advance(30 * DAY);
    expect((await call(b.url, 'GET', '/count', key)).body.count).toBe(0);
    expect((await call(b.url, 'POST', '/count', key, { id, platform: 'ios' })).body.id).not.toBe(id);
  });

  it('many concurrent counts are all committed (batched) before they are answered', async () => {
    const clock = new Clock();
    const dir = testDir();
    const b = await broker(clock, dir);
    const { key } = await appWithKey(b.url);
    const answers = await Promise.all(
      Array.from({ length: 200 }, () => call(b.url, 'POST', '/count', key, { id: '', platform: 'web' })),
    );
    expect(answers.every((a) => a.status === 201)).toBe(true);
    expect((await call(b.url, 'GET', '/count', key)).body.count).toBe(200);
  });
});
