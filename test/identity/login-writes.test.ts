// A login writes only when it has something to record: a failure, a failure count or lock to clear, a
// TOTP step or recovery code consumed. So a full database (507 on writes) still lets users log in, and
// wrong passwords there are still counted toward the lock (in memory, since the record cannot be written).
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { startBroker, tempDir, type TestBroker } from '../helpers/broker.js';
import { basic, bearer, get, makeUser, post } from '../helpers/http.js';

const MiB = 1024 * 1024;
let broker: TestBroker | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await broker?.stop();
  broker = undefined;
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const stored = (b: TestBroker, username: string) => JSON.stringify(b.services.storage.users.get(username));

describe('logins that need no write', () => {
  it('a right password with nothing to clear leaves the record untouched; one after a failure clears it', async () => {
    broker = await startBroker();
    const user = await makeUser(broker.url);
    const before = stored(broker, user.username);
    for (let i = 0; i < 3; i++)
      expect((await post(broker.url, '/login', { username: user.username, password: user.password })).status).toBe(200);
    expect((await get(broker.url, '/verify', basic(user.username, user.password))).status).toBe(200);
    expect(stored(broker, user.username), 'no write (updated_at unchanged)').toBe(before);

    expect((await post(broker.url, '/login', { username: user.username, password: 'wrong password' })).status).toBe(
      401,
    );
    expect(broker.services.storage.users.get(user.username)).toMatchObject({ failures: 1 });
    expect((await post(broker.url, '/login', { username: user.username, password: user.password })).status).toBe(200);
    expect(broker.services.storage.users.get(user.username)).toMatchObject({ failures: 0, locked_until: 0 });
  });

  // On a cluster node too: it refuses, before publishing, a write its read model has no room for (room.ts).
  it('with the database full: the right password logs in, wrong ones still lock the account', async () => {
    const dir = tempDir();
    dirs.push(dir);
    broker = await startBroker({ map_size: 2 * MiB }, { dir });
    const user = await makeUser(broker.url);
    const spare = await makeUser(broker.url);
    let full = false;
    for (let i = 0; i < 200 && !full; i++) {
      const answer = await post(
        broker.url,
        '/insert',
        { event: `e${i % 4}`, data: { pad: 'x'.repeat(40_000) } },
        bearer(user.jwt),
      );
      full = answer.status === 507;
    }
    expect(full, 'the database filled up').toBe(true);

    const login = await post(broker.url, '/login', { username: user.username, password: user.password });
    expect(login.status, login.text).toBe(200);
    expect((await get(broker.url, '/verify', bearer(login.body.jwt))).status).toBe(200);
    expect((await get(broker.url, '/verify', basic(user.username, user.password))).status).toBe(200);

    // Three wrong guesses lock the account although none could be written: the fourth try waits.
    for (let i = 0; i < 3; i++)
      expect((await post(broker.url, '/login', { username: spare.username, password: 'wrong password' })).status).toBe(
        401,
      );
    const locked = await post(broker.url, '/login', { username: spare.username, password: spare.password });
    expect(locked.status).toBe(429);
    expect(locked.headers.get('retry-after')).toBeTruthy();
    expect((await get(broker.url, '/verify', basic(spare.username, spare.password))).status).toBe(429);
  });
});
