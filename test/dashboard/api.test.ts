// The dashboard's own JSON routes over real HTTP: no session → 401, a foreign Origin → 403 (CSRF), a
// signed-out cookie → 401; the cookie's attributes; a wrong token counts against the admin rate limit;
// the page's CSP and cache headers; a broker without the built files still starts and says how to build.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, startBroker, type TestBroker } from '../helpers/broker.js';
import { request } from '../helpers/http.js';

let broker: TestBroker;
let base: string;

beforeAll(async () => {
  broker = await startBroker({ admin_rate_limit: 20 });
  base = broker.url;
});
afterAll(() => broker?.stop());

const json = { 'content-type': 'application/json' };

async function signIn(token = ADMIN, origin = base) {
  const answer = await request(`${base}/_/api/session`, {
    method: 'POST',
    headers: { ...json, origin },
    body: JSON.stringify({ token }),
  });
  const setCookie = answer.headers.get('set-cookie') ?? '';
  return { answer, setCookie, cookie: setCookie.split(';')[0] };
}

/** Every JSON route of the dashboard, as a browser would call it (GETs without a body). */
const ROUTES: [string, string, unknown?][] = [
  ['DELETE', '/_/api/session'],
  ['GET', '/_/api/users'],
  ['POST', '/_/api/users', { username: 'csrf-victim', password: 'correct horse battery staple', tenant_name: 't' }],
  ['POST', '/_/api/users/revoke', { username: 'nobody', revoked: true }],
  ['GET', '/_/api/tenants'],
  ['GET', '/_/api/events/latest?tenant=t'],
  ['GET', '/_/api/events?tenant=t'],
  ['POST', '/_/api/events', { tenant: 't', event: 'e', data: 1 }],
  ['GET', '/_/api/events/tail?tenant=t'],
  ['GET', '/_/api/streams'],
  ['POST', '/_/api/streams/close', { id: 1 }],
  ['GET', '/_/api/topics'],
  ['GET', '/_/api/apps'],
  ['GET', '/_/api/server'],
];

const call = (method: string, path: string, body: unknown, headers: Record<string, string>) =>
  request(base + path, {
    method,
    headers: body === undefined ? headers : { ...json, ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

describe('dashboard API', () => {
  it('refuses every route without a session (401)', async () => {
    for (const [method, path, body] of ROUTES) {
      const answer = await call(method, path, body, { origin: base });
      expect(answer.status, `${method} ${path}`).toBe(401);
    }
  });

  it('guards the route, not the spelling of its URL', async () => {
    for (const path of ['/_/%61pi/users', '/_/api/users?', '/_/api/users/', '/_/api/users#x', '/_/api/./users']) {
      const answer = await request(base + path, { headers: { origin: base } });
      expect([401, 404], `${path} answered ${answer.status}`).toContain(answer.status);
    }
    const signIn = await request(`${base}/_/api/session?x=1`, { method: 'POST', headers: { ...json }, body: '{}' });
    expect(signIn.status).toBe(403);
  });

  it('refuses a valid session cookie sent from another origin (403), and a state change without Origin', async () => {
    const { cookie } = await signIn();
    for (const [method, path, body] of ROUTES) {
      const answer = await call(method, path, body, { cookie, origin: 'https://evil.example' });
      expect(answer.status, `${method} ${path}`).toBe(403);
    }
    const noOrigin = await call('POST', '/_/api/events', { tenant: 't', event: 'e', data: 1 }, { cookie });
    expect(noOrigin.status).toBe(403);
    // Nothing was created by the refused requests.
    const users = await call('GET', '/_/api/users?q=csrf-victim', undefined, { cookie });
    expect(users.status).toBe(200);
    expect(users.body.total).toBe(0);
    // A sign-in from another origin is refused too (login CSRF).
    expect((await signIn(ADMIN, 'https://evil.example')).answer.status).toBe(403);
  });

  it('issues an HttpOnly, SameSite=Strict cookie on /_/ that works until sign-out, then 401', async () => {
    const { answer, setCookie, cookie } = await signIn();
    expect(answer.status).toBe(200);
    expect(setCookie).toMatch(/^broker_session=[A-Za-z0-9_-]{43}; /);
    expect(setCookie).toContain('Path=/_/');
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('SameSite=Strict');
    expect(setCookie).toMatch(/Expires=\w{3}, /);
    expect(setCookie).not.toContain('Secure'); // plain HTTP here; under HTTPS it is Secure
    expect(answer.text).not.toContain(ADMIN);
    const ok = await call('GET', '/_/api/users', undefined, { cookie, origin: base });
    expect(ok.status).toBe(200);
    expect((await call('GET', '/_/api/session', undefined, { cookie })).body).toEqual({ signed_in: true });
    const out = await call('DELETE', '/_/api/session', undefined, { cookie, origin: base });
    expect(out.status).toBe(200);
    for (const [method, path, body] of ROUTES) {
      const after = await call(method, path, body, { cookie, origin: base });
      expect(after.status, `${method} ${path} after sign-out`).toBe(401);
    }
    expect((await call('GET', '/_/api/session', undefined, { cookie })).body).toEqual({ signed_in: false });
  });

  it('refuses a wrong token with 401 and counts it against the admin rate limit', async () => {
    const wrong = await signIn('not-the-admin-token');
    expect(wrong.answer.status).toBe(401);
    expect(wrong.setCookie).toBe('');
    const remaining = Number(wrong.answer.headers.get('x-ratelimit-remaining'));
    expect(Number(wrong.answer.headers.get('x-ratelimit-limit'))).toBe(20);
    let last = wrong.answer;
    for (let i = 0; i < remaining + 1; i++) last = (await signIn('not-the-admin-token')).answer;
    expect(last.status).toBe(429);
    // The limit holds for the right token too, from that address, until the window passes.
    expect((await signIn()).answer.status).toBe(429);
  });

  it('serves the page with a strict CSP, hashed assets cached for good and the page revalidated', async () => {
    const page = await request(`${base}/_/`);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    if (page.status !== 200 || !page.text.includes('/_/assets/')) return; // not built: the next test
    expect(page.headers.get('cache-control')).toBe('no-cache');
    expect(page.text).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/); // no inline script
    expect(page.text).not.toMatch(/\sstyle=/);
    const asset = page.text.match(/\/_\/assets\/[^"]+\.js/)![0];
    const js = await request(base + asset);
    expect(js.status).toBe(200);
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
  });
});

describe('dashboard without its built files', () => {
  it('still starts, and the page says how to build them', async () => {
    const b = await startBroker({ dashboard_dir: join(broker.dir, 'no-such-dir') });
    try {
      const page = await request(`${b.url}/_/`);
      expect(page.status).toBe(200);
      expect(page.text).toContain('npm run build:dashboard');
      expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    } finally {
      await b.stop();
    }
  });

  it('is not served with --dashboard=false', async () => {
    const b = await startBroker({ dashboard: false });
    try {
      expect((await request(`${b.url}/_/`)).status).toBe(404);
      expect((await request(`${b.url}/_/api/session`)).status).toBe(404);
    } finally {
      await b.stop();
    }
  });
});
