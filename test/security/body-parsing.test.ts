// What a request body costs and what it may hold: an unknown route answers 404 without reading its
// body, the routes without a `data` field take a few KiB at most, and every body is refused (400) for
// ill-formed Unicode, a `__proto__` key however it is spelled, or a field the route does not know.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, startBroker, type TestBroker } from '../helpers/broker.js';
import { bearer, get, makeUser, post } from '../helpers/http.js';
import { rawRequest } from './support.js';

let broker: TestBroker;
let user: { username: string; password: string; jwt: string };

beforeAll(async () => {
  broker = await startBroker(); // default --body_limit (1 MiB)
  user = await makeUser(broker.url);
});
afterAll(() => broker.stop());

describe('unknown routes', () => {
  it('answer 404 at once, without waiting for a body they announce', async () => {
    for (const line of ['POST /no-such-route', 'PUT /login', 'DELETE /insert']) {
      const answer = await rawRequest(
        broker.url,
        `${line} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500000\r\n\r\n{"a":`,
        { timeoutMs: 5000 },
      );
      expect(answer.status, line).toBe(404);
      expect(answer.elapsedMs, line).toBeLessThan(2000);
      expect(JSON.parse(answer.body), line).toEqual({ error: expect.stringMatching(/^no route /) });
    }
  });

  it('never parse the body: malformed or hostile JSON to an unknown route is a 404, not a 400', async () => {
    for (const body of [
      '{bad json',
      '['.repeat(100_000),
      '{"__proto__":{}}',
      JSON.stringify({ a: 'x'.repeat(900_000) }),
    ]) {
      const answer = await post(broker.url, '/no-such-route', body);
      expect(answer.status).toBe(404);
    }
    // The connection stays usable (the unread body is skipped, not taken for the next request).
    expect((await get(broker.url, '/')).status).toBe(200);
  });
});

describe('per-route body limits', () => {
  const big = (bytes: number, fields: Record<string, unknown>) =>
    JSON.stringify({ ...fields, password: 'p'.repeat(bytes) });

  it('login, password_reset and the admin routes without data answer 413 past 8 KiB', async () => {
    const cases: Array<[string, Record<string, unknown>]> = [
      ['/login', { username: user.username }],
      ['/password_reset', { username: user.username, totp: '123456' }],
      ['/list_users', { admin_token: ADMIN }],
      ['/get_user', { admin_token: ADMIN, username: user.username }],
      ['/revoke_user', { admin_token: ADMIN, username: user.username }],
      ['/create_totp', { admin_token: ADMIN, username: user.username }],
      ['/create_qr', { admin_token: ADMIN, username: user.username, issuer: 'x' }],
    ];
    for (const [path, fields] of cases) {
      const answer = await post(broker.url, path, big(9 * 1024, fields));
      expect(answer.status, path).toBe(413);
      expect(answer.body, path).toEqual({ error: 'request body is too large' });
    }
    // Under the limit they are read as before.
    expect((await post(broker.url, '/login', big(7 * 1024, { username: user.username }))).status).toBe(401);
    expect((await get(broker.url, '/verify', bearer(user.jwt))).status).toBe(200);
  });

  it('create_user, update_user and insert keep --body_limit (their data may be large)', async () => {
    const data = { blob: 'd'.repeat(512 * 1024) };
    const name = `big-${Date.now()}`;
    expect(
      (
        await post(broker.url, '/create_user', {
          admin_token: ADMIN,
          username: name,
          password: 'pw-long-enough',
          tenant_name: 't',
          data,
        })
      ).status,
    ).toBe(200);
    expect((await post(broker.url, '/update_user', { admin_token: ADMIN, username: name, data })).status).toBe(200);
    expect((await post(broker.url, '/insert', { event: 'big', data }, bearer(user.jwt))).status).toBe(200);
  });
});

describe('prototype keys', () => {
  it('a "__proto__" key is refused however it is escaped, anywhere in the body', async () => {
    for (const body of [
      '{"__proto__":{"admin":true},"username":"x","password":"y"}',
      '{"\\u005f_proto__":{"admin":true},"username":"x","password":"y"}',
      '{"username":"x","password":"y","totp":null,"\\u005F\\u005Fproto\\u005f\\u005f":1}',
    ]) {
      const answer = await post(broker.url, '/login', body);
      expect(answer.status, body).toBe(400);
      expect(answer.body.error, body).toMatch(/__proto__/);
    }
    const nested = await post(
      broker.url,
      '/insert',
      '{"event":"e","data":[{"a":{"__prot\\u006f__":{"polluted":1}}}]}',
      bearer(user.jwt),
    );
    expect(nested.status).toBe(400);
    // Lookalikes are ordinary keys.
    const fine = await post(
      broker.url,
      '/insert',
      '{"event":"e","data":{"__proto_":1,"proto__":2,"text":"__proto__"}}',
      bearer(user.jwt),
    );
    expect(fine.status, fine.text).toBe(200);
  });
});

