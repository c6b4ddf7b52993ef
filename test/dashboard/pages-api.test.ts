// What each dashboard page reads and does, over real HTTP with a signed-in session: the Users actions,
// the Events reads, test insert and live tail (which ends at sign-out), the Streams listing and close,
// Topics, Apps and Server; and the sessions themselves: bounded in number, expiring.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, startBroker, type TestBroker } from '../helpers/broker.js';
import { makeUser, post, request } from '../helpers/http.js';
import { waitUntil } from '../helpers/wait.js';
import { RecentWarnings } from '../../src/lib/log.js';

let broker: TestBroker;
let base: string;
let clock = Date.now();

beforeAll(async () => {
  broker = await startBroker({}, { now: () => clock });
  base = broker.url;
});
afterAll(() => broker?.stop());

async function session(): Promise<string> {
  const answer = await post(
    base,
    '/_/api/session',
    { token: ADMIN },
    { 'content-type': 'application/json', origin: base },
  );
  expect(answer.status).toBe(200);
  return (answer.headers.get('set-cookie') ?? '').split(';')[0];
}

function client(cookie: string) {
  const headers = { cookie, origin: base };
  return {
    get: (path: string) => request(`${base}/_/api/${path}`, { headers }),
    post: (path: string, body: unknown) =>
      request(`${base}/_/api/${path}`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }),
    signOut: () => request(`${base}/_/api/session`, { method: 'DELETE', headers }),
  };
}

/** Reads an SSE response's body as text until `until` holds or the stream ends; resolves with the text. */
async function readStream(res: Response, until: (text: string) => boolean): Promise<{ text: string; ended: boolean }> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return { text, ended: true };
    text += decoder.decode(value, { stream: true });
    if (until(text)) {
      void reader.cancel().catch(() => {});
      return { text, ended: false };
    }
  }
}

