// Property-based fuzzing of the credential parsers: JWT (mutated real tokens, arbitrary claims signed
// with the real secret, garbage), Basic (any bytes, any text) and TOTP / reset / recovery codes (any
// string). Beyond "no 5xx, nothing changed when rejected" (harness.ts), each property states when a
// credential may pass at all, so that a parser accepting too much fails here.
import fc from 'fast-check';
import { SignJWT, base64url } from 'jose';
import { authenticator } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, startBroker } from '../helpers/broker.js';
import { makeUser, post } from '../helpers/http.js';
import { Clock } from '../security/support.js';
import { SEED, checkRequest, property, type Fixture } from './harness.js';

const SECRET = 'fuzz-parsers-secret-0123456789abcdef';
const clock = new Clock();
let f: Fixture;
let bobSecret: string;

beforeAll(async () => {
  const broker = await startBroker(
    { jwt_secret: SECRET, login_rate_limit: 1_000_000, admin_rate_limit: 1_000_000, jwt_expiry: 3600 },
    { now: clock.now },
  );
  const alice = await makeUser(broker.url, { username: 'alice', password: 'alice password' });
  await makeUser(broker.url, { username: 'bob', password: 'bob password', two_factor: true });
  bobSecret = (broker.services.storage.users.get('bob') as { totp: string }).totp;
  f = { broker, alice, others: ['bob'] };
  console.info(`fuzz seed ${SEED} (replay with FUZZ_SEED=${SEED})`);
});
afterAll(() => f.broker.stop());

const MS = 4_000;
const verify = (authorization: string) =>
  checkRequest(f, { method: 'GET', path: '/verify', query: '', headers: { authorization }, body: undefined });
const nowS = () => Math.floor(clock.ms / 1000);

describe('JWT', () => {
  it('a mutated real token passes only if it still means the same claims', async () => {
    const original = JSON.parse(Buffer.from(f.alice.jwt.split('.')[1], 'base64url').toString());
    const mutation = fc.oneof(
      fc
        .tuple(fc.nat(), fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ '))
        .map(([i, c]) => (t: string) => {
          const at = i % t.length;
          return t.slice(0, at) + c + t.slice(at + 1);
        }),
      fc.nat().map((i) => (t: string) => t.slice(0, i % t.length)),
      fc.tuple(fc.nat(), fc.string({ maxLength: 5 })).map(
        ([i, s]) =>
          (t: string) =>
            t.slice(0, i % t.length) + s + t.slice(i % t.length),
      ),
      fc.constant((t: string) => t.split('.').reverse().join('.')),
      fc.constant((t: string) => `${t}.${t.split('.')[2]}`),
    );
    await property(
      fc.array(mutation, { minLength: 1, maxLength: 3 }),
      async (mutations) => {
        const token = mutations.reduce((t, m) => m(t), f.alice.jwt);
        const answer = await verify(`Bearer ${token}`);
        expect([200, 401]).toContain(answer.status);
        if (answer.status === 200) {
          // base64url's last character carries spare bits, so some one-character changes decode to the
          // very same bytes: that is not a forgery, as long as the claims are the signed ones.
          const body = JSON.parse(answer.text);
          expect(body.username).toBe('alice');
          expect(body.expiry).toBe(original.exp);
        }
      },
      150,
      MS,
    );
  });

  it('arbitrary claims signed with the real secret pass only when every claim is right', async () => {
    const claim = <T>(right: fc.Arbitrary<T>) =>
      fc.oneof({ weight: 3, arbitrary: right }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) });
    const header = fc.record({ alg: fc.constantFrom('HS256', 'HS256', 'HS384', 'HS512') }, { requiredKeys: ['alg'] });
    const payload = fc.record(
      {
        sub: claim(fc.constantFrom('alice', 'bob', 'nobody', '')),
        iss: claim(fc.constantFrom('Broker', 'broker', 'Other')),
        iat: claim(fc.integer({ min: -3600, max: 3600 }).map((d) => nowS() + d)),
        exp: claim(fc.integer({ min: -3600, max: 3600 }).map((d) => nowS() + d)),
        nbf: claim(fc.integer({ min: -3600, max: 3600 }).map((d) => nowS() + d)),
        tv: claim(fc.constantFrom(0, 1, -1)),
      },
      { requiredKeys: [] },
    );
    await property(
      fc.record({ header, payload }),
      async ({ header: h, payload: p }) => {
        let token: string;
        try {
          token = await new SignJWT(p as Record<string, unknown>)
            .setProtectedHeader(h as { alg: string })
            .sign(new TextEncoder().encode(SECRET));
        } catch {
          return; // jose refuses to sign some claim types (e.g. a non-numeric exp): nothing to send
        }
        const answer = await verify(`Bearer ${token}`);
        expect([200, 401]).toContain(answer.status);
        const mayPass =
          h.alg === 'HS256' &&
          p.iss === 'Broker' &&
          (p.sub === 'alice' || p.sub === 'bob') &&
          typeof p.exp === 'number' &&
          p.exp > nowS() &&
          typeof p.iat === 'number' &&
          (p.nbf === undefined || (typeof p.nbf === 'number' && p.nbf <= nowS())) &&
          (p.tv === undefined || p.tv === 0 || typeof p.tv !== 'number');
        if (answer.status === 200) {
          expect(mayPass, `accepted ${JSON.stringify({ h, p })}`).toBe(true);
          expect(JSON.parse(answer.text).username).toBe(p.sub);
        }
      },
      150,
      MS,
    );
  });

  it('garbage in three dotted segments is refused', async () => {
    const segment = fc.oneof(
      fc.base64String({ maxLength: 60 }).map((s) => s.replace(/=/g, '')),
      fc.string({ maxLength: 40 }),
      fc.jsonValue().map((v) => base64url.encode(JSON.stringify(v))),
    );
    await property(
      fc.array(segment, { minLength: 0, maxLength: 5 }),
      async (segments) => {
        const answer = await verify(`Bearer ${segments.join('.')}`);
        expect(answer.status).toBe(401);
      },
      150,
      MS,
    );
  });
});