describe('ill-formed Unicode', () => {
  it('a lone surrogate in any string or key of any route is a 400, and nothing is stored', async () => {
    const name = `lone-${Date.now()}`;
    const created = await post(
      broker.url,
      '/create_user',
      `{"admin_token":"${ADMIN}","username":"${name}\\ud800","password":"pw-long-enough","tenant_name":"t"}`,
    );
    expect(created.status).toBe(400);
    expect(created.body.error).toMatch(/ill-formed Unicode/);
    const listed = await post(broker.url, '/list_users', { admin_token: ADMIN });
    expect(JSON.stringify(listed.body)).not.toContain(name);

    const cases: Array<[string, string]> = [
      [
        '/create_user',
        `{"admin_token":"${ADMIN}","username":"u${Date.now()}","password":"pw-long-enough","tenant_name":"\\udc00"}`,
      ],
      ['/login', '{"username":"\\ud83d","password":"x"}'],
      ['/update_user', `{"admin_token":"${ADMIN}","username":"${user.username}","email":"a\\udfff@example.com"}`],
      ['/insert', '{"event":"e","data":{"text":"\\ude00 low first"}}'],
      ['/insert', '{"event":"e","data":{"\\ud800":1}}'],
      ['/insert', '{"event":"e","data":["ok","\\ud800\\ud800"]}'],
    ];
    for (const [path, body] of cases) {
      const answer = await post(broker.url, path, body, bearer(user.jwt));
      expect(answer.status, body).toBe(400);
      expect(answer.body.error, body).toMatch(/ill-formed Unicode/);
    }
  });

  it('well-formed escapes, pairs and an escaped backslash before "ud800" are accepted', async () => {
    for (const body of [
      '{"event":"e","data":"\\ud83d\\ude00 \\u00e9 \\n"}',
      '{"event":"e","data":"\\\\ud800 is text here"}',
      '{"event":"e","data":{"😀":"😀"}}',
    ]) {
      const answer = await post(broker.url, '/insert', body, bearer(user.jwt));
      expect(answer.status, body).toBe(200);
    }
  });
});

describe('unknown fields', () => {
  it('create_user with a typo ("twofactor") is a 400 naming the field, and creates nobody', async () => {
    const name = `typo-${Date.now()}`;
    const answer = await post(broker.url, '/create_user', {
      admin_token: ADMIN,
      username: name,
      password: 'pw-long-enough',
      tenant_name: 't',
      twofactor: true,
    });
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({ error: 'unknown field "twofactor"' });
    expect((await post(broker.url, '/get_user', { admin_token: ADMIN, username: name })).status).toBe(404);
  });

  it('every route with a body refuses a field it does not know', async () => {
    const named = { admin_token: ADMIN, username: user.username };
    const cases: Array<[string, Record<string, unknown>]> = [
      ['/login', { username: user.username, password: user.password, toptp: '123456' }],
      ['/password_reset', { username: user.username, totp: '123456', password: 'pw-long-enough', new_password: 'x' }],
      ['/list_users', { admin_token: ADMIN, limit: 10 }],
      ['/get_user', { ...named, user: 'x' }],
      ['/update_user', { ...named, two_factors: true }],
      ['/revoke_user', { ...named, reason: 'x' }],
      ['/unrevoke_user', { ...named, reason: 'x' }],
      ['/create_qr', { ...named, issuer: 'x', isuer: 'y' }],
      ['/create_totp', { ...named, duration: 60 }],
      ['/create_recovery_codes', { ...named, count: 3 }],
      ['/insert', { event: 'e', data: 1, tenant_name: 'other' }],
    ];
    for (const [path, body] of cases) {
      const extra = Object.keys(body).at(-1)!;
      const answer = await post(broker.url, path, body, bearer(user.jwt));
      expect(answer.status, path).toBe(400);
      expect(answer.body, path).toEqual({ error: `unknown field "${extra}"` });
    }
    // Fields inside data are the user's own: any name goes.
    expect((await post(broker.url, '/insert', { event: 'e', data: { anything: 1 } }, bearer(user.jwt))).status).toBe(
      200,
    );
  });
});
