// The identity API of ../shared/API.md route by route, against a real server and a real LMDB.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, startBroker, type TestBroker } from '../helpers/broker.js';
import { basic, bearer, get, makeUser, post } from '../helpers/http.js';

let broker: TestBroker;
let base: string;
beforeAll(async () => {
  broker = await startBroker();
  base = broker.url;
});
afterAll(() => broker.stop());

const SECRET_FIELDS = ['password', 'totp'];

describe('create_user', () => {
  it('creates a user that can log in, with every optional field kept', async () => {
    const res = await post(base, '/create_user', {
      admin_token: ADMIN,
      username: 'alice',
      password: 'pw-alice',
      tenant_name: 'acme',
      email: 'alice@example.com',
      two_factor: false,
      scopes: ['news:get', 'news:post'],
      data: { plan: 'pro', n: [1, 2] },
    });
    expect(res.status).toBe(200);
    const user = await post(base, '/get_user', { admin_token: ADMIN, username: 'alice' });
    expect(user.status).toBe(200);
    expect(user.body).toMatchObject({
      username: 'alice',
      password: '***',
      totp: '***',
      revoked: false,
      tenant_name: 'acme',
      email: 'alice@example.com',
      two_factor: false,
      scopes: ['news:get', 'news:post'],
      data: { plan: 'pro', n: [1, 2] },
    });
    expect(user.body.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const login = await post(base, '/login', { username: 'alice', password: 'pw-alice' });
    expect(login.status).toBe(200);
    expect(typeof login.body.jwt).toBe('string');
  });

  it('leaves optional fields null when omitted', async () => {
    await post(base, '/create_user', {
      admin_token: ADMIN,
      username: 'bare',
      password: 'bare password',
      tenant_name: 't',
    });
    const user = await post(base, '/get_user', { admin_token: ADMIN, username: 'bare' });
    expect(user.body).toMatchObject({ email: null, scopes: null, data: null, two_factor: null });
  });

  it('refuses a duplicate username with 400 and keeps the first user', async () => {
    await post(base, '/create_user', {
      admin_token: ADMIN,
      username: 'dup',
      password: 'first password',
      tenant_name: 't1',
    });
    const again = await post(base, '/create_user', {
      admin_token: ADMIN,
      username: 'dup',
      password: 'second password',
      tenant_name: 't2',
    });
    expect(again.status).toBe(400);
    expect(again.body.error).toMatch(/taken/);
    expect((await post(base, '/login', { username: 'dup', password: 'first password' })).status).toBe(200);
    expect((await post(base, '/get_user', { admin_token: ADMIN, username: 'dup' })).body.tenant_name).toBe('t1');
  });

  it('refuses an invalid email with 400 and creates nothing', async () => {
    for (const email of ['not-an-email', 'a@b', '@example.com', 'a b@example.com']) {
      const res = await post(base, '/create_user', {
        admin_token: ADMIN,
        username: `bad-email-${email}`,
        password: 'a long password',
        tenant_name: 't',
        email,
      });
      expect(res.status, email).toBe(400);
      expect((await post(base, '/get_user', { admin_token: ADMIN, username: `bad-email-${email}` })).status).toBe(404);
    }
  });

  it('refuses scopes that are not resource:operation with exactly one colon', async () => {
    for (const scope of ['news', 'news:get:all', ':get', 'news:', '']) {
      const res = await post(base, '/create_user', {
        admin_token: ADMIN,
        username: `bad-scope-${scope}`,
        password: 'a long password',
        tenant_name: 't',
        scopes: [scope],
      });
      expect(res.status, scope).toBe(400);
    }
  });
});

describe('login', () => {
  it('issues an HS256 JWT with sub, iat, exp = iat + jwt_expiry, iss Broker', async () => {
    const { jwt, username } = await makeUser(base);
    const [header, payload] = jwt
      .split('.')
      .slice(0, 2)
      .map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()));
    expect(header.alg).toBe('HS256');
    expect(payload.sub).toBe(username);
    expect(payload.iss).toBe('Broker');
    expect(payload.exp - payload.iat).toBe(86400);
    expect(Math.abs(payload.iat - Date.now() / 1000)).toBeLessThan(5);
  });

  it('answers unknown user, wrong password and revoked alike: 401 with one message', async () => {
    const { username, password } = await makeUser(base);
    const revoked = await makeUser(base);
    await post(base, '/revoke_user', { admin_token: ADMIN, username: revoked.username });
    const answers = await Promise.all([
      post(base, '/login', { username: 'nobody-at-all', password }),
      post(base, '/login', { username, password: 'wrong' }),
      post(base, '/login', { username: revoked.username, password: revoked.password }),
    ]);
    for (const a of answers) expect(a.status).toBe(401);
    expect(new Set(answers.map((a) => a.text)).size).toBe(1);
  });
});

