// Per-tenant limits: one tenant can neither flood inserts (--tenant_insert_rate), nor fill the database
// (--tenant_quota; --tenant_max_event_names, since retention keeps every name's latest event), nor lock
// every tenant out of logins when events fill --map_size (identity keeps a reserve). And no tenant
// member can forge the server's reset frame with a name an SSE parser reads as "reset".
import { afterEach, describe, expect, it } from 'vitest';
import { ADMIN, startBroker, testDir, type TestBroker } from '../helpers/broker.js';
import { bearer, get, makeUser, post } from '../helpers/http.js';
import { openDatabase } from '../../src/storage/lmdb/database.js';
import { join } from 'node:path';

let broker: TestBroker | undefined;
afterEach(async () => {
  await broker?.stop();
  broker = undefined;
});

const MiB = 1024 * 1024;

describe('--tenant_insert_rate', () => {
  it('answers 429 with Retry-After past the rate, for that tenant only', async () => {
    const rate = 2;
    broker = await startBroker({ tenant_insert_rate: rate });
    const noisy = await makeUser(broker.url, { tenant_name: 'noisy' });
    const quiet = await makeUser(broker.url, { tenant_name: 'quiet' });
    const t0 = performance.now();
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) => post(broker!.url, '/insert', { event: 'e', data: i }, bearer(noisy.jwt))),
    );
    const seconds = (performance.now() - t0) / 1000;
    const refused = answers.filter((a) => a.status === 429);
    // One second of burst, then the rate: however slow this machine sent the 30.
    expect(answers.filter((a) => a.status === 200).length).toBeLessThanOrEqual(rate + Math.ceil(rate * seconds));
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.length + answers.filter((a) => a.status === 200).length).toBe(30);
    expect(refused[0].headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    expect(refused[0].body.error).toMatch(/--tenant_insert_rate/);
    // Refused inserts wrote nothing; another tenant is not limited by this one.
    expect((await get(broker.url, '/events', bearer(noisy.jwt))).body.events.length).toBe(
      answers.length - refused.length,
    );
    expect((await post(broker.url, '/insert', { event: 'e', data: 1 }, bearer(quiet.jwt))).status).toBe(200);
  });
});

describe('--tenant_quota', () => {
  it('403 naming the flag past the quota; the count survives a restart, is made for an older database', async () => {
    const dir = testDir();
    broker = await startBroker({ tenant_quota: 50_000, tenant_insert_rate: 0 }, { dir });
    const full = await makeUser(broker.url, { tenant_name: 'hoarder' });
    const other = await makeUser(broker.url, { tenant_name: 'modest' });
    const pad = 'z'.repeat(10_000);
    let accepted = 0;
    let refusal;
    for (let i = 0; i < 10 && !refusal; i++) {
      const answer = await post(broker.url, '/insert', { event: 'e', data: pad }, bearer(full.jwt));
      if (answer.status === 200) accepted++;
      else refusal = answer;
    }
    expect(accepted).toBe(4);
    expect(refusal?.status).toBe(403);
    expect(refusal?.body.error).toMatch(/--tenant_quota/);
    expect((await post(broker.url, '/insert', { event: 'e', data: pad }, bearer(other.jwt))).status).toBe(200);
    // Small inserts that still fit go through.
    expect((await post(broker.url, '/insert', { event: 'e', data: 1 }, bearer(full.jwt))).status).toBe(200);
    await broker.stop();

    // The count is stored with the events: a restart does not reset it.
    broker = await startBroker({ tenant_quota: 50_000 }, { dir });
    const jwt = (await post(broker.url, '/login', { username: full.username, password: full.password })).body.jwt;
    expect((await post(broker.url, '/insert', { event: 'e', data: pad }, bearer(jwt))).status).toBe(403);
    await broker.stop();
    broker = undefined;

    // A database written before the quota existed has no counts: the first start computes them.
    const db = openDatabase(join(dir, 'db'));
    for (const key of db.meta.getKeys({}))
      if (String(key) === 'tenant_bytes' || String(key).startsWith('bytes:')) await db.meta.remove(key as string);
    await db.close();
    broker = await startBroker({ tenant_quota: 50_000 }, { dir });
    const again = (await post(broker.url, '/login', { username: full.username, password: full.password })).body.jwt;
    expect((await post(broker.url, '/insert', { event: 'e', data: pad }, bearer(again))).status).toBe(403);
  });

  it('retention frees quota', async () => {
    broker = await startBroker({ tenant_quota: 50_000, tenant_insert_rate: 0 });
    const u = await makeUser(broker.url, { tenant_name: 'pruned' });
    const pad = 'z'.repeat(10_000);
    for (let i = 0; i < 4; i++)
      expect((await post(broker.url, '/insert', { event: 'e', data: pad }, bearer(u.jwt))).status).toBe(200);
    expect((await post(broker.url, '/insert', { event: 'e', data: pad }, bearer(u.jwt))).status).toBe(403);
    expect(await broker.services.log.prune({ maxAgeMs: 0, maxEvents: 1 }, Date.now())).toBe(3);
    expect((await post(broker.url, '/insert', { event: 'e', data: pad }, bearer(u.jwt))).status).toBe(200);
  });
});

