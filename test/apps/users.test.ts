// Users through an app (APPS-API.md): Broker users in the app's tenant, Broker JWTs on /sse, /insert and
// /verify, Darkstorm's and Stupid Backend's answers, the lockout shared with /login, password changes
// ending older tokens and streams, deletion freeing the username and email.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, startBroker, type TestBroker } from '../helpers/broker.js';
import { bearer, get, makeUser, post } from '../helpers/http.js';
import { SseReader } from '../helpers/sse.js';
import { Clock } from '../security/support.js';
import { appWithKey, call, createApp, createKey, uniqueId } from './support.js';

const clock = new Clock();
let broker: TestBroker;
let key: string;
let tenant: string;
beforeAll(async () => {
  broker = await startBroker({ management_app: 'root' }, { now: clock.now });
  const made = await appWithKey(broker.url);
  key = made.key;
  tenant = made.app_id;
});
afterAll(() => broker.stop());

const PASSWORD = 'a long enough password';
const signUp = (username: string, fields: Record<string, unknown> = {}) =>
  call(broker.url, 'POST', '/user/create', key, {
    username,
    password: PASSWORD,
    email: `${username}@x.example`,
    ...fields,
  });
const login = (username: string, password = PASSWORD) =>
  call(broker.url, 'POST', '/user/login', key, { username, password });