describe('verify', () => {
  it('returns expiry, username, scopes and a biscuit that checks offline against the key', async () => {
    const { jwt, username } = await makeUser(base, { scopes: ['news:get', 'billing:read'] });
    const res = await get(base, '/verify', bearer(jwt));
    expect(res.status).toBe(200);
    expect(res.body.username).toBe(username);
    expect(res.body.scopes).toEqual(['news:get', 'billing:read']);
    const payload = JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
    expect(res.body.expiry).toBe(payload.exp);
    expect(res.body.key).toHaveLength(32);
    expect(res.body.token.every((b: unknown) => Number.isInteger(b) && (b as number) >= 0 && (b as number) < 256)).toBe(
      true,
    );

    const { loadBiscuit } = await import('../../src/tokens/biscuit.js');
    const b = await loadBiscuit();
    const root = b.PublicKey.fromBytes(Uint8Array.from(res.body.key));
    const allowed = (fact: string) => {
      const authorizer = b.Biscuit.fromBytes(Uint8Array.from(res.body.token), root).getAuthorizer();
      authorizer.addCode(`allow if ${fact};`);
      try {
        // biscuit's default limits allow 1 ms of Datalog, which a loaded CI machine can exceed: a
        // timeout would read as a denial. The answer is what is checked here, not the speed.
        authorizer.authorizeWithLimits({ max_facts: 1000, max_iterations: 100, max_time_micro: 5_000_000 });
        return true;
      } catch {
        return false;
      }
    };
    expect(allowed('right("news", "get")')).toBe(true);
    expect(allowed('right("billing", "read")')).toBe(true);
    expect(allowed('right("news", "post")')).toBe(false);
  });

  it('signs every biscuit with the same persistent root key', async () => {
    const a = await makeUser(base, { scopes: ['a:b'] });
    const b = await makeUser(base, { scopes: ['c:d'] });
    const ka = (await get(base, '/verify', bearer(a.jwt))).body.key;
    const kb = (await get(base, '/verify', bearer(b.jwt))).body.key;
    expect(ka).toEqual(kb);
  });

  it('accepts Basic auth', async () => {
    const { username, password } = await makeUser(base);
    const res = await get(base, '/verify', basic(username, password));
    expect(res.status).toBe(200);
    expect(res.body.username).toBe(username);
    expect((await get(base, '/verify', basic(username, 'wrong'))).status).toBe(401);
  });

  it('answers 401 for missing, malformed, tampered, alg none, other-alg and expired tokens', async () => {
    const { jwt } = await makeUser(base);
    const [h, p, s] = jwt.split('.');
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const { SignJWT } = await import('jose');
    const otherSecret = await new SignJWT(payload)
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode('some other secret'));
    const hs512 = await new SignJWT(payload)
      .setProtectedHeader({ alg: 'HS512' })
      .sign(new TextEncoder().encode('x'.repeat(64)));
    const expired = `${h}.${enc({ ...payload, exp: payload.iat - 10 })}.${s}`;
    const cases: Record<string, Record<string, string>> = {
      missing: {},
      empty: { authorization: '' },
      'no scheme': { authorization: jwt },
      'bad scheme': { authorization: `Token ${jwt}` },
      'bearer without token': { authorization: 'Bearer ' },
      garbage: bearer('not.a.jwt'),
      tampered: bearer(`${h}.${enc({ ...payload, sub: 'alice' })}.${s}`),
      'alg none': bearer(`${enc({ alg: 'none', typ: 'JWT' })}.${p}.`),
      'other secret': bearer(otherSecret),
      'other alg': bearer(hs512),
      expired: bearer(expired),
      'basic garbage': { authorization: 'Basic !!!' },
      'basic no colon': { authorization: `Basic ${Buffer.from('nocolon').toString('base64')}` },
    };
    for (const [name, headers] of Object.entries(cases)) {
      const res = await get(base, '/verify', headers);
      expect(res.status, name).toBe(401);
      expect(res.body.error, name).toBeTypeOf('string');
    }
  });
});

