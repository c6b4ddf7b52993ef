// A database of schema version 1 (before the apps' trees) opens with this build: the integrity walk
// skips the trees newer than the database, the open creates them, and the apps routes work on it.
import { describe, expect, it } from 'vitest';
import { lmdbDatabase } from '../../src/storage/lmdb/storage.js';
import { TREES, TREE_NAMES } from '../../src/storage/lmdb/trees.js';
import { startBroker, testDir } from '../helpers/broker.js';
import { makeUser } from '../helpers/http.js';
import { appWithKey, call } from './support.js';

describe('schema 1 → 2', () => {
  it('a version-1 database without the apps trees opens, keeps its users, and serves the apps routes', async () => {
    const dir = testDir();
    let broker = await startBroker({}, { dir });
    const user = await makeUser(broker.url);
    const db = lmdbDatabase(broker.services.storage);
    const newer = TREE_NAMES.filter((name) => TREES[name].since > 1);
    expect(newer).toContain('api_keys');
    for (const name of newer) await db[name].drop();
    await db.meta.put('schema_version', 1);
    await broker.stop();
    broker = await startBroker({}, { dir });
    try {
      expect(broker.services.identity.users.find(user.username)).toBeDefined();
      const { key } = await appWithKey(broker.url);
      expect((await call(broker.url, 'POST', '/count', key, { id: '', platform: 'ios' })).status).toBe(201);
    } finally {
      await broker.stop();
    }
  });

  it('a database from before the one email index gets it at open: an admin-made email is taken', async () => {
    const dir = testDir();
    let broker = await startBroker({}, { dir });
    const user = await makeUser(broker.url, { email: 'old@before.example' });
    const db = lmdbDatabase(broker.services.storage);
    await db.app_emails.clearAsync();
    await db.meta.remove('emails_indexed');
    await broker.stop();
    broker = await startBroker({}, { dir });
    try {
      expect(broker.services.identity.users.emailOwner('OLD@before.example')).toBe(user.username);
      const { key } = await appWithKey(broker.url);
      const taken = await call(broker.url, 'POST', '/user/create', key, {
        username: 'newcomer',
        password: 'a long enough password',
        email: 'old@before.example',
      });
      expect([taken.status, taken.body.errorCode]).toEqual([401, 'taken']);
    } finally {
      await broker.stop();
    }
  });
});
