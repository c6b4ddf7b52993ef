// Sessions end when they should: a token issued before the user's last password change (update_user or
// password_reset) or revoke is refused, even after unrevoke; recovery codes work once each.
import { authenticator } from 'otplib';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, startBroker, type TestBroker } from '../helpers/broker.js';
import { basic, bearer, get, makeUser, post } from '../helpers/http.js';
import { Clock } from './support.js';

const clock = new Clock();
let broker: TestBroker;
const SECRET = 'a jwt secret only these tests know';

beforeAll(async () => {
  broker = await startBroker({ jwt_secret: SECRET, jwt_expiry: 3600 }, { now: clock.now });
});
afterAll(() => broker.stop());

const verify = (jwt: string) => get(broker.url, '/verify', bearer(jwt));
const loginJwt = async (username: string, password: string, totp?: string) => {
  const answer = await post(
    broker.url,
    '/login',
    totp === undefined ? { username, password } : { username, password, totp },
  );
  expect(answer.status, answer.text).toBe(200);
  return answer.body.jwt as string;
};

describe('old tokens are refused', () => {
  it('after update_user changes the password; a new login works; other fields leave tokens alone', async () => {
    const user = await makeUser(broker.url);
    const older = user.jwt;
    expect((await verify(older)).status).toBe(200);
    // A change that is not the password keeps the session.
    expect(
      (await post(broker.url, '/update_user', { admin_token: ADMIN, username: user.username, data: { x: 1 } })).status,
    ).toBe(200);
    expect((await verify(older)).status).toBe(200);
    expect(
      (
        await post(broker.url, '/update_user', {
          admin_token: ADMIN,
          username: user.username,
          password: 'the new passphrase',
        })
      ).status,
    ).toBe(200);
    expect((await verify(older)).status).toBe(401);
    expect((await post(broker.url, '/insert', { event: 'e', data: 1 }, bearer(older))).status).toBe(401);
    // The old password is gone with it; the new one gives a working token.
    expect((await post(broker.url, '/login', { username: user.username, password: user.password })).status).toBe(401);
    const newer = await loginJwt(user.username, 'the new passphrase');
    expect((await verify(newer)).status).toBe(200);
    expect((await verify(older)).status).toBe(401);
  });

  it('after password_reset', async () => {
    const user = await makeUser(broker.url);
    const code = await post(broker.url, '/create_totp', { admin_token: ADMIN, username: user.username });
    expect((await verify(user.jwt)).status).toBe(200);
    const reset = await post(broker.url, '/password_reset', {
      username: user.username,
      totp: code.body.totp,
      password: 'reset passphrase',
    });
    expect(reset.status).toBe(200);
    expect((await verify(user.jwt)).status).toBe(401);
    expect((await get(broker.url, '/verify', basic(user.username, user.password))).status).toBe(401);
    expect((await verify(await loginJwt(user.username, 'reset passphrase'))).status).toBe(200);
    // The reset code worked once.
    const again = await post(broker.url, '/password_reset', {
      username: user.username,
      totp: code.body.totp,
      password: 'a third one',
    });
    expect(again.status).toBe(401);
  });

  it('after revoke, and still after unrevoke (unrevoke restores logging in, not old sessions)', async () => {
    const user = await makeUser(broker.url);
    expect((await post(broker.url, '/revoke_user', { admin_token: ADMIN, username: user.username })).status).toBe(200);
    expect((await verify(user.jwt)).status).toBe(401);
    expect((await post(broker.url, '/unrevoke_user', { admin_token: ADMIN, username: user.username })).status).toBe(
      200,
    );
    expect((await verify(user.jwt)).status).toBe(401);
    expect((await verify(await loginJwt(user.username, user.password))).status).toBe(200);
  });

  it(
    'a token issued in the same second as the password change is ' + 'still told apart (versions, not timestamps)',
    async () => {
      const user = await makeUser(broker.url);
      const older = await loginJwt(user.username, user.password);
      expect(
        (
          await post(broker.url, '/update_user', {
            admin_token: ADMIN,
            username: user.username,
            password: 'same second pass',
          })
        ).status,
      ).toBe(200);
      const newer = await loginJwt(user.username, 'same second pass');
      // The clock did not move: iat of both tokens is equal.
      expect((await verify(older)).status).toBe(401);
      expect((await verify(newer)).status).toBe(200);
    },
  );

  it('expired tokens are refused at their expiry', async () => {
    const user = await makeUser(broker.url);
    const jwt = await loginJwt(user.username, user.password);
    clock.advance(3599);
    expect((await verify(jwt)).status).toBe(200);
    clock.advance(1);
    expect((await verify(jwt)).status).toBe(401);
  });

  it(
    'a token forged without the token version counts as version ' + '0 and dies with the first password change',
    async () => {
      const user = await makeUser(broker.url);
      const now = Math.floor(clock.ms / 1000);
      const forged = await new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(user.username)
        .setIssuer('Broker')
        .setIssuedAt(now)
        .setExpirationTime(now + 60)
        .sign(new TextEncoder().encode(SECRET));
      expect((await verify(forged)).status).toBe(200);
      await post(broker.url, '/update_user', {
        admin_token: ADMIN,
        username: user.username,
        password: 'changed again',
      });
      expect((await verify(forged)).status).toBe(401);
    },
  );
});