describe('Basic', () => {
  it('any bytes, base64-encoded, pass if and only if they are exactly alice:password', async () => {
    const real = Buffer.from(`alice:${f.alice.password}`);
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b)),
      fc
        .tuple(fc.string({ unit: 'binary', maxLength: 20 }), fc.string({ unit: 'binary', maxLength: 20 }))
        .map(([u, p]) => Buffer.from(`${u}:${p}`)),
      fc.nat().map((i) => Buffer.concat([real.subarray(0, i % real.length), Buffer.from([i % 256])])),
      fc.constant(real),
    );
    await property(
      bytes,
      async (b) => {
        clock.advance(7200); // an expired lock from an earlier run must not decide this one
        const answer = await verify(`Basic ${b.toString('base64')}`);
        expect([200, 401, 429]).toContain(answer.status);
        // Both ways: a forgery must not pass, and the real credential must (the clock moved past any lock).
        expect(
          answer.status === 200,
          `${b.equals(real) ? 'the real credential' : JSON.stringify(b.toString('latin1'))} answered ${answer.status}`,
        ).toBe(b.equals(real));
      },
      150,
      MS,
    );
  });

  it('any text after the scheme is refused', async () => {
    await property(
      fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 100 }),
      async (s) => {
        clock.advance(7200);
        const answer = await verify(`Basic ${s}`);
        expect([401, 429]).toContain(answer.status);
      },
      150,
      MS,
    );
  });
});

describe('TOTP, reset and recovery codes', () => {
  const code = fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.stringMatching(/^\d{6}$/),
    fc.stringMatching(/^[ \d]{5,8}$/),
    fc.constantFrom(
      '١٢٣٤٥٦',
      '１２３４５６',
      '123456\n',
      ' 123456',
      '+12345',
      '-12345',
      '1e5',
      '0x1234',
      'AAAAA-AAAAA',
    ),
  );
  const validNow = () =>
    [-1, 0, 1].map((d) => authenticator.clone({ epoch: clock.ms + d * 30_000 }).generate(bobSecret));

  it('login of a two-factor user with the right password passes if and only if the code is current', async () => {
    // A random string is almost never a current code, so current codes (one step of drift either way,
    // each a step never used before, as the clock moves two hours a case) are drawn as well.
    const attempt = fc.oneof(
      code,
      fc.integer({ min: -1, max: 1 }).map((drift) => ({ drift })),
    );
    await property(
      attempt,
      async (a) => {
        clock.advance(7200);
        const c = typeof a === 'string' ? a : validNow()[a.drift + 1];
        const answer = await checkRequest(f, {
          method: 'POST',
          path: '/login',
          query: '',
          headers: {},
          body: JSON.stringify({ username: 'bob', password: 'bob password', totp: c }),
        });
        expect([200, 401]).toContain(answer.status);
        expect(answer.status === 200, `code ${JSON.stringify(c)} answered ${answer.status}`).toBe(
          validNow().includes(c),
        );
      },
      150,
      MS,
    );
  });

  it('password_reset passes only with the issued code', async () => {
    const issued = await post(f.broker.url, '/create_totp', { admin_token: ADMIN, username: 'bob' });
    expect(issued.status).toBe(200);
    await property(
      code,
      async (c) => {
        const answer = await checkRequest(f, {
          method: 'POST',
          path: '/password_reset',
          query: '',
          headers: {},
          body: JSON.stringify({ username: 'bob', totp: c, password: 'bob password' }),
        });
        expect([200, 401]).toContain(answer.status);
        if (answer.status === 200) expect(c).toBe(issued.body.totp);
      },
      100,
      MS,
    );
  });

  it('recovery codes: only an issued code, once', async () => {
    const issued = await post(f.broker.url, '/create_recovery_codes', { admin_token: ADMIN, username: 'bob' });
    const codes: string[] = issued.body.codes;
    const normal = (s: string) => s.toUpperCase().replace(/[^A-Z0-9]/g, '');
    const used = new Set<string>();
    const attempt = fc.oneof(
      code,
      fc.constantFrom(...codes),
      fc.constantFrom(...codes).map((c) => c.toLowerCase()),
    );
    await property(
      attempt,
      async (c) => {
        clock.advance(7200);
        const answer = await checkRequest(f, {
          method: 'POST',
          path: '/login',
          query: '',
          headers: {},
          body: JSON.stringify({ username: 'bob', password: 'bob password', totp: c }),
        });
        expect([200, 401]).toContain(answer.status);
        const match = codes.find((k) => normal(k) === normal(c));
        if (answer.status === 200 && !validNow().includes(c)) {
          expect(match, `accepted ${JSON.stringify(c)}`).toBeDefined();
          expect(used.has(match!), `${match} accepted twice`).toBe(false);
          used.add(match!);
        }
        if (match && !used.has(match)) expect(answer.status).toBe(200);
      },
      100,
      MS,
    );
  });
});
