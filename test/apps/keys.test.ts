// Apps and API keys (APPS-API.md "Apps and keys", "How an app request is authorized"): the admin routes,
// the key transports, the error codes, permissions, dead and deleted keys, origins, CORS, last_used.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, startBroker, type TestBroker } from '../helpers/broker.js';
import { post, request } from '../helpers/http.js';
import { Clock } from '../security/support.js';
import { appWithKey, call, createApp, createKey, uniqueId } from './support.js';

const clock = new Clock();
let broker: TestBroker;
const management = 'mgmt';

beforeAll(async () => {
  broker = await startBroker({ management_app: management }, { now: clock.now });
});
afterAll(() => broker.stop());

const admin = (path: string, body: Record<string, unknown>) => post(broker.url, path, { admin_token: ADMIN, ...body });

describe('apps (admin routes)', () => {
  it('creates, lists with key counts and deletes apps; bad fields 400, unknown 404, no admin token 401', async () => {
    const app_id = uniqueId();
    const created = await admin('/create_app', { app_id, name: 'My app' });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ app_id, name: 'My app', tenant_name: app_id });
    expect((await admin('/create_app', { app_id })).status).toBe(400);
    expect((await admin('/create_app', { app_id: 'bad id!' })).body.error).toMatch(/app_id/);
    expect((await post(broker.url, '/create_app', { admin_token: 'wrong', app_id: uniqueId() })).status).toBe(401);
    await createKey(broker.url, app_id);
    const listed = await admin('/list_apps', {});
    expect(listed.body.find((a: { app_id: string }) => a.app_id === app_id)).toMatchObject({ keys: 1 });
    expect((await admin('/delete_app', { app_id })).status).toBe(200);
    expect((await admin('/delete_app', { app_id })).status).toBe(404);
    expect((await admin('/create_api_key', { app_id, permissions: {} })).status).toBe(404);
    expect((await admin('/list_api_keys', { app_id: 'nope' })).status).toBe(404);
  });

  it('shows a key once; lists, updates and deletes keys by key_id; never shows the key or its hash again', async () => {
    const { app_id } = await createApp(broker.url);
    const created = await admin('/create_api_key', {
      app_id,
      alias: 'ios',
      permissions: { count: true, custom: false },
      death: -1,
      allowed_origins: ['https://app.example'],
    });
    expect(created.status).toBe(200);
    const { key, key_id } = created.body;
    expect(key).toMatch(/^bk_[A-Za-z0-9_-]{32}$/);
    expect(created.body).toEqual({
      key,
      key_id,
      app_id,
      alias: 'ios',
      permissions: { count: true, custom: false },
      death: -1,
      allowed_origins: ['https://app.example'],
    });
    const listed = await admin('/list_api_keys', { app_id });
    expect(listed.body).toEqual([
      {
        key_id,
        app_id,
        alias: 'ios',
        permissions: { count: true, custom: false },
        death: -1,
        allowed_origins: ['https://app.example'],
        created: clock.ms,
        last_used: 0,
      },
    ]);
    expect(listed.text).not.toContain(key);
    expect((await admin('/update_api_key', { key_id, alias: 'android', permissions: { log: true } })).status).toBe(200);
    expect((await admin('/list_api_keys', { app_id })).body[0]).toMatchObject({
      alias: 'android',
      permissions: { log: true },
    });
    expect((await admin('/update_api_key', { key_id: 'nope' })).status).toBe(404);
    expect((await admin('/update_api_key', { key_id, allowed_origins: ['not an origin'] })).status).toBe(400);
    expect((await admin('/update_api_key', { key_id, death: -2 })).status).toBe(400);
    expect((await admin('/create_api_key', { app_id })).status).toBe(400);
    expect((await admin('/delete_api_key', { key_id })).status).toBe(200);
    expect((await admin('/delete_api_key', { key_id })).status).toBe(404);
  });
});

