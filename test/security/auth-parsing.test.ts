// Authorization header parsing, Bearer and Basic, on the edges an attacker probes: every malformed,
// forged or confused credential is a 401 (never a 5xx, never a pass), and the honest variants the RFCs
// allow (scheme case, a colon inside the password) work.
import { SignJWT, base64url } from 'jose';
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, startBroker, type TestBroker } from '../helpers/broker.js';
import { get, makeUser, post } from '../helpers/http.js';
import { basicOf, rawRequest } from './support.js';

const SECRET = 'parsing-tests-jwt-secret-0123456789';
let broker: TestBroker;
let user: { username: string; password: string; jwt: string };

beforeAll(async () => {
  broker = await startBroker({ jwt_secret: SECRET });
  user = await makeUser(broker.url, { password: 'pa:ss:word with colons' });
});
afterAll(() => broker.stop());

const verifyWith = (authorization: string) => get(broker.url, '/verify', { authorization });
const now = () => Math.floor(Date.now() / 1000);
const key = new TextEncoder().encode(SECRET);

/** Hand-built JWT: any header, any payload, HMAC-SHA256 (or none) over them. */
function handMade(header: object, payload: object, sign: 'hs256' | 'none' | 'garbage' = 'hs256'): string {
  const h = base64url.encode(JSON.stringify(header));
  const p = base64url.encode(JSON.stringify(payload));
  const signature =
    sign === 'none'
      ? ''
      : sign === 'garbage'
        ? 'AAAA'
        : createHmac('sha256', SECRET).update(`${h}.${p}`).digest('base64url');
  return `${h}.${p}.${signature}`;
}
const claims = () => ({ sub: user.username, iss: 'Broker', iat: now(), exp: now() + 600, tv: 0 });

describe('Bearer', () => {
  it('a real token works, with the scheme in any case and surrounding spaces', async () => {
    expect((await verifyWith(`Bearer ${user.jwt}`)).status).toBe(200);
    expect((await verifyWith(`bearer ${user.jwt}`)).status).toBe(200);
    expect((await verifyWith(`BEARER   ${user.jwt}  `)).status).toBe(200);
    // The hand-made control: our builder makes tokens the server accepts, so the refusals below are
    // about the one thing each case changes.
    expect((await verifyWith(`Bearer ${handMade({ alg: 'HS256', typ: 'JWT' }, claims())}`)).status).toBe(200);
  });

  const refused: Array<[string, () => string | Promise<string>]> = [
    ['no credentials', () => 'Bearer'],
    ['only a space', () => 'Bearer '],
    ['not a JWT', () => 'Bearer hello'],
    ['two segments', () => 'Bearer a.b'],
    ['empty segments', () => 'Bearer ..'],
    ['a token and more', () => `Bearer ${user.jwt} ${user.jwt}`],
    ['a flipped signature', () => `Bearer ${user.jwt.slice(0, -2)}${user.jwt.endsWith('AA') ? 'BB' : 'AA'}`],
    [
      'a payload swapped under the old signature',
      () => {
        const [h, , s] = user.jwt.split('.');
        return `Bearer ${h}.${base64url.encode(JSON.stringify({ ...claims(), sub: 'admin' }))}.${s}`;
      },
    ],
    ['alg none', () => `Bearer ${handMade({ alg: 'none', typ: 'JWT' }, claims(), 'none')}`],
    ['alg None with a signature', () => `Bearer ${handMade({ alg: 'None' }, claims())}`],
    [
      'alg HS512 with our secret',
      async () => `Bearer ${await new SignJWT(claims()).setProtectedHeader({ alg: 'HS512' }).sign(key)}`,
    ],
    ['alg RS256 header over an HMAC (key confusion)', () => `Bearer ${handMade({ alg: 'RS256' }, claims())}`],
    [
      'another secret',
      async () => {
        const other = new TextEncoder().encode('not the secret');
        return `Bearer ${await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256' }).sign(other)}`;
      },
    ],
    ['another issuer', () => `Bearer ${handMade({ alg: 'HS256' }, { ...claims(), iss: 'Evil' })}`],
    [
      'no expiry',
      () => {
        const { exp: _e, ...c } = claims();
        return `Bearer ${handMade({ alg: 'HS256' }, c)}`;
      },
    ],
    ['expired', () => `Bearer ${handMade({ alg: 'HS256' }, { ...claims(), exp: now() - 10 })}`],
    ['not yet valid', () => `Bearer ${handMade({ alg: 'HS256' }, { ...claims(), nbf: now() + 3600 })}`],
    [
      'a subject that does not exist',
      () => `Bearer ${handMade({ alg: 'HS256' }, { ...claims(), sub: 'nobody-at-all' })}`,
    ],
    ['a numeric subject', () => `Bearer ${handMade({ alg: 'HS256' }, { ...claims(), sub: 42 })}`],
    ['a future token version', () => `Bearer ${handMade({ alg: 'HS256' }, { ...claims(), tv: 1 })}`],
    ['an unknown critical header', () => `Bearer ${handMade({ alg: 'HS256', crit: ['x'], x: 1 }, claims())}`],
    [
      'a header that is not JSON',
      () => `Bearer ${base64url.encode('{{{')}.${base64url.encode(JSON.stringify(claims()))}.AAAA`,
    ],
    ['a garbage signature', () => `Bearer ${handMade({ alg: 'HS256' }, claims(), 'garbage')}`],
    ['8 KB of token', () => `Bearer ${'a'.repeat(8000)}`],
    ['another scheme', () => `Token ${user.jwt}`],
    ['the scheme glued to the token', () => `Bearer${user.jwt}`],
  ];
  for (const [name, make] of refused) {
    it(`refuses ${name} with 401`, async () => {
      const answer = await verifyWith(await make());
      expect(answer.status).toBe(401);
      expect(answer.body).toEqual({ error: expect.any(String) });
    });
  }

  it('a missing header is a 401, on every authenticated route', async () => {
    expect((await get(broker.url, '/verify')).status).toBe(401);
    expect((await get(broker.url, '/sse')).status).toBe(401);
    expect((await get(broker.url, '/events')).status).toBe(401);
    expect((await post(broker.url, '/insert', { event: 'e', data: 1 })).status).toBe(401);
  });
});

