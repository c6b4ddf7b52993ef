// Size limits (body, headers, URL), deeply nested JSON refused before it costs anything, prototype
// poisoning, and the security headers an API should send on every answer, errors included.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, startBroker, type TestBroker } from '../helpers/broker.js';
import { basic, bearer, get, makeUser, post, request } from '../helpers/http.js';
import { openSse } from '../helpers/sse.js';
import { rawRequest } from './support.js';

const BODY_LIMIT = 4096;
let broker: TestBroker;
let user: { username: string; password: string; jwt: string };

beforeAll(async () => {
  broker = await startBroker({ body_limit: BODY_LIMIT });
  user = await makeUser(broker.url);
});
afterAll(() => broker.stop());

const padded = (bytes: number) => JSON.stringify({ event: 'e', data: 'x'.repeat(bytes - 23) });

describe('body size', () => {
  it('a body at the limit is read; one byte over is 413 with a JSON error, before authentication matters', async () => {
    const at = padded(BODY_LIMIT);
    expect(Buffer.byteLength(at)).toBe(BODY_LIMIT);
    expect((await post(broker.url, '/insert', at, bearer(user.jwt))).status).toBe(200);
    const over = await post(broker.url, '/create_user', padded(BODY_LIMIT + 1));
    expect(over.status).toBe(413);
    expect(over.body).toEqual({ error: 'request body is too large' });
  });

  it('a chunked body (no Content-Length) over the limit is cut off with 413', async () => {
    const chunk = 'x'.repeat(1000);
    let body = '';
    for (let i = 0; i < 8; i++) body += `${chunk.length.toString(16)}\r\n${chunk}\r\n`;
    body += '0\r\n\r\n';
    const answer = await rawRequest(
      broker.url,
      `POST /login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${body}`,
    );
    expect(answer.status).toBe(413);
  });

  it('a Content-Length far beyond the limit is refused without waiting for the bytes', async () => {
    const answer = await rawRequest(
      broker.url,
      `POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n{`,
      { timeoutMs: 5000 },
    );
    expect(answer.status).toBe(413);
    expect(answer.elapsedMs).toBeLessThan(2000);
  });

  it('the default limit is 1 MiB', async () => {
    const defaults = await startBroker();
    try {
      const u = await makeUser(defaults.url);
      expect((await post(defaults.url, '/insert', padded(1024 * 1024), bearer(u.jwt))).status).toBe(200);
      expect((await post(defaults.url, '/insert', padded(1024 * 1024 + 1), bearer(u.jwt))).status).toBe(413);
    } finally {
      await defaults.stop();
    }
  });
});