describe('authorizing an app request', () => {
  it('takes X-API-Key or ?key=; no key → 401 noKey; an unknown key → 401 invalidKey', async () => {
    const { key } = await appWithKey(broker.url);
    const body = { id: '', platform: 'ios' };
    expect((await call(broker.url, 'POST', '/count', key, body)).status).toBe(201);
    expect((await call(broker.url, 'POST', `/count?key=${key}`, undefined, body)).status).toBe(201);
    const none = await call(broker.url, 'POST', '/count', undefined, body);
    expect(none.status).toBe(401);
    expect(none.body).toEqual({ errorCode: 'noKey', errorMsg: expect.any(String) });
    const bad = await call(broker.url, 'POST', '/count', `${key}x`, body);
    expect(bad.status).toBe(401);
    expect(bad.body.errorCode).toBe('invalidKey');
  });

  it('refuses a deleted key, a dead key and the keys of a deleted app from the next request on', async () => {
    const a = await appWithKey(broker.url);
    const b = await appWithKey(broker.url, { death: Math.floor(clock.ms / 1000) + 60 });
    const c = await appWithKey(broker.url);
    const body = { id: '', platform: 'web' };
    for (const k of [a, b, c]) expect((await call(broker.url, 'POST', '/count', k.key, body)).status).toBe(201);
    await admin('/delete_api_key', { key_id: a.key_id });
    clock.advance(61);
    await admin('/delete_app', { app_id: c.app_id });
    for (const k of [a, b, c]) {
      const answer = await call(broker.url, 'POST', '/count', k.key, body);
      expect(answer.status).toBe(401);
      expect(answer.body.errorCode).toBe('invalidKey');
    }
  });

  it('refuses each permission a key lacks with 401 invalidKey', async () => {
    const { key } = await appWithKey(broker.url, { permissions: {} });
    const routes: [string, string, unknown][] = [
      ['POST', '/count', { id: '', platform: 'ios' }],
      ['POST', '/log?id=&platform=ios', undefined],
      ['GET', '/count', undefined],
      ['POST', '/crash', { platform: 'ios', version: '1', error: 'e', stack: 's' }],
      ['GET', '/crash', undefined],
      ['DELETE', '/crash/abc', undefined],
      ['POST', '/crash/archive', { platform: 'all', error: 'e', stack: 's' }],
      ['POST', '/user/create', { username: 'x', password: 'y', email: 'z' }],
      ['POST', '/user/login', { username: 'x', password: 'y' }],
      ['POST', '/user/changepassword', { token: 'x', old: 'y', new: 'z' }],
      ['DELETE', '/user/abc', undefined],
      ['POST', '/createUser', { username: 'x', password: 'y', email: 'z' }],
      ['POST', '/auth', { username: 'x', password: 'y' }],
      ['GET', '/someapp/count', undefined],
      ['GET', '/someapp/crash', undefined],
    ];
    for (const [method, path, body] of routes) {
      const answer = await call(broker.url, method, path, key, body);
      expect(answer.status, `${method} ${path}`).toBe(401);
      expect(answer.body.errorCode, `${method} ${path}`).toBe('invalidKey');
    }
  });

  it('a permission opens its routes only: count, not crash; auth is an alias of user', async () => {
    const { key } = await appWithKey(broker.url, { permissions: { count: true, auth: true } });
    expect((await call(broker.url, 'POST', '/count', key, { id: '', platform: 'ios' })).status).toBe(201);
    expect((await call(broker.url, 'GET', '/count', key)).status).toBe(200);
    const crash = await call(broker.url, 'POST', '/crash', key, {
      platform: 'i',
      version: '1',
      error: 'e',
      stack: 's',
    });
    expect(crash.body.errorCode).toBe('invalidKey');
    const login = await call(broker.url, 'POST', '/user/login', key, { username: 'nobody', password: 'x' });
    expect(login.status).toBe(200);
  });

  it('an Origin in allowed_origins stands for the key; CORS for that origin, X-API-Key preflights', async () => {
    const origin = `https://${uniqueId('site').replace(/_/g, '-')}.example`;
    await appWithKey(broker.url, { permissions: { count: true }, allowed_origins: [origin] });
    const answer = await call(broker.url, 'POST', '/count', undefined, { id: '', platform: 'web' }, { origin });
    expect(answer.status).toBe(201);
    expect(answer.headers.get('access-control-allow-origin')).toBe(origin);
    const other = await call(
      broker.url,
      'POST',
      '/count',
      undefined,
      { id: '', platform: 'web' },
      {
        origin: 'https://evil.example',
      },
    );
    expect(other.body.errorCode).toBe('noKey');
    expect(other.headers.get('access-control-allow-origin')).not.toBe('https://evil.example');
    const preflight = await request(`${broker.url}/crash`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'DELETE', 'access-control-request-headers': 'x-api-key' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(origin);
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/x-api-key/);
    expect(preflight.headers.get('access-control-allow-methods')).toMatch(/DELETE/);
    // Broker's own routes do not take the key's origin.
    const own = await request(`${broker.url}/login`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST' },
    });
    expect(own.headers.get('access-control-allow-origin')).not.toBe(origin);
  });

  it('a management key acts on any app through /{appID}/ routes and nothing else', async () => {
    await createApp(broker.url, { app_id: management }).catch(() => {});
    const m = await createKey(broker.url, management, { permissions: {} });
    const { app_id, key } = await appWithKey(broker.url);
    await call(broker.url, 'POST', '/count', key, { id: '', platform: 'ios' });
    const counted = await call(broker.url, 'GET', `/${app_id}/count?platform=ios`, m.key);
    expect(counted.status).toBe(200);
    expect(counted.body).toEqual({ platform: 'ios', count: 1 });
    expect((await call(broker.url, 'GET', `/${app_id}/count`, key)).body.errorCode).toBe('invalidKey');
    expect((await call(broker.url, 'GET', '/count', m.key)).body.errorCode).toBe('invalidKey');
    const unknown = await call(broker.url, 'GET', '/no_such_app/count', m.key);
    expect(unknown.status).toBe(400);
    expect(unknown.body.errorCode).toBe('badRequest');
  });

  it('answers malformed bodies with 400 invalidBody', async () => {
    const { key } = await appWithKey(broker.url);
    for (const body of [
      '{',
      '[1]',
      '"text"',
      JSON.stringify({ platform: 'ios' }),
      JSON.stringify({ id: 1, platform: 'x' }),
    ]) {
      const answer = await call(broker.url, 'POST', '/count', key, body, { 'content-type': 'application/json' });
      expect(answer.status, body).toBe(400);
      expect(answer.body.errorCode, body).toBe('invalidBody');
    }
  });

  it('writes last_used at most once a minute per key', async () => {
    const { key, key_id, app_id } = await appWithKey(broker.url);
    const lastUsed = async () =>
      (await admin('/list_api_keys', { app_id })).body.find((k: { key_id: string }) => k.key_id === key_id).last_used;
    await call(broker.url, 'GET', '/count', key);
    const first = clock.ms;
    expect(await lastUsed()).toBe(first);
    clock.advance(30);
    await call(broker.url, 'GET', '/count', key);
    expect(await lastUsed()).toBe(first);
    clock.advance(31);
    await call(broker.url, 'GET', '/count', key);
    expect(await lastUsed()).toBe(clock.ms);
  });
});
