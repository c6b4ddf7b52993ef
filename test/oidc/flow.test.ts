// The whole OIDC login against a real provider (oidc-provider on loopback), driven with plain HTTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentTotp } from '../../src/identity/totp.js';
import { ADMIN, freePort, startBroker, type TestBroker } from '../helpers/broker.js';
import { bearer, get, post } from '../helpers/http.js';
import { openSse } from '../helpers/sse.js';
import { Agent, follow, fragment } from './browserless.js';
import { CLIENT_ID, CLIENT_SECRET, startProvider, type TestProvider } from './provider.js';

const APP = 'http://app.test:5173';
const RETURN_TO = `${APP}/signed-in?x=1`;

describe('OIDC login', () => {
  let provider: TestProvider;
  let broker: TestBroker;
  let brokerOrigin: string;

  beforeAll(async () => {
    const port = await freePort();
    brokerOrigin = `http://127.0.0.1:${port}`;
    provider = await startProvider([`${brokerOrigin}/auth/oidc/callback`]);
    broker = await startBroker({
      port,
      origin: `${APP},https://other.app.test`,
      oidc_issuer_uri: provider.issuer,
      oidc_client_id: CLIENT_ID,
      oidc_client_secret: CLIENT_SECRET,
      oidc_redirect_base: brokerOrigin,
      oidc_tenant: 'oidc-tenant',
    });
  });
  afterAll(async () => {
    await broker.stop();
    await provider.close();
  });

  const loginUrl = (returnTo = RETURN_TO) =>
    `${brokerOrigin}/auth/oidc/login?return_to=${encodeURIComponent(returnTo)}`;
  const signIn = (login: string, options: { cancel?: boolean } = {}) =>
    follow(new Agent(), loginUrl(), { login, brokerOrigin, ...options });
  const getUser = async (username: string) =>
    (await post(broker.url, '/get_user', { admin_token: ADMIN, username })).body;

  it('a first login makes and links a user in --oidc_tenant; the JWT opens /sse and inserts', async () => {
    provider.accounts.set('sub-alice', {
      preferred_username: 'alice',
      email: 'alice@example.com',
      email_verified: true,
    });
    const landing = await signIn('sub-alice');
    expect(landing.location?.startsWith(`${APP}/signed-in?x=1#jwt=`)).toBe(true);
    // The JWT is in the fragment only, never in the query.
    expect(new URL(landing.location as string).search).toBe('?x=1');
    const { jwt } = fragment(landing);
    const verify = await get(broker.url, '/verify', bearer(jwt as string));
    expect(verify.body.username).toBe('alice');
    const user = await getUser('alice');
    expect(user.tenant_name).toBe('oidc-tenant');
    expect(user.email).toBe('alice@example.com');
    expect(user.identities).toEqual([{ issuer: provider.issuer, subject: 'sub-alice' }]);
    expect(JSON.stringify(user)).not.toMatch(/id_token|access_token/);

    const sse = openSse(broker.url, jwt);
    await sse.waitFor((r) => r.status === 200);
    expect(
      (await post(broker.url, '/insert', { event: 'hello', data: { from: 'alice' } }, bearer(jwt as string))).status,
    ).toBe(200);
    await sse.waitForEvents(1);
    sse.close();
  });

  it('a second login finds the same user, even when the email changed', async () => {
    provider.accounts.set('sub-alice', {
      preferred_username: 'alice2',
      email: 'new@example.com',
      email_verified: true,
    });
    const { jwt } = fragment(await signIn('sub-alice'));
    expect((await get(broker.url, '/verify', bearer(jwt as string))).body.username).toBe('alice');
    const list = (await post(broker.url, '/list_users', { admin_token: ADMIN })).body as { username: string }[];
    expect(list.filter((u) => u.username.startsWith('alice'))).toHaveLength(1);
  });

  it('a taken name is made unique; an unverified email is not kept', async () => {
    provider.accounts.set('sub-other-alice', {
      preferred_username: 'alice',
      email: 'x@example.com',
      email_verified: false,
    });
    const { jwt } = fragment(await signIn('sub-other-alice'));
    const name = (await get(broker.url, '/verify', bearer(jwt as string))).body.username;
    expect(name).toBe('alice-2');
    expect((await getUser('alice-2')).email).toBeNull();
  });

  it('a return_to on a foreign origin is refused (no open redirect)', async () => {
    for (const target of ['https://evil.test/x', 'javascript:alert(1)', '/relative', `${APP}.evil.test/`]) {
      const res = await fetch(loginUrl(target), { redirect: 'manual' });
      expect(res.status).toBe(400);
      expect(res.headers.get('location')).toBeNull();
    }
    expect((await fetch(`${brokerOrigin}/auth/oidc/login`, { redirect: 'manual' })).status).toBe(400);
  });

  it('a reused or forged state is refused', async () => {
    provider.accounts.set('sub-bob', { preferred_username: 'bob' });
    const landing = await signIn('sub-bob');
    expect(fragment(landing).jwt).toBeDefined();
    const replay = await fetch(landing.callback as string, { redirect: 'manual' });
    expect(replay.status).toBe(400);
    const forged = new URL(landing.callback as string);
    forged.searchParams.set('state', 'forged-state');
    expect((await fetch(forged, { redirect: 'manual' })).status).toBe(400);
    expect((await fetch(`${brokerOrigin}/auth/oidc/callback?code=x`, { redirect: 'manual' })).status).toBe(400);
  });

  it('a callback whose state was not for this browser cannot be completed twice', async () => {
    provider.accounts.set('sub-carol', { preferred_username: 'carol' });
    const first = await follow(new Agent(), loginUrl(), { login: 'sub-carol', brokerOrigin, stopAtCallback: true });
    const answer = await fetch(first.callback as string, { redirect: 'manual' });
    expect(answer.status).toBe(302);
    expect((await fetch(first.callback as string, { redirect: 'manual' })).status).toBe(400);
  });

  const refusedTokens: [string, NonNullable<TestProvider['tamper']>][] = [
    ['a wrong nonce', { payload: (p) => ({ ...p, nonce: 'another-nonce' }) }],
    ['another issuer', { payload: (p) => ({ ...p, iss: 'https://evil.example' }) }],
    ['another audience', { payload: (p) => ({ ...p, aud: 'someone-else' }) }],
    ['an expired ID token', { payload: (p) => ({ ...p, iat: 1_000_000, exp: 1_000_600 }) }],
    ['a forged signature', { forge: true }],
    ['no signature (alg none)', { header: (h) => ({ ...h, alg: 'none' }) }],
  ];
  for (const [what, tamper] of refusedTokens) {
    it(`an ID token with ${what} is refused`, async () => {
      const sub = `sub-tampered-${what.replace(/\W/g, '')}`;
      provider.accounts.set(sub, { preferred_username: sub });
      provider.tamper = tamper;
      try {
        const landing = await signIn(sub);
        expect(fragment(landing)).toEqual({ error: 'invalid_response' });
      } finally {
        provider.tamper = undefined;
      }
      expect((await post(broker.url, '/get_user', { admin_token: ADMIN, username: sub })).status).toBe(404);
    });
  }

  it('an untampered ID token passes the same path (the tamper hook is not what refuses)', async () => {
    provider.accounts.set('sub-plain', { preferred_username: 'plain' });
    provider.tamper = { payload: (p) => p };
    try {
      expect(fragment(await signIn('sub-plain')).jwt).toBeDefined();
    } finally {
      provider.tamper = undefined;
    }
  });

  it('denied consent comes back as #error=access_denied', async () => {
    const landing = await signIn('sub-cancel', { cancel: true });
    expect(fragment(landing)).toEqual({ error: 'access_denied' });
  });

  it('a revoked user is refused', async () => {
    provider.accounts.set('sub-dave', { preferred_username: 'dave' });
    expect(fragment(await signIn('sub-dave')).jwt).toBeDefined();
    await post(broker.url, '/revoke_user', { admin_token: ADMIN, username: 'dave' });
    expect(fragment(await signIn('sub-dave'))).toEqual({ error: 'revoked' });
  });

  it('a two-factor user must give a valid TOTP code on the page', async () => {
    provider.accounts.set('sub-erin', { preferred_username: 'erin' });
    const { jwt } = fragment(await signIn('sub-erin'));
    const enrolled = await post(broker.url, '/enroll_totp', {}, bearer(jwt as string));
    const secret = new URL(enrolled.body.uri).searchParams.get('secret') as string;
    expect((await post(broker.url, '/confirm_totp', { totp: currentTotp(secret) }, bearer(jwt as string))).status).toBe(
      200,
    );

    const landing = await signIn('sub-erin');
    expect(landing.location).toBeUndefined();
    const pending = /name="pending" value="([^"]+)"/.exec(landing.page ?? '')?.[1] as string;
    expect(pending).toBeDefined();
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const wrong = await fetch(`${brokerOrigin}/auth/oidc/totp`, {
      method: 'POST',
      headers: form,
      body: new URLSearchParams({ pending, totp: '000000' }).toString(),
      redirect: 'manual',
    });
    expect(wrong.status).toBe(200);
    expect(await wrong.text()).toMatch(/did not work/);
    const right = await fetch(`${brokerOrigin}/auth/oidc/totp`, {
      method: 'POST',
      headers: form,
      body: new URLSearchParams({ pending, totp: currentTotp(secret, Date.now() + 30_000) }).toString(),
      redirect: 'manual',
    });
    expect(right.status).toBe(302);
    const token = new URLSearchParams(new URL(right.headers.get('location') as string).hash.slice(1)).get('jwt');
    expect((await get(broker.url, '/verify', bearer(token as string))).body.username).toBe('erin');
    // The page's key worked once.
    const again = await post(broker.url, '/auth/oidc/totp', { pending, totp: currentTotp(secret) });
    expect(again.status).toBe(400);
  });

  it('unlink_identity removes the link: the next login makes a new user', async () => {
    provider.accounts.set('sub-frank', { preferred_username: 'frank' });
    await signIn('sub-frank');
    const unlinked = await post(broker.url, '/unlink_identity', {
      admin_token: ADMIN,
      username: 'frank',
      issuer: provider.issuer,
    });
    expect(unlinked.body).toEqual({ unlinked: 1 });
    expect((await getUser('frank')).identities).toEqual([]);
    const { jwt } = fragment(await signIn('sub-frank'));
    expect((await get(broker.url, '/verify', bearer(jwt as string))).body.username).toBe('frank-2');
    expect(
      (await post(broker.url, '/unlink_identity', { admin_token: 'no', username: 'frank', issuer: 'x' })).status,
    ).toBe(401);
  });
});