describe('dashboard pages over HTTP', () => {
  it('Users: create, search and page, edit, revoke and unrevoke, QR image, reset code, recovery codes', async () => {
    const api = client(await session());
    for (let i = 0; i < 3; i++) {
      const made = await api.post('users', {
        username: `page-user-${i}`,
        password: 'correct horse battery staple',
        tenant_name: 'pages',
        email: `p${i}@example.com`,
      });
      expect(made.status).toBe(200);
      expect(made.body.password).toBe('***');
    }
    const found = await api.get('users?q=page-user&limit=2');
    expect(found.body.total).toBe(3);
    expect(found.body.users.map((u: { username: string }) => u.username)).toEqual(['page-user-0', 'page-user-1']);
    expect((await api.get('users?q=page-user&limit=2&offset=2')).body.users).toHaveLength(1);
    expect((await api.get('users?q=p2@example')).body.total).toBe(1);
    expect((await api.get('users?limit=x')).status).toBe(400);

    const edited = await api.post('users/update', { username: 'page-user-0', scopes: ['events:read'], email: null });
    expect(edited.body).toMatchObject({ scopes: ['events:read'], email: null });
    expect((await api.post('users/revoke', { username: 'page-user-0', revoked: true })).status).toBe(200);
    expect((await api.get('users?q=page-user-0')).body.users[0].revoked).toBe(true);
    await api.post('users/revoke', { username: 'page-user-0', revoked: false });
    expect((await api.get('users?q=page-user-0')).body.users[0].revoked).toBe(false);

    const qr = await api.post('users/qr', { username: 'page-user-1' });
    expect(
      Buffer.from(qr.body.qr.replace(/^data:image\/png;base64,/, ''), 'base64')
        .subarray(1, 4)
        .toString(),
    ).toBe('PNG');
    expect((await api.post('users/reset_code', { username: 'page-user-1' })).body.totp).toMatch(/^\S{6,}$/);
    const codes = await api.post('users/recovery_codes', { username: 'page-user-1' });
    expect(codes.body.codes.length).toBeGreaterThan(3);
    expect((await api.post('users/qr', { username: 'nobody-here' })).status).toBe(404);
  });

  it('Events: latest of every name, history pages, a test insert, and a live tail that ends at sign-out', async () => {
    const cookie = await session();
    const api = client(cookie);
    const user = await makeUser(base, { tenant_name: 'ev-tenant' });
    for (const [event, data] of [
      ['a', 1],
      ['b', 2],
      ['a', 3],
    ] as const)
      await post(base, '/insert', { event, data }, { authorization: `Bearer ${user.jwt}` });
    expect((await api.get('tenants')).body.tenants).toContain('ev-tenant');
    const latest = await api.get('events/latest?tenant=ev-tenant');
    expect(latest.body.events.map((e: { event: string; data: number }) => [e.event, e.data])).toEqual([
      ['a', 3],
      ['b', 2],
    ]);
    const page1 = await api.get('events?tenant=ev-tenant&limit=2');
    expect(page1.body.events.map((e: { data: number }) => e.data)).toEqual([3, 2]);
    const page2 = await api.get(`events?tenant=ev-tenant&limit=2&before=${page1.body.next}`);
    expect(page2.body.events.map((e: { data: number }) => e.data)).toEqual([1]);
    expect((await api.get('events?tenant=ev-tenant&event=b')).body.events).toHaveLength(1);
    expect((await api.get('events?tenant=')).status).toBe(400);

    const tail = await fetch(`${base}/_/api/events/tail?tenant=ev-tenant`, { headers: { cookie } });
    expect(tail.status).toBe(200);
    expect(tail.headers.get('content-type')).toContain('text/event-stream');
    const reading = readStream(tail, (t) => t.includes('"from-dashboard"'));
    await waitUntil(async () => (await api.get('streams')).body.total > 0, 5000, 'tail listed');
    const inserted = await api.post('events', { tenant: 'ev-tenant', event: 'from-dashboard', data: { x: 1 } });
    expect(inserted.status).toBe(200);
    const { text } = await reading;
    expect(text).toMatch(/data:\{"id":\d+,"event":"from-dashboard","data":\{"x":1\},"timestamp":\d+\}/);

    const second = await fetch(`${base}/_/api/events/tail?tenant=ev-tenant`, { headers: { cookie } });
    const ending = readStream(second, () => false);
    await waitUntil(async () => (await api.get('streams')).body.total > 0, 5000, 'second tail listed');
    await api.signOut();
    expect((await ending).ended).toBe(true);
    expect((await fetch(`${base}/_/api/events/tail?tenant=ev-tenant`, { headers: { cookie } })).status).toBe(401);
  });

  it('Streams: lists an app stream with its tenant, user and transport, and closes it', async () => {
    const api = client(await session());
    const user = await makeUser(base, { tenant_name: 'stream-tenant' });
    const sse = await fetch(`${base}/sse`, { headers: { authorization: `Bearer ${user.jwt}` } });
    const ending = readStream(sse, () => false);
    let row: { id: number; tenant: string; user: string; transport: string; since: number } | undefined;
    await waitUntil(async () => {
      row = (await api.get('streams')).body.streams.find((s: { user: string }) => s.user === user.username);
      return row !== undefined;
    });
    expect(row).toMatchObject({ tenant: 'stream-tenant', transport: 'sse' });
    expect(row!.since).toBeGreaterThan(0);
    expect((await api.post('streams/close', { id: row!.id })).status).toBe(200);
    expect((await ending).ended).toBe(true);
    expect((await api.post('streams/close', { id: row!.id })).status).toBe(404);
  });

  it('Topics: an active topic with its presence, gone when its stream closes', async () => {
    const api = client(await session());
    const token = await post(base, '/create_topic_token', {
      admin_token: ADMIN,
      topics: ['room-1'],
      scope: 'subscribe',
      expires_in: 600,
    });
    expect(token.status).toBe(200);
    const controller = new AbortController();
    const sse = await fetch(`${base}/sse?topics=room-1&token=${token.body.token}`, { signal: controller.signal });
    expect(sse.status).toBe(200);
    await waitUntil(async () => (await api.get('topics')).body.topics.length === 1, 5000, 'topic listed');
    const [topic] = (await api.get('topics')).body.topics;
    expect(topic).toMatchObject({ topic: 'room-1', connections: 1 });
    const streams = (await api.get('streams')).body.streams;
    expect(streams.some((s: { topic: string | null }) => s.topic === 'room-1')).toBe(true);
    controller.abort();
    await waitUntil(async () => (await api.get('topics')).body.topics.length === 0, 5000, 'topic gone');
  });

  it('Apps, Topics and Server answer their listings', async () => {
    const api = client(await session());
    expect((await post(base, '/create_app', { admin_token: ADMIN, app_id: 'dash-app', name: 'Dash' })).status).toBe(
      200,
    );
    const key = await api.post('apps/keys', { app_id: 'dash-app', alias: 'first' });
    expect(key.status).toBe(200);
    const apps = (await api.get('apps')).body.apps;
    const app = apps.find((a: { app_id: string }) => a.app_id === 'dash-app');
    expect(app.key_list).toHaveLength(1);
    expect(JSON.stringify(apps)).not.toContain(key.body.key);
    const usage = await api.get('apps/usage?app_id=dash-app');
    expect(usage.body.days).toHaveLength(30);
    expect((await api.get('apps/usage?app_id=none')).status).toBe(404);
    expect((await api.post('apps/crashes/delete', { app_id: 'dash-app', id: 'x' })).status).toBe(404);
    const crashKey = await post(base, '/create_api_key', {
      admin_token: ADMIN,
      app_id: 'dash-app',
      permissions: { crash: true },
    });
    const crash = { platform: 'ios', version: '1.0', error: 'TypeError', stack: 'at main (app.js:1)\nat run' };
    const report = () =>
      post(base, '/crash', crash, { 'x-api-key': crashKey.body.key, 'content-type': 'application/json' });
    expect((await report()).status).toBe(201);
    await report();
    const listed = (await api.get('apps')).body.apps.find((a: { app_id: string }) => a.app_id === 'dash-app').crashes;
    expect(listed).toEqual([
      { id: expect.any(String), error: 'TypeError', first_line: 'at main (app.js:1)', count: 2, platforms: ['ios'] },
    ]);
    expect((await api.post('apps/crashes/archive', { app_id: 'dash-app', id: listed[0].id })).body).toEqual({
      archived: 1,
    });
    await report();
    const crashesNow = () =>
      api.get('apps').then((r) => r.body.apps.find((a: { app_id: string }) => a.app_id === 'dash-app').crashes);
    expect(await crashesNow()).toEqual([]);
    expect((await api.get('topics')).body).toEqual({ topics: [] });
    const server = (await api.get('server')).body;
    expect(server.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(server.db.used_bytes).toBeGreaterThan(0);
    expect(server.db.map_size).toBeGreaterThan(server.db.used_bytes);
    expect(server.certificate).toBeNull();
    expect(Array.isArray(server.warnings)).toBe(true);
  });

  it('holds at most 32 sessions (a new sign-in ends the oldest) and ends each after 8 hours', async () => {
    const first = await session();
    const rest = [];
    for (let i = 0; i < 32; i++) rest.push(await session());
    expect((await client(first).get('users')).status).toBe(401);
    expect((await client(rest[0]).get('users')).status).toBe(200);
    clock += 8 * 3600_000 + 1000;
    expect((await client(rest[31]).get('users')).status).toBe(401);
  });
});

describe('RecentWarnings', () => {
  it('keeps the last lines, oldest first, each cut to its bound', () => {
    const ring = new RecentWarnings(3, 10);
    for (let i = 0; i < 5; i++) ring.add('warn', `line ${i}`, i);
    ring.add('error', 'x'.repeat(50), 5);
    expect(ring.list().map((l) => l.message)).toEqual(['line 3', 'line 4', `${'x'.repeat(10)}…`]);
  });
});