describe('Basic', () => {
  it('works with a colon in the password (the username ends at the first colon) and any scheme case', async () => {
    expect((await verifyWith(basicOf(`${user.username}:${user.password}`))).status).toBe(200);
    expect((await verifyWith(basicOf(`${user.username}:${user.password}`).replace('Basic', 'bAsIc'))).status).toBe(200);
  });

  it('carries UTF-8 usernames and passwords', async () => {
    const u = await makeUser(broker.url, { username: `zoë-${Date.now()}-日本`, password: 'pässwörd ✓' });
    expect((await verifyWith(basicOf(`${u.username}:${u.password}`))).status).toBe(200);
  });

  it('refuses real credentials sent in the base64url alphabet (- and _ for + and /) with 401', async () => {
    // Six '~' hold at least one aligned 3-byte group, '~~~' → 'fn5+': the standard encoding has a '+'
    // whatever the username's length, so base64url really differs from it (a '-' where the '+' was).
    const u = await makeUser(broker.url, { password: 'correct horse ~~~~~~ battery' });
    const standard = Buffer.from(`${u.username}:${u.password}`).toString('base64');
    const url = Buffer.from(`${u.username}:${u.password}`).toString('base64url');
    expect(standard).toMatch(/[+/]/);
    expect(url).toMatch(/[-_]/);
    // The control: the same credentials in the standard alphabet pass.
    expect((await verifyWith(`Basic ${standard}`)).status).toBe(200);
    const answer = await verifyWith(`Basic ${url}`);
    expect(answer.status).toBe(401);
    expect(answer.body).toEqual({ error: expect.any(String) });
  });

  const refused: Array<[string, () => string]> = [
    ['no credentials', () => 'Basic'],
    ['not base64', () => 'Basic !!!!'],
    ['no colon', () => basicOf(`${user.username}${user.password}`)],
    ['an empty username', () => basicOf(`:${user.password}`)],
    ['an empty password', () => basicOf(`${user.username}:`)],
    ['the password cut at its first colon', () => basicOf(`${user.username}:pa`)],
    ['a NUL inside', () => basicOf(`${user.username}\0:${user.password}`)],
    ['padding in the middle', () => `Basic ab==cd`],
    [
      'spaces inside the credentials',
      () =>
        `Basic ${Buffer.from(`${user.username}:${user.password}`)
          .toString('base64')
          .replace(/(.{4})/, '$1 ')}`,
    ],
    ['8 KB of base64', () => `Basic ${'QUFB'.repeat(2000)}`],
    ['invalid UTF-8 bytes', () => `Basic ${Buffer.from([0xff, 0xfe, 0x3a, 0xc3, 0x28]).toString('base64')}`],
  ];
  for (const [name, make] of refused) {
    it(`refuses ${name} with 401`, async () => {
      const answer = await verifyWith(make());
      expect(answer.status).toBe(401);
      expect(answer.body).toEqual({ error: expect.any(String) });
    });
  }

  it('cannot skip a second factor: a two-factor user with the right password is refused', async () => {
    const u = await makeUser(broker.url, { two_factor: true });
    expect((await verifyWith(basicOf(`${u.username}:${u.password}`))).status).toBe(401);
  });

  it('a revoked user is refused; unrevoked, accepted again', async () => {
    const u = await makeUser(broker.url);
    await post(broker.url, '/revoke_user', { admin_token: ADMIN, username: u.username });
    expect((await verifyWith(basicOf(`${u.username}:${u.password}`))).status).toBe(401);
    await post(broker.url, '/unrevoke_user', { admin_token: ADMIN, username: u.username });
    expect((await verifyWith(basicOf(`${u.username}:${u.password}`))).status).toBe(200);
  });
});

describe('headers fetch would not send', () => {
  it('a control character or an obs-fold in Authorization is a 400 from the HTTP parser, not a 5xx', async () => {
    for (const header of [`Authorization: Bearer ${user.jwt}\x01`, `Authorization: Bearer\r\n ${user.jwt}`]) {
      const answer = await rawRequest(
        broker.url,
        `GET /verify HTTP/1.1\r\nHost: x\r\n${header}\r\nConnection: close\r\n\r\n`,
      );
      expect([400, 401]).toContain(answer.status);
    }
  });

  it('two Authorization headers never combine into a pass', async () => {
    const answer = await rawRequest(
      broker.url,
      `GET /verify HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nonsense\r\n` +
        `Authorization: Bearer ${user.jwt}\r\nConnection: close\r\n` +
        `\r\n`,
    );
    expect([400, 401]).toContain(answer.status);
  });
});