describe('admin routes', () => {
  it('list_users returns every user with password and totp masked', async () => {
    await makeUser(base, { username: 'listed-1' });
    const res = await post(base, '/list_users', { admin_token: ADMIN });
    expect(res.status).toBe(200);
    expect(Array.isArray(res.body)).toBe(true);
    const names = res.body.map((u: { username: string }) => u.username);
    expect(names).toContain('listed-1');
    for (const u of res.body) for (const f of SECRET_FIELDS) expect(u[f]).toBe('***');
    expect(res.text).not.toMatch(/argon2|\$v=19/);
  });

  it('get_user returns one user object; unknown → 404', async () => {
    await makeUser(base, { username: 'one-user' });
    const res = await post(base, '/get_user', { admin_token: ADMIN, username: 'one-user' });
    expect(res.status).toBe(200);
    expect(Array.isArray(res.body)).toBe(false);
    expect(res.body.username).toBe('one-user');
    expect((await post(base, '/get_user', { admin_token: ADMIN, username: 'no-such-user' })).status).toBe(404);
  });

  it('update_user changes only the fields present', async () => {
    await post(base, '/create_user', {
      admin_token: ADMIN,
      username: 'upd',
      password: 'old password',
      tenant_name: 't',
      email: 'u@example.com',
      scopes: ['a:b'],
      data: { keep: true },
      two_factor: false,
    });
    expect(
      (await post(base, '/update_user', { admin_token: ADMIN, username: 'upd', email: 'new@example.com' })).status,
    ).toBe(200);
    let user = (await post(base, '/get_user', { admin_token: ADMIN, username: 'upd' })).body;
    expect(user).toMatchObject({
      email: 'new@example.com',
      scopes: ['a:b'],
      data: { keep: true },
      two_factor: false,
      tenant_name: 't',
    });
    expect((await post(base, '/login', { username: 'upd', password: 'old password' })).status).toBe(200);

    await post(base, '/update_user', {
      admin_token: ADMIN,
      username: 'upd',
      password: 'new password',
      tenant_name: 't2',
      data: null,
      scopes: ['x:y'],
    });
    user = (await post(base, '/get_user', { admin_token: ADMIN, username: 'upd' })).body;
    expect(user).toMatchObject({
      email: 'new@example.com',
      scopes: ['x:y'],
      data: null,
      two_factor: false,
      tenant_name: 't2',
    });
    expect((await post(base, '/login', { username: 'upd', password: 'old password' })).status).toBe(401);
    expect((await post(base, '/login', { username: 'upd', password: 'new password' })).status).toBe(200);
  });

  it('update_user validates like create_user and changes nothing on 400', async () => {
    await makeUser(base, { username: 'upd-bad', email: 'ok@example.com' });
    expect(
      (
        await post(base, '/update_user', {
          admin_token: ADMIN,
          username: 'upd-bad',
          email: 'nope',
          tenant_name: 'moved',
        })
      ).status,
    ).toBe(400);
    expect(
      (await post(base, '/update_user', { admin_token: ADMIN, username: 'upd-bad', scopes: ['bad'] })).status,
    ).toBe(400);
    const user = (await post(base, '/get_user', { admin_token: ADMIN, username: 'upd-bad' })).body;
    expect(user).toMatchObject({ email: 'ok@example.com', tenant_name: 'tenant-a' });
  });

  it('revoke blocks login, verify, Basic and insert at once; unrevoke restores login', async () => {
    const u = await makeUser(base);
    expect((await get(base, '/verify', bearer(u.jwt))).status).toBe(200);
    expect((await post(base, '/revoke_user', { admin_token: ADMIN, username: u.username })).status).toBe(200);
    expect((await post(base, '/get_user', { admin_token: ADMIN, username: u.username })).body.revoked).toBe(true);
    expect((await post(base, '/login', { username: u.username, password: u.password })).status).toBe(401);
    expect((await get(base, '/verify', bearer(u.jwt))).status).toBe(401);
    expect((await get(base, '/verify', basic(u.username, u.password))).status).toBe(401);
    expect((await post(base, '/insert', { event: 'e', data: 1 }, bearer(u.jwt))).status).toBe(401);
    expect((await get(base, '/sse', bearer(u.jwt))).status).toBe(401);

    expect((await post(base, '/unrevoke_user', { admin_token: ADMIN, username: u.username })).status).toBe(200);
    const login = await post(base, '/login', { username: u.username, password: u.password });
    expect(login.status).toBe(200);
    expect((await get(base, '/verify', bearer(login.body.jwt))).status).toBe(200);
    expect((await get(base, '/verify', basic(u.username, u.password))).status).toBe(200);
  });

  it('an unknown username → 404 on every admin route that names one', async () => {
    const bodies: Record<string, Record<string, unknown>> = {
      '/get_user': {},
      '/update_user': { email: 'a@example.com' },
      '/revoke_user': {},
      '/unrevoke_user': {},
      '/create_qr': { issuer: 'X' },
      '/create_totp': {},
      '/create_recovery_codes': {},
    };
    for (const [path, extra] of Object.entries(bodies)) {
      const res = await post(base, path, { admin_token: ADMIN, username: 'ghost', ...extra });
      expect(res.status, path).toBe(404);
      expect(res.body.error, path).toBeTypeOf('string');
    }
  });

  it('a wrong admin_token → 401 on every admin route, with nothing changed', async () => {
    const u = await makeUser(base, { username: 'victim', email: 'v@example.com' });
    const before = (await post(base, '/list_users', { admin_token: ADMIN })).text;
    const wrong = 'not-the-admin-token';
    const calls: Array<[string, Record<string, unknown>]> = [
      ['/create_user', { username: 'intruder', password: 'a long password', tenant_name: 't' }],
      ['/list_users', {}],
      ['/get_user', { username: u.username }],
      ['/update_user', { username: u.username, email: 'pwned@example.com', password: 'pwned password' }],
      ['/revoke_user', { username: u.username }],
      ['/unrevoke_user', { username: u.username }],
      ['/create_qr', { username: u.username, issuer: 'X' }],
      ['/create_totp', { username: u.username }],
      ['/create_recovery_codes', { username: u.username }],
    ];
    for (const [path, body] of calls) {
      for (const token of [wrong, '', ADMIN.slice(0, -1), `${ADMIN}x`]) {
        const res = await post(base, path, { ...body, admin_token: token });
        expect(res.status, `${path} ${token}`).toBe(401);
        expect(res.body.error).toBeTypeOf('string');
      }
    }
    expect((await post(base, '/list_users', { admin_token: ADMIN })).text).toBe(before);
    expect((await post(base, '/login', { username: u.username, password: u.password })).status).toBe(200);
  });
});

