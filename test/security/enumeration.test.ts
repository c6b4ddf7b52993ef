// An unknown username must answer exactly like a known one, on every path a prober can try: status,
// body and the headers that matter, and no timing difference worth measuring (argon2 runs on a dummy
// hash for unknown users).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, startBroker, type TestBroker } from '../helpers/broker.js';
import { basic, get, makeUser, post, type Answer } from '../helpers/http.js';
import { Clock } from './support.js';

const clock = new Clock();
let broker: TestBroker;

beforeAll(async () => {
  broker = await startBroker({}, { now: clock.now });
});
afterAll(() => broker.stop());

/** Headers that differ between any two answers by nature (time, per-IP counters) are left out. */
const VOLATILE = new Set(['date', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'keep-alive', 'connection']);
function shape(answer: Answer) {
  const headers: Record<string, string> = {};
  answer.headers.forEach((value, name) => {
    if (!VOLATILE.has(name)) headers[name] = value;
  });
  return { status: answer.status, body: answer.text, headers };
}

let seq = 0;
const fresh = () => `nobody-${process.pid}-${++seq}`;

describe('unknown and known usernames answer alike', () => {
  it('login with a wrong password', async () => {
    const known = await makeUser(broker.url);
    const a = await post(broker.url, '/login', { username: known.username, password: 'wrong' });
    const b = await post(broker.url, '/login', { username: fresh(), password: 'wrong' });
    expect(a.status).toBe(401);
    expect(shape(b)).toEqual(shape(a));
  });

  it('login of a revoked user, even with the right password', async () => {
    const known = await makeUser(broker.url);
    expect((await post(broker.url, '/revoke_user', { admin_token: ADMIN, username: known.username })).status).toBe(200);
    const a = await post(broker.url, '/login', { username: known.username, password: known.password });
    const b = await post(broker.url, '/login', { username: fresh(), password: known.password });
    expect(a.status).toBe(401);
    expect(shape(b)).toEqual(shape(a));
  });

  it('login of a two-factor user with the right password and no or a wrong code', async () => {
    const known = await makeUser(broker.url, { two_factor: true });
    const missing = await post(broker.url, '/login', { username: known.username, password: known.password });
    const wrong = await post(broker.url, '/login', {
      username: known.username,
      password: known.password,
      totp: '000000',
    });
    const unknown = await post(broker.url, '/login', { username: fresh(), password: known.password, totp: '000000' });
    expect(missing.status).toBe(401);
    expect(shape(wrong)).toEqual(shape(missing));
    expect(shape(unknown)).toEqual(shape(missing));
  });

  it('a locked account and a locked unknown name', async () => {
    const known = await makeUser(broker.url);
    const ghost = fresh();
    for (let i = 0; i < 3; i++) {
      const a = await post(broker.url, '/login', { username: known.username, password: 'wrong' });
      const b = await post(broker.url, '/login', { username: ghost, password: 'wrong' });
      expect(shape(b)).toEqual(shape(a));
    }
    const a = await post(broker.url, '/login', { username: known.username, password: 'wrong' });
    const b = await post(broker.url, '/login', { username: ghost, password: 'wrong' });
    expect(a.status).toBe(429);
    expect(shape(b)).toEqual(shape(a));
    clock.advance(60);
  });

  it('Basic auth with a wrong password', async () => {
    const known = await makeUser(broker.url);
    const a = await get(broker.url, '/verify', basic(known.username, 'wrong'));
    const b = await get(broker.url, '/verify', basic(fresh(), 'wrong'));
    expect(a.status).toBe(401);
    expect(shape(b)).toEqual(shape(a));
  });

  it('password_reset with a wrong code, with and without a pending reset code', async () => {
    const known = await makeUser(broker.url);
    const none = await post(broker.url, '/password_reset', {
      username: known.username,
      totp: '123456',
      password: 'x y z w v',
    });
    expect((await post(broker.url, '/create_totp', { admin_token: ADMIN, username: known.username })).status).toBe(200);
    const pending = await post(broker.url, '/password_reset', {
      username: known.username,
      totp: 'not-it',
      password: 'x y z w v',
    });
    const unknown = await post(broker.url, '/password_reset', {
      username: fresh(),
      totp: '123456',
      password: 'x y z w v',
    });
    expect(none.status).toBe(401);
    expect(shape(pending)).toEqual(shape(none));
    expect(shape(unknown)).toEqual(shape(none));
  });
});

describe('timing', () => {
  /**
   * Median of alternating samples, so that drift in machine load hits both sides alike. The clock jumps
   * two hours between rounds so that no lock interferes. Without the dummy hash an unknown name would
   * answer in ~1 ms against ~25-40 ms for argon2: the bound below catches that with a wide margin while
   * tolerating argon2's own jitter on a shared machine.
   */
  it('an unknown username costs the same argon2 work as a known one', async () => {
    const known = await makeUser(broker.url);
    const knownMs: number[] = [];
    const unknownMs: number[] = [];
    const time = async (username: string, into: number[]) => {
      const t = performance.now();
      const answer = await post(broker.url, '/login', { username, password: 'wrong' });
      into.push(performance.now() - t);
      expect(answer.status).toBe(401);
    };
    await time(fresh(), []); // the first unknown login creates the dummy hash: warm it outside the sample
    for (let i = 0; i < 60; i++) {
      clock.advance(7200);
      if (i % 2 === 0) {
        await time(known.username, knownMs);
        await time(fresh(), unknownMs);
      } else {
        await time(fresh(), unknownMs);
        await time(known.username, knownMs);
      }
    }
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1];
    const k = median(knownMs);
    const u = median(unknownMs);
    // Both sides pay for argon2 (well over 5 ms each)...
    expect(u).toBeGreaterThan(5);
    // ...and neither is less than half the other. Skipping argon2 for an unknown name makes it ~1 ms
    // against ~25 ms (a ratio near 0.04), far outside; load on a shared machine moves both medians
    // alike and stays well inside.
    const both = `known ${k.toFixed(1)} ms, unknown ${u.toFixed(1)} ms`;
    expect(u, both).toBeGreaterThan(0.5 * k);
    expect(k, both).toBeGreaterThan(0.5 * u);
  });
});