describe('header and URL size', () => {
  it('headers over 16 KiB are refused by the HTTP parser with 431', async () => {
    const answer = await rawRequest(
      broker.url,
      `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\nConnection: close\r\n\r\n`,
    );
    expect(answer.status).toBe(431);
  });

  it('a URL over 16 KiB is refused with 431; a long one under it is a plain 404', async () => {
    const huge = await rawRequest(
      broker.url,
      `GET /${'a'.repeat(17 * 1024)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    );
    expect(huge.status).toBe(431);
    const long = await get(broker.url, `/${'a'.repeat(8 * 1024)}`);
    expect(long.status).toBe(404);
  });

  it('errors from the HTTP parser (431, 400) answer in the contract shape {"error": "..."}', async () => {
    for (const [raw, status] of [
      [`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`, 431],
      [`GET /${'a'.repeat(17 * 1024)} HTTP/1.1\r\nHost: x\r\n\r\n`, 431],
      ['BREW / HTCPCP/1.0\r\n\r\n', 400],
    ] as const) {
      const answer = await rawRequest(broker.url, raw);
      expect(answer.status).toBe(status);
      expect(answer.headers['content-type']).toMatch(/^application\/json/);
      expect(JSON.parse(answer.body)).toEqual({ error: expect.any(String) });
    }
  });

  it('a query string of 1,500 parameters (~13 KB) is parsed without a 5xx', async () => {
    const query = Array.from({ length: 1500 }, (_, i) => `p${i}=${i}`).join('&');
    const answer = await get(broker.url, `/events?${query}`, bearer(user.jwt));
    expect(answer.status).toBe(200);
  });
});

describe('HTTP framing', () => {
  // Ambiguous framing is how requests get smuggled past a proxy. Node's strict parser refuses each of
  // these; this holds the line should anyone reach for `insecureHTTPParser` or a laxer server.
  const body = '{"username":"a","password":"b"}';
  const cases: Array<[string, string]> = [
    [
      'Content-Length with Transfer-Encoding',
      `POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n` +
        `Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /verify HTTP/1.1\r\n` +
        `Host: x\r\n\r\n`,
    ],
    [
      'two different Content-Lengths',
      `POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    ],
    [
      'an obfuscated Transfer-Encoding',
      `POST /login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`,
    ],
    ['a space before the colon', `POST /login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n`],
    ['bare LF line ends', `POST /login HTTP/1.1\nHost: x\nContent-Length: ${body.length}\n\n${body}`],
    ['no Host header', 'GET / HTTP/1.1\r\n\r\n'],
  ];
  for (const [name, raw] of cases) {
    it(`${name}: 400, connection closed, nothing smuggled through`, async () => {
      const answer = await rawRequest(broker.url, raw, { timeoutMs: 3000 });
      expect(answer.status).toBe(400);
      expect(answer.closed).toBe(true);
      expect(answer.body).not.toMatch(/HTTP\/1\.1/);
    });
  }
});

describe('long names', () => {
  // LMDB refuses keys over 1978 bytes and a QR code holds under 3 KB: past those, a name would be a
  // 500 (it was). Too long is the client's mistake: 400, and nothing stored.
  it('a username or tenant_name too long to be a key is a 400', async () => {
    const long = 'u'.repeat(3000);
    expect(
      (
        await post(broker.url, '/create_user', {
          admin_token: ADMIN,
          username: long,
          password: 'a long password',
          tenant_name: 't',
        })
      ).status,
    ).toBe(400);
    expect(
      (
        await post(broker.url, '/create_user', {
          admin_token: ADMIN,
          username: `t-${Date.now()}`,
          password: 'a long password',
          tenant_name: long,
        })
      ).status,
    ).toBe(400);
    expect(
      (await post(broker.url, '/update_user', { admin_token: ADMIN, username: user.username, tenant_name: long }))
        .status,
    ).toBe(400);
    const listed = await post(broker.url, '/list_users', { admin_token: ADMIN });
    expect(JSON.stringify(listed.body)).not.toContain(long);
  });

  it('a long username is an ordinary failed login or an unknown user elsewhere, never a 5xx', async () => {
    const long = 'x'.repeat(3000); // over LMDB's key limit, under this broker's 4 KB body limit
    expect((await post(broker.url, '/login', { username: long, password: 'p' })).status).toBe(401);
    expect((await post(broker.url, '/get_user', { admin_token: ADMIN, username: long })).status).toBe(404);
    expect(
      (await post(broker.url, '/password_reset', { username: long, totp: '123456', password: 'a long password' }))
        .status,
    ).toBe(401);
    expect((await get(broker.url, '/verify', basic(long, 'p'))).status).toBe(401);
  });

  it('the longest accepted tenant and event name still insert', async () => {
    const longest = await makeUser(broker.url, { tenant_name: 'é'.repeat(300) });
    const answer = await post(broker.url, '/insert', { event: 'é'.repeat(256), data: 1 }, bearer(longest.jwt));
    expect(answer.status, answer.text).toBe(200);
  });

  it('create_qr with an issuer too long for a QR code is a 400', async () => {
    const answer = await post(broker.url, '/create_qr', {
      admin_token: ADMIN,
      username: user.username,
      issuer: 'x'.repeat(3000),
    });
    expect(answer.status).toBe(400);
  });
});

describe('nested JSON', () => {
  const nested = (depth: number, inner = '1') => '['.repeat(depth) + inner + ']'.repeat(depth);

  it('64 levels are accepted, 65 refused with 400', async () => {
    const ok = await post(broker.url, '/insert', `{"event":"deep","data":${nested(63)}}`, bearer(user.jwt));
    expect(ok.status).toBe(200);
    const deep = await post(broker.url, '/insert', `{"event":"deep","data":${nested(64)}}`, bearer(user.jwt));
    expect(deep.status).toBe(400);
    expect(deep.body.error).toMatch(/nested deeper than 64/);
  });

  it('brackets inside strings do not count', async () => {
    const answer = await post(
      broker.url,
      '/insert',
      JSON.stringify({ event: 'brackets', data: '['.repeat(3000) + '{'.repeat(500) }),
      bearer(user.jwt),
    );
    expect(answer.status).toBe(200);
  });

  it('a body that is all brackets is refused at once, without recursion', async () => {
    const defaults = await startBroker();
    try {
      const u = await makeUser(defaults.url);
      for (const body of [
        '['.repeat(1024 * 1000),
        '{"a":'.repeat(200_000),
        `{"event":"e","data":${'['.repeat(500_000)}`,
      ]) {
        const started = performance.now();
        const answer = await post(defaults.url, '/insert', body, bearer(u.jwt));
        expect(answer.status).toBe(400);
        // Well under a second for ~1 MB; a recursive parser would overflow or take far longer.
        expect(performance.now() - started).toBeLessThan(1000);
      }
      // The server is still fine.
      expect((await get(defaults.url, '/')).status).toBe(200);
    } finally {
      await defaults.stop();
    }
  });

  it('__proto__ keys are refused (prototype poisoning), nested or not', async () => {
    for (const body of [
      `{"__proto__":{"admin":true},"username":"x","password":"y"}`,
      `{"event":"e","data":{"a":{"__proto__":{"polluted":1}}}}`,
    ]) {
      const answer = await post(broker.url, body.includes('event') ? '/insert' : '/login', body, bearer(user.jwt));
      expect(answer.status).toBe(400);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('security headers', () => {
  const expected = {
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  };

  function expectSecure(headers: Headers, cache = 'no-store'): void {
    for (const [name, value] of Object.entries(expected)) expect(headers.get(name), name).toBe(value);
    expect(headers.get('cache-control')).toBe(cache);
    expect(headers.get('x-powered-by')).toBeNull();
    expect(headers.get('server')).toBeNull();
    // HSTS only makes sense over HTTPS (--secure); on plain HTTP it is ignored by browsers and misleading.
    expect(headers.get('strict-transport-security')).toBeNull();
  }

  it('on success, client errors, auth errors, 404, 413 and a lock', async () => {
    expectSecure((await get(broker.url, '/')).headers);
    expectSecure((await get(broker.url, '/verify', bearer(user.jwt))).headers);
    expectSecure((await post(broker.url, '/login', '{bad json')).headers);
    expectSecure((await get(broker.url, '/verify')).headers);
    expectSecure((await get(broker.url, '/no-such-route')).headers);
    expectSecure((await post(broker.url, '/login', padded(BODY_LIMIT + 10))).headers);
    expectSecure((await post(broker.url, '/list_users', { admin_token: 'wrong' })).headers);
    const ghost = `locked-${Date.now()}`;
    let last;
    for (let i = 0; i < 4; i++) last = await post(broker.url, '/login', { username: ghost, password: 'x' });
    expect(last!.status).toBe(429);
    expectSecure(last!.headers);
  });

  it('on an SSE stream (no-cache there, as the API says, so proxies pass events through)', async () => {
    const sse = openSse(broker.url, user.jwt);
    try {
      await sse.waitFor((r) => r.status !== 0);
      expect(sse.status).toBe(200);
      expectSecure(sse.headers!, 'no-cache');
    } finally {
      sse.close();
    }
  });

  it('error bodies are JSON with no stack or internals', async () => {
    for (const answer of [
      await post(broker.url, '/login', '{bad json'),
      await post(broker.url, '/login', { username: 1 }),
      await post(broker.url, '/get_user', { admin_token: ADMIN, username: 'nobody' }),
      await request(`${broker.url}/login`, { method: 'PUT' }),
    ]) {
      expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
      expect(Object.keys(answer.body)).toEqual(['error']);
      expect(answer.text).not.toMatch(/node_modules|\.js:\d+|at [A-Za-z]+ \(/);
    }
  });
});
