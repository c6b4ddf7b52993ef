// Per-IP rate limits (@fastify/rate-limit) on login, password_reset and the admin routes: past the
// configured count a minute, 429 with Retry-After and a JSON error, per client address (another address
// is unaffected), and the CLI flag really sets it.
import { rmSync } from 'node:fs';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, spawnBroker, startBroker, tempDir, type TestBroker } from '../helpers/broker.js';
import { basic, bearer, makeUser, post } from '../helpers/http.js';

let broker: TestBroker;
const LOGIN_LIMIT = 4;
const ADMIN_LIMIT = 6;

beforeAll(async () => {
  broker = await startBroker({ login_rate_limit: LOGIN_LIMIT, admin_rate_limit: ADMIN_LIMIT });
});
afterAll(() => broker.stop());

/** A POST from a chosen loopback source address (127.0.0.0/8 all reach the server on 127.0.0.1). */
function postFrom(
  localAddress: string,
  path: string,
  body: unknown,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  const { hostname, port } = new URL(broker.url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: hostname, port, path, method: 'POST', localAddress, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

function expectRateLimited(answer: {
  status: number;
  headers: Headers | http.IncomingHttpHeaders;
  text: string;
}): void {
  expect(answer.status).toBe(429);
  const retry = answer.headers instanceof Headers ? answer.headers.get('retry-after') : answer.headers['retry-after'];
  expect(Number(retry)).toBeGreaterThan(0);
  expect(Number(retry)).toBeLessThanOrEqual(60);
  expect(JSON.parse(answer.text)).toEqual({ error: expect.stringMatching(/too many requests/) });
}

describe('per-IP rate limits', () => {
  it('login: the limit-th request passes, the next is 429 with Retry-After, even with the right password', async () => {
    const ip = '127.0.0.11';
    const { hostname } = new URL(broker.url);
    expect(hostname).toBe('127.0.0.1');
    const user = await makeUser(broker.url); // its own login came from 127.0.0.1, not from `ip`
    for (let i = 0; i < LOGIN_LIMIT; i++)
      expect((await postFrom(ip, '/login', { username: `nobody${i}`, password: 'x' })).status).toBe(401);
    expectRateLimited(await postFrom(ip, '/login', { username: user.username, password: user.password }));
    // Another address is not affected.
    expect((await postFrom('127.0.0.12', '/login', { username: user.username, password: user.password })).status).toBe(
      200,
    );
  });

  it('password_reset is limited like login', async () => {
    const ip = '127.0.0.13';
    for (let i = 0; i < LOGIN_LIMIT; i++)
      expect(
        (await postFrom(ip, '/password_reset', { username: 'nobody', totp: '000000', password: 'a long password' }))
          .status,
      ).toBe(401);
    expectRateLimited(
      await postFrom(ip, '/password_reset', { username: 'nobody', totp: '000000', password: 'a long password' }),
    );
  });

  it('admin routes are limited, a wrong admin_token counts, and 429 comes before the token check', async () => {
    const ip = '127.0.0.14';
    for (let i = 0; i < ADMIN_LIMIT; i++) {
      const answer = await postFrom(ip, '/list_users', { admin_token: i % 2 ? ADMIN : 'guess' });
      expect(answer.status).toBe(i % 2 ? 200 : 401);
    }
    expectRateLimited(await postFrom(ip, '/list_users', { admin_token: ADMIN }));
    expectRateLimited(await postFrom(ip, '/list_users', { admin_token: 'guess' }));
  });

  it('create_totp counts against the login limit, not the admin one (a reset code is a credential)', async () => {
    const ip = '127.0.0.16';
    const user = await makeUser(broker.url);
    const statuses: number[] = [];
    for (let i = 0; i <= LOGIN_LIMIT; i++)
      statuses.push((await postFrom(ip, '/create_totp', { admin_token: ADMIN, username: user.username })).status);
    expect(statuses).toEqual([...Array(LOGIN_LIMIT).fill(200), 429]);
  });

  it(
    'Basic credentials count against the login limit on /verify, ' + '/events and /sse; Bearer requests do not',
    async () => {
      const user = await makeUser(broker.url);
      const { hostname, port } = new URL(broker.url);
      // The user routes share one limiter (pending-fixes covers the sharing): one address per route here.
      const ips: Record<string, string> = { '/verify': '127.0.0.17', '/events': '127.0.0.18', '/sse': '127.0.0.19' };
      const getFrom = (path: string, headers: Record<string, string>) =>
        new Promise<number>((resolve, reject) => {
          const req = http.request(
            { host: hostname, port, path, method: 'GET', localAddress: ips[path], headers },
            (res) => {
              res.resume();
              resolve(res.statusCode ?? 0);
            },
          );
          req.on('error', reject);
          req.end();
        });
      // Password spraying: one guess per account, under every account's lock. Counted before
      // authentication answers 401, on every route that takes Basic (a limiter that ran after the
      // authentication hook never saw a refused request).
      for (const path of ['/verify', '/events', '/sse']) {
        const sprayed: number[] = [];
        for (let i = 0; i <= LOGIN_LIMIT; i++)
          sprayed.push(await getFrom(path, basic(`spray-${path.slice(1)}-${i}`, 'Winter2026!')));
        expect(sprayed, path).toEqual([...Array(LOGIN_LIMIT).fill(401), 429]);
      }
      // Bearer traffic from the same address is not limited.
      for (let i = 0; i < LOGIN_LIMIT * 2; i++) expect(await getFrom('/verify', bearer(user.jwt))).toBe(200);
    },
  );

  it("a forged X-Forwarded-For does not buy a fresh budget (the client address is the socket's)", async () => {
    const ip = '127.0.0.18';
    const { hostname, port } = new URL(broker.url);
    const statuses: number[] = [];
    for (let i = 0; i <= LOGIN_LIMIT; i++) {
      statuses.push(
        await new Promise<number>((resolve, reject) => {
          const req = http.request(
            {
              host: hostname,
              port,
              path: '/login',
              method: 'POST',
              localAddress: ip,
              headers: { 'x-forwarded-for': `203.0.113.${i}`, 'x-real-ip': `198.51.100.${i}` },
            },
            (res) => {
              res.resume();
              resolve(res.statusCode ?? 0);
            },
          );
          req.on('error', reject);
          req.end(JSON.stringify({ username: `xff${i}`, password: 'x' }));
        }),
      );
    }
    expect(statuses).toEqual([...Array(LOGIN_LIMIT).fill(401), 429]);
  });

  it('the 429 carries the security headers and no stack', async () => {
    const ip = '127.0.0.15';
    let last;
    for (let i = 0; i <= LOGIN_LIMIT; i++) last = await postFrom(ip, '/login', { username: 'x', password: 'y' });
    expect(last!.status).toBe(429);
    expect(last!.headers['x-content-type-options']).toBe('nosniff');
    expect(last!.headers['cache-control']).toBe('no-store');
    expect(last!.text).not.toMatch(/at .*\.js|node_modules/);
  });
});

describe('the --login_rate_limit flag', () => {
  it('sets the limit of a broker started from the command line', async () => {
    const dir = tempDir();
    const child = await spawnBroker(['--db', `${dir}/db`, '--admin_token', ADMIN, '--login_rate_limit', '2']);
    try {
      for (let i = 0; i < 2; i++)
        expect((await post(child.url, '/login', { username: 'a', password: 'b' })).status).toBe(401);
      expectRateLimited(await post(child.url, '/login', { username: 'a', password: 'b' }));
    } finally {
      await child.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
