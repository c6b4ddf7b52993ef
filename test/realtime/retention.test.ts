// --history_max_events / --history_max_age: old history goes, each name's latest event stays, and a
// resume from before the retained history gets event:reset and the snapshot.
import { afterEach, describe, expect, it } from 'vitest';
import { startBroker, testDir, type TestBroker } from '../helpers/broker.js';
import { waitUntil } from '../helpers/wait.js';
import { bearer, get, makeUser, post } from '../helpers/http.js';
import { openSse } from '../helpers/sse.js';

let running: TestBroker | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});
// The dirs are passed in (the broker restarts on them), so testDir() removes them, not stop().

async function historyIds(url: string, jwt: string): Promise<number[]> {
  return (await get(url, '/events?after=0&limit=1000', bearer(jwt))).body.events.map((e: { id: number }) => e.id);
}

describe('retention', () => {
  it('keeps the last N events plus the latest of every name, and resets resumes from before them', async () => {
    const dir = testDir();
    running = await startBroker({}, { dir });
    const { jwt, username, password } = await makeUser(running.url, { tenant_name: 'kept' });
    // id 1: only one of its name
    await post(running.url, '/insert', { event: 'config', data: { theme: 'dark' } }, bearer(jwt));
    for (let i = 2; i <= 20; i++) await post(running.url, '/insert', { event: 'tick', data: i }, bearer(jwt));
    await running.close();

    // Retention runs at start (and every minute after).
    running = await startBroker({ history_max_events: 5 }, { dir });
    const url = running.url;
    const fresh = (await post(url, '/login', { username, password })).body.jwt as string;
    await waitUntil(async () => (await historyIds(url, fresh)).length === 6, 5000, 'retention at start');
    expect(await historyIds(url, fresh)).toEqual([1, 16, 17, 18, 19, 20]);

    // A client that saw up to id 3 missed deleted events: it is told to reset, then gets the snapshot.
    const stale = openSse(url, fresh, { lastEventId: 3 });
    await stale.waitFor((r) => r.events.length >= 3);
    expect(stale.events.map((f) => f.event)).toEqual(['reset', 'config', 'tick']);
    expect(stale.events[2]).toMatchObject({ id: '20', data: '20' });
    stale.close();

    // A client within the retained history resumes normally.
    const recent = openSse(url, fresh, { lastEventId: 17 });
    await recent.waitFor((r) => r.events.length >= 3);
    expect(recent.events.map((f) => f.id)).toEqual(['18', '19', '20']);
    recent.close();

    // New ids continue after the deleted ones.
    expect((await post(url, '/insert', { event: 'tick', data: 21 }, bearer(fresh))).body.id).toBe(21);
  });

  it('--history_max_age deletes events older than the age, never the latest of a name', async () => {
    const dir = testDir();
    let now = Date.now();
    running = await startBroker({}, { dir, now: () => now });
    const { jwt, username, password } = await makeUser(running.url, { tenant_name: 'aged' });
    for (let i = 1; i <= 4; i++) await post(running.url, '/insert', { event: i % 2 ? 'a' : 'b', data: i }, bearer(jwt));
    now += 2 * 3600_000;
    await post(running.url, '/insert', { event: 'a', data: 5 }, bearer(jwt));
    await running.close();
    running = await startBroker({ history_max_age: 3600 }, { dir, now: () => now });
    const url = running.url;
    const fresh = (await post(url, '/login', { username, password })).body.jwt as string;
    // 1 and 3 (name a) are old and superseded by 5; 2 is superseded by 4, also old; 4 is b's latest.
    await waitUntil(async () => (await historyIds(url, fresh)).length === 2, 5000, 'retention at start');
    expect(await historyIds(url, fresh)).toEqual([4, 5]);
  });
});