describe('users through an app', () => {
  it("creates a Broker user in the app's tenant whose token streams and inserts that tenant's events", async () => {
    const username = uniqueId('u');
    const created = await signUp(username);
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ username, token: expect.any(String) });
    const user = await post(broker.url, '/get_user', { admin_token: ADMIN, username });
    expect(user.body).toMatchObject({ username, tenant_name: tenant, email: `${username}@x.example` });
    const verified = await get(broker.url, '/verify', bearer(created.body.token));
    expect(verified.status).toBe(200);
    const stream = new SseReader(`${broker.url}/sse`, bearer(created.body.token));
    await stream.waitFor((r) => r.status === 200);
    // Another tenant's insert does not reach it; its own tenant's does.
    const stranger = await makeUser(broker.url, { tenant_name: 'elsewhere' });
    await post(broker.url, '/insert', { event: 'x', data: 'not yours' }, bearer(stranger.jwt));
    const inserted = await post(broker.url, '/insert', { event: 'hello', data: { n: 1 } }, bearer(created.body.token));
    expect(inserted.status).toBe(200);
    await stream.waitForEvents(1);
    expect(stream.events.map((e) => [e.event, e.data])).toEqual([['hello', '{"n":1}']]);
    stream.close();
  });

  it('refuses taken usernames and emails, disallowed usernames, passwords outside 12-128, missing fields', async () => {
    const username = uniqueId('u');
    expect((await signUp(username)).status).toBe(201);
    const again = await signUp(username, { email: `other${username}@x.example` });
    expect([again.status, again.body.errorCode]).toEqual([401, 'taken']);
    const email = await signUp(uniqueId('u'), { email: `${username}@X.example` });
    expect([email.status, email.body.errorCode]).toEqual([401, 'taken']);
    const disallowed = await signUp(' spaced ');
    expect([disallowed.status, disallowed.body.errorCode]).toEqual([401, 'usernameDisallowed']);
    for (const password of ['short pass1', 'x'.repeat(129)]) {
      const answer = await signUp(uniqueId('u'), { password });
      expect([answer.status, answer.body.errorCode]).toEqual([401, 'password']);
    }
    expect((await signUp(uniqueId('u'), { password: 'x'.repeat(128) })).status).toBe(201);
    const missing = await call(broker.url, 'POST', '/user/create', key, {
      username: uniqueId('u'),
      password: PASSWORD,
    });
    expect([missing.status, missing.body.errorCode]).toEqual([400, 'invalidBody']);
  });

  it("logs in with Darkstorm's shapes; an unknown username answers exactly as a wrong password", async () => {
    const username = uniqueId('u');
    await signUp(username);
    const ok = await login(username);
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ token: expect.any(String), error: '', errorMsg: '', timeout: 0 });
    expect((await get(broker.url, '/verify', bearer(ok.body.token))).status).toBe(200);
    const wrong = await login(username, 'wrong password!');
    const unknown = await login(uniqueId('nobody'), 'wrong password!');
    expect(wrong.status).toBe(200);
    expect(wrong.body).toEqual({ token: '', error: 'invalid', errorMsg: expect.any(String), timeout: 0 });
    expect(unknown.text).toBe(wrong.text);
  });

  it('shares the lockout with /login: 3 failures lock a minute, timeout in s (/auth: in minutes)', async () => {
    const username = uniqueId('u');
    await signUp(username);
    await login(username, 'wrong 1');
    await post(broker.url, '/login', { username, password: 'wrong 2' });
    await login(username, 'wrong 3');
    const locked = await login(username);
    expect(locked.body).toEqual({ token: '', error: 'timeout', errorMsg: expect.any(String), timeout: 60 });
    expect((await post(broker.url, '/login', { username, password: PASSWORD })).status).toBe(429);
    const auth = await call(broker.url, 'POST', '/auth', key, { username, password: PASSWORD });
    expect(auth.body).toEqual({ token: '', timeout: 1 });
    clock.advance(60);
    expect((await login(username)).body.error).toBe('');
    // The same for an unknown name: the lock does not reveal who has an account.
    const nobody = uniqueId('nobody');
    for (let i = 0; i < 3; i++) await login(nobody, 'guess');
    expect((await login(nobody, 'guess')).body).toMatchObject({ error: 'timeout', timeout: 60 });
    clock.advance(60);
  });

  it('Stupid Backend: /createUser and /auth', async () => {
    const username = uniqueId('u');
    const created = await call(broker.url, 'POST', '/createUser', key, {
      username,
      password: PASSWORD,
      email: `${username}@y.example`,
    });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ token: expect.any(String), problem: '' });
    const taken = await call(broker.url, 'POST', '/createUser', key, {
      username,
      password: PASSWORD,
      email: 'n@y.example',
    });
    expect([taken.status, taken.body]).toEqual([400, { token: '', problem: 'username' }]);
    const email = await call(broker.url, 'POST', '/createUser', key, {
      username: uniqueId('u'),
      password: PASSWORD,
      email: `${username}@y.example`,
    });
    expect(email.body).toEqual({ token: '', problem: 'email' });
    const password = await call(broker.url, 'POST', '/createUser', key, {
      username: uniqueId('u'),
      password: 'x',
      email: 'p@y.example',
    });
    expect(password.body).toEqual({ token: '', problem: 'password' });
    const auth = await call(broker.url, 'POST', '/auth', key, { username, password: PASSWORD });
    expect(auth.status).toBe(200);
    expect(auth.body).toEqual({ token: expect.any(String), timeout: -1 });
    const wrong = await call(broker.url, 'POST', '/auth', key, { username, password: 'wrong password!' });
    const unknown = await call(broker.url, 'POST', '/auth', key, {
      username: uniqueId('x'),
      password: 'wrong password!',
    });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(wrong.status);
    expect(unknown.text).toBe(wrong.text);
  });

  it('a password change checks old, applies the rules, and ends every older token and open stream', async () => {
    const username = uniqueId('u');
    const { token } = (await signUp(username)).body;
    const stream = new SseReader(`${broker.url}/sse`, bearer(token));
    await stream.waitFor((r) => r.status === 200);
    const change = (fields: Record<string, unknown>) =>
      call(broker.url, 'POST', '/user/changepassword', key, {
        token,
        old: PASSWORD,
        new: 'a new long password',
        ...fields,
      });
    expect((await change({ old: 'wrong password' })).body.errorCode).toBe('unauthorized');
    expect((await change({ token: 'not a token' })).body.errorCode).toBe('unauthorized');
    expect((await change({ new: 'short' })).body.errorCode).toBe('password');
    expect((await change({})).status).toBe(200);
    await stream.waitFor((r) => r.ended);
    expect((await get(broker.url, '/verify', bearer(token))).status).toBe(401);
    expect((await login(username)).body.error).toBe('invalid');
    expect((await login(username, 'a new long password')).body.error).toBe('');
  });

  it('DELETE /user/{id} ends tokens and streams and frees the username and email; own tenant only', async () => {
    const username = uniqueId('u');
    const { token } = (await signUp(username)).body;
    const { id } = (await post(broker.url, '/get_user', { admin_token: ADMIN, username })).body;
    const stream = new SseReader(`${broker.url}/sse`, bearer(token));
    await stream.waitFor((r) => r.status === 200);
    const otherApp = await appWithKey(broker.url);
    expect((await call(broker.url, 'DELETE', `/user/${id}`, otherApp.key)).status).toBe(404);
    expect((await call(broker.url, 'DELETE', `/user/${id}`, key)).status).toBe(200);
    await stream.waitFor((r) => r.ended);
    expect((await get(broker.url, '/verify', bearer(token))).status).toBe(401);
    expect((await call(broker.url, 'DELETE', `/user/${id}`, key)).status).toBe(404);
    const again = await signUp(username);
    expect(again.status).toBe(201);
    // The old token does not fit the new account of the same name.
    expect((await get(broker.url, '/verify', bearer(token))).status).toBe(401);
    // A management key deletes in any app.
    await createApp(broker.url, { app_id: 'root' });
    const root = await createKey(broker.url, 'root', { permissions: {} });
    const second = (await post(broker.url, '/get_user', { admin_token: ADMIN, username })).body.id;
    expect((await call(broker.url, 'DELETE', `/user/${second}`, root.key)).status).toBe(200);
  });

  it('emails are unique across all users: admin-made and app-made, any case; deleting frees it', async () => {
    const admin = uniqueId('a');
    const email = `${admin}@both.example`;
    const made = await post(broker.url, '/create_user', {
      admin_token: ADMIN,
      username: admin,
      password: PASSWORD,
      tenant_name: tenant,
      email,
    });
    expect(made.status).toBe(200);
    const app = await signUp(uniqueId('u'), { email: email.toUpperCase() });
    expect([app.status, app.body.errorCode]).toEqual([401, 'taken']);
    const stupid = await call(broker.url, 'POST', '/createUser', key, {
      username: uniqueId('u'),
      password: PASSWORD,
      email: email.toUpperCase(),
    });
    expect([stupid.status, stupid.body]).toEqual([400, { token: '', problem: 'email' }]);
    // An app user's email refuses an admin create_user and update_user, as a taken username is answered.
    const appUser = uniqueId('u');
    expect((await signUp(appUser)).status).toBe(201);
    const appEmail = `${appUser}@X.example`;
    const second = uniqueId('a');
    const refused = await post(broker.url, '/create_user', {
      admin_token: ADMIN,
      username: second,
      password: PASSWORD,
      tenant_name: tenant,
      email: appEmail,
    });
    expect([refused.status, refused.body]).toEqual([400, { error: 'email is taken' }]);
    expect((await post(broker.url, '/get_user', { admin_token: ADMIN, username: second })).status).toBe(404);
    const update = await post(broker.url, '/update_user', { admin_token: ADMIN, username: admin, email: appEmail });
    expect([update.status, update.body]).toEqual([400, { error: 'email is taken' }]);
    expect((await post(broker.url, '/get_user', { admin_token: ADMIN, username: admin })).body.email).toBe(email);
    // Its own email again (another case) is no conflict; a new one frees the old.
    const same = await post(broker.url, '/update_user', {
      admin_token: ADMIN,
      username: admin,
      email: email.toUpperCase(),
    });
    expect(same.status).toBe(200);
    expect(
      (await post(broker.url, '/update_user', { admin_token: ADMIN, username: admin, email: `n${email}` })).status,
    ).toBe(200);
    expect((await signUp(uniqueId('u'), { email })).status).toBe(201);
    // Deleting the app user frees its email for an admin create_user.
    const { id } = (await post(broker.url, '/get_user', { admin_token: ADMIN, username: appUser })).body;
    expect((await call(broker.url, 'DELETE', `/user/${id}`, key)).status).toBe(200);
    const freed = await post(broker.url, '/create_user', {
      admin_token: ADMIN,
      username: second,
      password: PASSWORD,
      tenant_name: tenant,
      email: appEmail,
    });
    expect(freed.status).toBe(200);
  });
});
