// The per-account lock schedule of issue 6, against the real server with a clock the test moves:
// 3 failures lock for 1 minute, each further 3 multiply the lock by 3, capped at 60 minutes, and a
// success resets it. Unknown usernames follow the same schedule (so a lock does not reveal existence).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { ADMIN } from '../helpers/broker.js';
import { basic, bearer, get, makeUser, post } from '../helpers/http.js';
import { Clock } from './support.js';

const clock = new Clock();
let broker: TestBroker;

beforeAll(async () => {
  broker = await startBroker({}, { now: clock.now });
});
afterAll(() => broker.stop());

const login = (username: string, password: string) => post(broker.url, '/login', { username, password });

/** Three wrong passwords: the first two answer 401, the third too (it is the one that sets the lock). */
async function failThrice(username: string): Promise<void> {
  for (let i = 0; i < 3; i++) {
    const answer = await login(username, 'wrong password');
    expect(answer.status, `failure ${i + 1} of 3`).toBe(401);
  }
}

/** The account is locked for exactly `seconds`: 429 + Retry-After now, still at seconds-1, open at seconds. */
async function expectLockedFor(username: string, password: string, seconds: number): Promise<void> {
  const locked = await login(username, password);
  expect(locked.status).toBe(429);
  expect(locked.headers.get('retry-after')).toBe(String(seconds));
  expect(locked.body.error).toMatch(/try again later/);
  clock.advance(seconds - 1);
  const still = await login(username, password);
  expect(still.status).toBe(429);
  expect(still.headers.get('retry-after')).toBe('1');
  clock.advance(1);
}

describe('per-account lock schedule', () => {
  it('locks after 3 failures for 1 minute, then 3, 9, 27 minutes, capped at 60', async () => {
    const user = await makeUser(broker.url);
    const schedule = [60, 180, 540, 1620, 3600, 3600];
    for (const seconds of schedule) {
      await failThrice(user.username);
      // Even the right password is refused while locked: the lock is not a password oracle.
      await expectLockedFor(user.username, user.password, seconds);
    }
    // Once the lock ends, the right password logs in.
    expect((await login(user.username, user.password)).status).toBe(200);
  });

  it('does not lock before the third failure', async () => {
    const user = await makeUser(broker.url);
    expect((await login(user.username, 'nope')).status).toBe(401);
    expect((await login(user.username, 'nope')).status).toBe(401);
    expect((await login(user.username, user.password)).status).toBe(200);
  });

  it('a success resets the count, so the next lock is 1 minute again', async () => {
    const user = await makeUser(broker.url);
    await failThrice(user.username);
    await expectLockedFor(user.username, user.password, 60);
    await failThrice(user.username);
    await expectLockedFor(user.username, user.password, 180);
    expect((await login(user.username, user.password)).status).toBe(200);
    // Two failures after the success do not lock (the count restarted at zero)...
    expect((await login(user.username, 'nope')).status).toBe(401);
    expect((await login(user.username, 'nope')).status).toBe(401);
    expect((await login(user.username, user.password)).status).toBe(200);
    // ...and three lock for the first duration, not for 9 minutes.
    await failThrice(user.username);
    await expectLockedFor(user.username, user.password, 60);
  });

  it('an unknown username follows the same schedule', async () => {
    const ghost = `ghost-${Date.now()}`;
    for (const seconds of [60, 180, 540]) {
      await failThrice(ghost);
      await expectLockedFor(ghost, 'anything', seconds);
    }
  });

  it('Basic auth failures count toward the same lock, and a locked account cannot use Basic', async () => {
    const user = await makeUser(broker.url);
    for (let i = 0; i < 3; i++)
      expect((await get(broker.url, '/verify', basic(user.username, 'wrong'))).status).toBe(401);
    const viaBasic = await get(broker.url, '/verify', basic(user.username, user.password));
    expect(viaBasic.status).toBe(429);
    expect(viaBasic.headers.get('retry-after')).toBe('60');
    const viaLogin = await login(user.username, user.password);
    expect(viaLogin.status).toBe(429);
    clock.advance(60);
    expect((await get(broker.url, '/verify', basic(user.username, user.password))).status).toBe(200);
  });

  it('locks one account without touching another', async () => {
    const a = await makeUser(broker.url);
    const b = await makeUser(broker.url);
    await failThrice(a.username);
    expect((await login(a.username, a.password)).status).toBe(429);
    expect((await login(b.username, b.password)).status).toBe(200);
    // A lock stops password guesses, not sessions: a token issued before it keeps working, so locking
    // someone out (anyone who can name an account can) does not end their open sessions.
    expect((await get(broker.url, '/verify', bearer(a.jwt))).status).toBe(200);
    clock.advance(60);
  });

  it('a password reset clears the lock (the owner proved control of the account)', async () => {
    const user = await makeUser(broker.url);
    await failThrice(user.username);
    expect((await login(user.username, user.password)).status).toBe(429);
    const code = await post(broker.url, '/create_totp', { admin_token: ADMIN, username: user.username });
    expect(code.status).toBe(200);
    const reset = await post(broker.url, '/password_reset', {
      username: user.username,
      totp: code.body.totp,
      password: 'a brand new passphrase',
    });
    expect(reset.status).toBe(200);
    expect((await login(user.username, 'a brand new passphrase')).status).toBe(200);
  });

  // The lock must hold against concurrency: checking it before argon2 and recording the failure after
  // would let a burst of parallel guesses all pass the check (it did: 20 of 20 were checked).
  it('a burst of concurrent wrong guesses gets at most 3 password checks before the lock', async () => {
    const user = await makeUser(broker.url);
    const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => login(user.username, `guess${i}`)));
    const statuses = burst.map((a) => a.status);
    expect(statuses.filter((s) => s === 401).length, statuses.join(',')).toBeLessThanOrEqual(3);
    expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
    clock.advance(3600);
  });

  it('several devices logging in at once with the right password all succeed (extra attempts wait)', async () => {
    const user = await makeUser(broker.url);
    const burst = await Promise.all(Array.from({ length: 8 }, () => login(user.username, user.password)));
    expect(burst.map((a) => a.status)).toEqual(Array(8).fill(200));
    const basics = await Promise.all(
      Array.from({ length: 8 }, () => get(broker.url, '/verify', basic(user.username, user.password))),
    );
    expect(basics.map((a) => a.status)).toEqual(Array(8).fill(200));
  });

  // Basic cannot carry a second factor, so a right password on a two-factor (or revoked) account is
  // refused too; if that refusal did not count, two wrong guesses and a candidate would tell the password
  // apart (locked next, or not) without the second factor.
  it('Basic on a two-factor or revoked account is no password oracle: every refusal counts', async () => {
    for (const kind of ['two-factor', 'revoked'] as const) {
      const user = await makeUser(broker.url, kind === 'two-factor' ? { two_factor: true } : {});
      if (kind === 'revoked') await post(broker.url, '/revoke_user', { admin_token: ADMIN, username: user.username });
      for (let i = 0; i < 2; i++)
        expect((await get(broker.url, '/verify', basic(user.username, 'wrong'))).status).toBe(401);
      expect((await get(broker.url, '/verify', basic(user.username, user.password))).status).toBe(401);
      // Three refusals: locked, whichever the third password was.
      expect((await get(broker.url, '/verify', basic(user.username, 'wrong'))).status, kind).toBe(429);
      clock.advance(3600);
    }
  });
});