describe('OIDC with a provider that goes down', () => {
  it('a callback after the provider went down comes back as #error=provider_unavailable', async () => {
    const port = await freePort();
    const brokerOrigin = `http://127.0.0.1:${port}`;
    const provider = await startProvider([`${brokerOrigin}/auth/oidc/callback`]);
    const broker = await startBroker({
      port,
      origin: APP,
      oidc_issuer_uri: provider.issuer,
      oidc_client_id: CLIENT_ID,
      oidc_client_secret: CLIENT_SECRET,
      oidc_redirect_base: brokerOrigin,
    });
    try {
      const url = `${brokerOrigin}/auth/oidc/login?return_to=${encodeURIComponent(RETURN_TO)}`;
      const landing = await follow(new Agent(), url, { login: 'sub-x', brokerOrigin, stopAtCallback: true });
      await provider.close();
      const res = await fetch(landing.callback as string, { redirect: 'manual' });
      expect(res.status).toBe(302);
      expect(res.headers.get('location')).toBe(`${RETURN_TO}#error=provider_unavailable`);
      expect((await get(broker.url, '/')).status).toBe(200);
    } finally {
      await broker.stop();
      await provider.close().catch(() => {});
    }
  });
});

describe('OIDC with an unreachable provider', () => {
  it('is logged, the other routes keep working, and a login comes back as #error=provider_unavailable', async () => {
    const dead = await freePort();
    const port = await freePort();
    const broker = await startBroker({
      port,
      oidc_issuer_uri: `http://127.0.0.1:${dead}`,
      oidc_client_id: 'x',
      oidc_redirect_base: `http://127.0.0.1:${port}`,
    });
    try {
      expect((await get(broker.url, '/')).status).toBe(200);
      const res = await fetch(`${broker.url}/auth/oidc/login?return_to=${encodeURIComponent(`${broker.url}/app`)}`, {
        redirect: 'manual',
      });
      expect(res.status).toBe(302);
      expect(res.headers.get('location')).toBe(`${broker.url}/app#error=provider_unavailable`);
    } finally {
      await broker.stop();
    }
  });
});
