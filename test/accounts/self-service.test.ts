// Self-service with a user's own token, against the real server: change_password, enroll/confirm
// TOTP, logout (this token) and logout_all (every token and stream).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentTotp } from '../../src/identity/totp.js';
import { ADMIN, startBroker, type TestBroker } from '../helpers/broker.js';
import { basic, bearer, get, makeUser, post } from '../helpers/http.js';
import { openSse } from '../helpers/sse.js';
import { waitUntil } from '../helpers/wait.js';

const NEW_PASSWORD = 'another horse battery staple';

describe('self-service', () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startBroker();
  });
  afterAll(() => broker.stop());

  /** /sse, /insert and /verify all refuse the token. */
  async function refusedEverywhere(jwt: string) {
    expect((await get(broker.url, '/verify', bearer(jwt))).status).toBe(401);
    expect((await post(broker.url, '/insert', { event: 'e', data: 1 }, bearer(jwt))).status).toBe(401);
    const sse = openSse(broker.url, jwt);
    await sse.waitFor((r) => r.status !== 0);
    expect(sse.status).toBe(401);
    sse.close();
  }

  it('logout ends this token (401 on /sse, /insert, /verify) and not another one', async () => {
    const { jwt, username, password } = await makeUser(broker.url);
    // Two logins in the same second make the same token (no jti): the next second makes another one.
    const second = Math.floor(Date.now() / 1000);
    await waitUntil(() => Math.floor(Date.now() / 1000) > second, 2000, 'the next second');
    const other = (await post(broker.url, '/login', { username, password })).body.jwt as string;
    expect((await post(broker.url, '/logout', {}, bearer(jwt))).status).toBe(200);
    await refusedEverywhere(jwt);
    expect((await get(broker.url, '/verify', bearer(other))).status).toBe(200);
  });

  it('logout_all ends every token and open stream of the user', async () => {
    const { jwt, username, password } = await makeUser(broker.url);
    const other = (await post(broker.url, '/login', { username, password })).body.jwt as string;
    const sse = openSse(broker.url, other);
    await sse.waitFor((r) => r.status === 200);
    expect((await post(broker.url, '/logout_all', {}, bearer(jwt))).status).toBe(200);
    await sse.waitFor((r) => r.ended);
    await refusedEverywhere(jwt);
    await refusedEverywhere(other);
    expect((await post(broker.url, '/login', { username, password })).status).toBe(200);
  });

  it('change_password checks the current one, ends older tokens and answers a new one', async () => {
    const { jwt, username, password } = await makeUser(broker.url);
    const wrong = await post(
      broker.url,
      '/change_password',
      { password: 'nope', new_password: NEW_PASSWORD },
      bearer(jwt),
    );
    expect(wrong.status).toBe(401);
    expect((await get(broker.url, '/verify', bearer(jwt))).status).toBe(200);
    const sse = openSse(broker.url, jwt);
    await sse.waitFor((r) => r.status === 200);
    const changed = await post(
      broker.url,
      '/change_password',
      { password, new_password: NEW_PASSWORD },
      basic(username, password),
    );
    expect(changed.status).toBe(200);
    await sse.waitFor((r) => r.ended);
    await refusedEverywhere(jwt);
    expect((await get(broker.url, '/verify', bearer(changed.body.jwt))).status).toBe(200);
    expect((await post(broker.url, '/login', { username, password })).status).toBe(401);
    expect((await post(broker.url, '/login', { username, password: NEW_PASSWORD })).status).toBe(200);
  });

  it('wrong current passwords count toward the lockout', async () => {
    const { jwt, username } = await makeUser(broker.url);
    let locked = false;
    for (let i = 0; i < 12 && !locked; i++) {
      const r = await post(
        broker.url,
        '/change_password',
        { password: `bad${i}`, new_password: NEW_PASSWORD },
        bearer(jwt),
      );
      locked = r.status === 429;
    }
    expect(locked).toBe(true);
    const user = await post(broker.url, '/get_user', { admin_token: ADMIN, username });
    expect(user.status).toBe(200);
  });

  it('enrolment without a valid code leaves two-factor off; a valid code turns it on', async () => {
    const { jwt, username, password } = await makeUser(broker.url);
    // The body is optional.
    const bare = await fetch(`${broker.url}/enroll_totp`, { method: 'POST', headers: bearer(jwt) });
    expect(bare.status).toBe(200);
    const enrolled = await post(broker.url, '/enroll_totp', { issuer: 'My app' }, bearer(jwt));
    expect(enrolled.status).toBe(200);
    expect(enrolled.body.uri).toMatch(/^otpauth:\/\/totp\/My%20app:/);
    expect(enrolled.body.qr).toMatch(/^[A-Za-z0-9+/]+=*$/);
    const secret = new URL(enrolled.body.uri).searchParams.get('secret') as string;
    expect((await post(broker.url, '/confirm_totp', { totp: '000000' }, bearer(jwt))).status).toBe(400);
    expect((await post(broker.url, '/confirm_totp', { totp: 'abc' }, bearer(jwt))).status).toBe(400);
    let user = await post(broker.url, '/get_user', { admin_token: ADMIN, username });
    expect(user.body.two_factor).not.toBe(true);
    expect((await post(broker.url, '/login', { username, password })).status).toBe(200);

    const confirmed = await post(broker.url, '/confirm_totp', { totp: currentTotp(secret) }, bearer(jwt));
    expect(confirmed.status).toBe(200);
    expect(confirmed.body.codes).toHaveLength(10);
    user = await post(broker.url, '/get_user', { admin_token: ADMIN, username });
    expect(user.body.two_factor).toBe(true);
    // The old token (password alone) ended; the new one works; login now needs a code.
    expect((await get(broker.url, '/verify', bearer(jwt))).status).toBe(401);
    expect((await get(broker.url, '/verify', bearer(confirmed.body.jwt))).status).toBe(200);
    expect((await post(broker.url, '/login', { username, password })).status).toBe(401);
    const recovery = await post(broker.url, '/login', { username, password, totp: confirmed.body.codes[0] });
    expect(recovery.status).toBe(200);
    // Once on, a token cannot replace the second factor.
    expect((await post(broker.url, '/enroll_totp', {}, bearer(confirmed.body.jwt))).status).toBe(400);
  });

  it('every self-service route needs the user', async () => {
    for (const path of ['/change_password', '/enroll_totp', '/confirm_totp', '/logout', '/logout_all'])
      expect((await post(broker.url, path, {})).status).toBe(401);
  });
});