describe('recovery codes', () => {
  async function twoFactorUser() {
    const user = await makeUser(broker.url, { two_factor: true });
    const issued = await post(broker.url, '/create_recovery_codes', { admin_token: ADMIN, username: user.username });
    expect(issued.status).toBe(200);
    return { ...user, codes: issued.body.codes as string[] };
  }

  it('issues 10 distinct codes, stored only as hashes', async () => {
    const user = await twoFactorUser();
    expect(user.codes).toHaveLength(10);
    expect(new Set(user.codes).size).toBe(10);
    const record = broker.services.storage.users.get(user.username) as { recovery_codes: string[] };
    const stored = JSON.stringify(record);
    for (const code of user.codes) {
      expect(stored).not.toContain(code);
      expect(stored).not.toContain(code.replace('-', ''));
    }
    expect(record.recovery_codes).toHaveLength(10);
    // Nor does the admin API show them.
    const shown = await post(broker.url, '/get_user', { admin_token: ADMIN, username: user.username });
    expect(shown.text).not.toContain(user.codes[0]);
  });

  it('each code logs in once in place of a TOTP, and never again', async () => {
    const user = await twoFactorUser();
    const [first, second] = user.codes;
    expect((await verify(await loginJwt(user.username, user.password, first))).status).toBe(200);
    const reused = await post(broker.url, '/login', { username: user.username, password: user.password, totp: first });
    expect(reused.status).toBe(401);
    // Another code still works (using one does not burn the others)...
    expect((await verify(await loginJwt(user.username, user.password, second))).status).toBe(200);
    // ...and the stored list shrank by exactly the two used.
    const record = broker.services.storage.users.get(user.username) as { recovery_codes: string[] };
    expect(record.recovery_codes).toHaveLength(8);
  });

  it('a code needs the right password too, and a wrong password does not consume it', async () => {
    const user = await twoFactorUser();
    const [code] = user.codes;
    expect((await post(broker.url, '/login', { username: user.username, password: 'wrong', totp: code })).status).toBe(
      401,
    );
    expect((await verify(await loginJwt(user.username, user.password, code))).status).toBe(200);
  });

  it('is typed forgivingly (case, dash) but a near miss is refused', async () => {
    const user = await twoFactorUser();
    const [a, b] = user.codes;
    expect(
      (
        await post(broker.url, '/login', {
          username: user.username,
          password: user.password,
          totp: a.toLowerCase().replace('-', ' '),
        })
      ).status,
    ).toBe(200);
    const nearMiss = b.slice(0, -1) + (b.endsWith('A') ? 'B' : 'A');
    expect(
      (await post(broker.url, '/login', { username: user.username, password: user.password, totp: nearMiss })).status,
    ).toBe(401);
  });

  it('issuing a new set voids the old one', async () => {
    const user = await twoFactorUser();
    const again = await post(broker.url, '/create_recovery_codes', { admin_token: ADMIN, username: user.username });
    expect(
      (await post(broker.url, '/login', { username: user.username, password: user.password, totp: user.codes[0] }))
        .status,
    ).toBe(401);
    expect(
      (
        await post(broker.url, '/login', {
          username: user.username,
          password: user.password,
          totp: again.body.codes[0],
        })
      ).status,
    ).toBe(200);
  });

  it('two concurrent logins with one code: exactly one wins', async () => {
    const user = await twoFactorUser();
    const code = user.codes[3];
    const answers = await Promise.all(
      [0, 1, 2, 3].map(() =>
        post(broker.url, '/login', { username: user.username, password: user.password, totp: code }),
      ),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    // The others lose: 401, or 429 once three attempts in flight have reserved a lock.
    for (const s of statuses.filter((x) => x !== 200)) expect([401, 429]).toContain(s);
  });

  it('needs the admin token and an existing user', async () => {
    const user = await makeUser(broker.url, { two_factor: true });
    const wrong = await post(broker.url, '/create_recovery_codes', { admin_token: 'not it', username: user.username });
    expect(wrong.status).toBe(401);
    expect((broker.services.storage.users.get(user.username) as { recovery_codes: string[] }).recovery_codes).toEqual(
      [],
    );
    expect(
      (await post(broker.url, '/create_recovery_codes', { admin_token: ADMIN, username: 'no-such-user' })).status,
    ).toBe(404);
  });

  it('four concurrent logins with one TOTP code: exactly one wins', async () => {
    const user = await makeUser(broker.url, { two_factor: true });
    const secret = (broker.services.storage.users.get(user.username) as { totp: string }).totp;
    clock.advance(60); // a time step no earlier test of this user used
    const code = authenticator.clone({ epoch: clock.ms }).generate(secret);
    const answers = await Promise.all(
      [0, 1, 2, 3].map(() =>
        post(broker.url, '/login', { username: user.username, password: user.password, totp: code }),
      ),
    );
    const statuses = answers.map((a) => a.status);
    // One wins; the others are refused (401, or 429 once their reserved attempts reached the lock).
    expect(
      statuses.filter((st) => st === 200),
      statuses.join(','),
    ).toHaveLength(1);
    expect(statuses.every((st) => st === 200 || st === 401 || st === 429)).toBe(true);
  });

  it('a TOTP code still works alongside, once', async () => {
    const user = await twoFactorUser();
    const secret = (broker.services.storage.users.get(user.username) as { totp: string }).totp;
    const code = authenticator.clone({ epoch: clock.ms }).generate(secret);
    expect(
      (await post(broker.url, '/login', { username: user.username, password: user.password, totp: code })).status,
    ).toBe(200);
    expect(
      (await post(broker.url, '/login', { username: user.username, password: user.password, totp: code })).status,
    ).toBe(401);
  });
});