describe('bad input on every route', () => {
  const routes: Array<[string, Record<string, unknown>, string[]]> = [
    [
      '/create_user',
      { admin_token: ADMIN, username: 'x-new', password: 'a long password', tenant_name: 't' },
      ['username', 'password', 'admin_token', 'tenant_name'],
    ],
    ['/login', { username: 'x', password: 'pw' }, ['username', 'password']],
    ['/revoke_user', { admin_token: ADMIN, username: 'x' }, ['admin_token', 'username']],
    ['/unrevoke_user', { admin_token: ADMIN, username: 'x' }, ['admin_token', 'username']],
    ['/list_users', { admin_token: ADMIN }, ['admin_token']],
    ['/get_user', { admin_token: ADMIN, username: 'x' }, ['admin_token', 'username']],
    ['/update_user', { admin_token: ADMIN, username: 'x' }, ['admin_token', 'username']],
    ['/create_qr', { admin_token: ADMIN, username: 'x', issuer: 'X' }, ['admin_token', 'username']],
    ['/create_totp', { admin_token: ADMIN, username: 'x' }, ['admin_token', 'username']],
    [
      '/password_reset',
      { totp: '123456', username: 'x', password: 'a long password' },
      ['totp', 'username', 'password'],
    ],
  ];

  it('malformed JSON → 400 with an error message', async () => {
    for (const [path] of routes) {
      for (const text of ['{', '{"a":', 'not json', '[1,2', '', '"just a string"', '42', 'null', '[]']) {
        const res = await post(base, path, text);
        expect(res.status, `${path} ${text}`).toBe(400);
        expect(res.body.error, `${path} ${text}`).toBeTypeOf('string');
      }
    }
  });

  it('a missing or wrongly-typed field → 400', async () => {
    for (const [path, good, required] of routes) {
      for (const field of required) {
        const { [field]: _, ...missing } = good;
        expect((await post(base, path, missing)).status, `${path} without ${field}`).toBe(400);
        for (const wrong of [1, true, null, ['a'], { a: 1 }]) {
          expect(
            (await post(base, path, { ...good, [field]: wrong })).status,
            `${path} ${field}=${JSON.stringify(wrong)}`,
          ).toBe(400);
        }
      }
    }
    // Optional fields are typed too.
    const typed: Array<[string, Record<string, unknown>]> = [
      ['/create_user', { email: 5 }],
      ['/create_user', { two_factor: 'yes' }],
      ['/create_user', { scopes: 'a:b' }],
      ['/create_user', { scopes: [1] }],
      ['/update_user', { tenant_name: 5 }],
      ['/update_user', { password: null }],
      ['/update_user', { two_factor: 'no' }],
      ['/login', { totp: 123456 }],
    ];
    for (const [path, extra] of typed) {
      const good = routes.find((r) => r[0] === path)![1];
      expect((await post(base, path, { ...good, ...extra })).status, `${path} ${JSON.stringify(extra)}`).toBe(400);
    }
  });

  it('accepts JSON whatever the Content-Type says', async () => {
    const body = JSON.stringify({
      admin_token: ADMIN,
      username: 'ct-user',
      password: 'a long password',
      tenant_name: 't',
    });
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-8']) {
      const res = await post(base, '/create_user', body.replace('ct-user', `ct-${type.length}`), {
        'content-type': type,
      });
      expect(res.status, type).toBe(200);
    }
  });

  it('a body over the limit → 413', async () => {
    const res = await post(base, '/create_user', {
      admin_token: ADMIN,
      username: 'big',
      password: 'a long password',
      tenant_name: 't',
      data: 'x'.repeat(1024 * 1024 + 10),
    });
    expect(res.status).toBe(413);
    expect(res.body.error).toBeTypeOf('string');
    expect((await post(base, '/get_user', { admin_token: ADMIN, username: 'big' })).status).toBe(404);
  });

  it('insert: malformed JSON, missing or mistyped fields → 400', async () => {
    const { jwt } = await makeUser(base);
    for (const body of [
      '{',
      '',
      '[]',
      JSON.stringify({ data: 1 }),
      JSON.stringify({ event: 'e' }),
      JSON.stringify({ event: 5, data: 1 }),
      JSON.stringify({ event: '', data: 1 }),
      JSON.stringify({ event: 'a\nb', data: 1 }),
    ]) {
      const res = await post(base, '/insert', body, bearer(jwt));
      expect(res.status, body).toBe(400);
      expect(res.body.error).toBeTypeOf('string');
    }
  });
});