describe('--tenant_max_event_names', () => {
  it('refuses a new name past the cap with a 403 naming the flag; existing names still insert', async () => {
    broker = await startBroker({ tenant_max_event_names: 3 });
    const u = await makeUser(broker.url, { tenant_name: 'namer' });
    const v = await makeUser(broker.url, { tenant_name: 'other-namer' });
    // Concurrent inserts of one new name count it once.
    await Promise.all(
      ['a', 'a', 'b', 'c', 'c'].map((event) => post(broker!.url, '/insert', { event, data: 1 }, bearer(u.jwt))),
    );
    const refused = await post(broker.url, '/insert', { event: 'd', data: 1 }, bearer(u.jwt));
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatch(/--tenant_max_event_names/);
    expect((await post(broker.url, '/insert', { event: 'a', data: 2 }, bearer(u.jwt))).status).toBe(200);
    expect((await post(broker.url, '/insert', { event: 'd', data: 1 }, bearer(v.jwt))).status).toBe(200);
    expect((await get(broker.url, '/events?event=d', bearer(u.jwt))).body.events).toEqual([]);
  });
});

describe('events filling --map_size', () => {
  // On a cluster node too: it refuses, before publishing, a write its read model has no room for (room.ts).
  it('leave room for identity: other tenants log in and the admin creates users', async () => {
    broker = await startBroker({
      map_size: 2 * MiB,
      tenant_quota: 0,
      tenant_insert_rate: 0,
      tenant_max_event_names: 0,
    });
    const filler = await makeUser(broker.url, { tenant_name: 'filler' });
    const bystander = await makeUser(broker.url, { tenant_name: 'bystander' });
    let full;
    for (let i = 0; i < 200 && !full; i++) {
      // Unique names: retention could not have freed them either.
      const answer = await post(
        broker.url,
        '/insert',
        { event: `unique-${i}`, data: 'x'.repeat(40_000) },
        bearer(filler.jwt),
      );
      if (answer.status !== 200) full = answer;
    }
    expect(full?.status).toBe(507);
    expect((await post(broker.url, '/insert', { event: 'e', data: 1 }, bearer(bystander.jwt))).status).toBe(507);
    const login = await post(broker.url, '/login', { username: bystander.username, password: bystander.password });
    expect(login.status, login.text).toBe(200);
    expect((await post(broker.url, '/login', { username: bystander.username, password: 'wrong' })).status).toBe(401);
    const created = await post(broker.url, '/create_user', {
      admin_token: ADMIN,
      username: 'late-user',
      password: 'a long enough password',
      tenant_name: 'late',
    });
    expect(created.status, created.text).toBe(200);
    expect(
      (await post(broker.url, '/login', { username: 'late-user', password: 'a long enough password' })).status,
    ).toBe(200);
  });
});

describe('event names an SSE parser would read differently', () => {
  it('refuses surrounding whitespace, control and format characters (" reset" cannot forge reset)', async () => {
    broker = await startBroker();
    const u = await makeUser(broker.url, { tenant_name: 'forger' });
    for (const event of [
      ' reset',
      'reset ',
      '\treset',
      ' x',
      'x\u00a0',
      'a\u0007b',
      'a\u0085b',
      'a\u200bb',
      '\u202ereset',
      'a\u2028b'.replace('\u2028', '\u2060'),
      'reset',
      'a\nb',
    ]) {
      const answer = await post(broker.url, '/insert', { event, data: 1 }, bearer(u.jwt));
      expect(answer.status, JSON.stringify(event)).toBe(400);
      expect(answer.body.error).toMatch(/^event |reserved/);
    }
    for (const event of ['a b', 'résumé', 'チャット', 'x.y:z'])
      expect((await post(broker.url, '/insert', { event, data: 1 }, bearer(u.jwt))).status).toBe(200);
    expect((await get(broker.url, '/events', bearer(u.jwt))).body.events.length).toBe(4);
  });
});
