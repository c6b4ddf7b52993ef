// Two-factor login with codes an authenticator app computes from the QR, and password reset codes.
import jsQRModule from 'jsqr';
import { authenticator } from 'otplib';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, startBroker, type TestBroker } from '../helpers/broker.js';
import { bearer, get, makeUser, post } from '../helpers/http.js';

let broker: TestBroker;
let base: string;
/** The server's clock, moved by tests; codes below are computed at the same instant. */
let now = Date.now();

beforeAll(async () => {
  broker = await startBroker({ totp_duration: 300 }, { now: () => now });
  base = broker.url;
});
afterAll(() => broker.stop());

// jsqr is CommonJS with an ES-style default export: under NodeNext the default import is the module.
type QrReader = (data: Uint8ClampedArray, width: number, height: number) => { data: string } | null;
const jsQR = ((jsQRModule as unknown as { default?: QrReader }).default ?? jsQRModule) as unknown as QrReader;

function decodeQr(base64: string): string {
  const png = PNG.sync.read(Buffer.from(base64, 'base64'));
  const code = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  if (!code) throw new Error('no QR code found in the PNG');
  return code.data;
}

/** What Google Authenticator computes: RFC 6238, SHA-1, 6 digits, 30 s, from the URI's secret. */
function appCode(uri: string, atMs: number): string {
  const secret = new URL(uri).searchParams.get('secret')!;
  return authenticator.clone({ epoch: atMs, step: 30, digits: 6 }).generate(secret);
}

async function twoFactorUser(): Promise<{ username: string; password: string; uri: string }> {
  const u = await makeUser(base, { two_factor: true });
  const qr = await post(base, '/create_qr', { admin_token: ADMIN, username: u.username, issuer: 'Acme Corp' });
  expect(qr.status).toBe(200);
  return { username: u.username, password: u.password, uri: decodeQr(qr.body.qr) };
}

describe('create_qr', () => {
  it('returns a PNG whose QR decodes to the standard otpauth URI', async () => {
    const { username, uri } = await twoFactorUser();
    const url = new URL(uri);
    expect(url.protocol).toBe('otpauth:');
    expect(url.host).toBe('totp');
    expect(decodeURIComponent(url.pathname)).toBe(`/Acme Corp:${username}`);
    expect(url.searchParams.get('issuer')).toBe('Acme Corp');
    expect(url.searchParams.get('secret')).toMatch(/^[A-Z2-7]{16,}$/);
  });

  it('without an issuer (or with null) names the issuer Broker', async () => {
    const u = await makeUser(base, { two_factor: true });
    for (const body of [{}, { issuer: null }]) {
      const qr = await post(base, '/create_qr', { admin_token: ADMIN, username: u.username, ...body });
      expect(qr.status, qr.text).toBe(200);
      const url = new URL(decodeQr(qr.body.qr));
      expect(url.searchParams.get('issuer')).toBe('Broker');
      expect(decodeURIComponent(url.pathname)).toBe(`/Broker:${u.username}`);
    }
    expect((await post(base, '/create_qr', { admin_token: ADMIN, username: u.username, issuer: 7 })).status).toBe(400);
  });
});

describe('two-factor login', () => {
  it('logs in with the code an authenticator computes, and refuses that code the second time', async () => {
    const { username, password, uri } = await twoFactorUser();
    const code = appCode(uri, now);
    const first = await post(base, '/login', { username, password, totp: code });
    expect(first.status).toBe(200);
    expect((await get(base, '/verify', bearer(first.body.jwt))).status).toBe(200);
    const replay = await post(base, '/login', { username, password, totp: code });
    expect(replay.status).toBe(401);
  });

  it('accepts one step of drift either way, not two', async () => {
    const { username, password, uri } = await twoFactorUser();
    // A code from the previous step works (the phone is 30 s behind)...
    now += 60_000;
    expect((await post(base, '/login', { username, password, totp: appCode(uri, now - 30_000) })).status).toBe(200);
    // ...and from the next step (the phone is ahead), which also moves the used-step mark forward.
    now += 60_000;
    expect((await post(base, '/login', { username, password, totp: appCode(uri, now + 30_000) })).status).toBe(200);
    now += 120_000;
    expect((await post(base, '/login', { username, password, totp: appCode(uri, now - 60_000) })).status).toBe(401);
    now += 120_000;
    expect((await post(base, '/login', { username, password, totp: appCode(uri, now + 60_000) })).status).toBe(401);
  });

  it('a missing or wrong code → the same 401 as a wrong password', async () => {
    const { username, password, uri } = await twoFactorUser();
    now += 90_000;
    const missing = await post(base, '/login', { username, password });
    const wrong = await post(base, '/login', {
      username,
      password,
      totp: appCode(uri, now) === '000000' ? '111111' : '000000',
    });
    const badPassword = await post(base, '/login', { username, password: 'nope', totp: appCode(uri, now) });
    expect([missing.status, wrong.status, badPassword.status]).toEqual([401, 401, 401]);
    expect(new Set([missing.text, wrong.text, badPassword.text]).size).toBe(1);
    // Three failures lock the account; a later success resets after the lock.
    now += 120_000;
    expect((await post(base, '/login', { username, password, totp: appCode(uri, now) })).status).toBe(200);
  });

  it('two-factor users cannot bypass the code with Basic auth', async () => {
    const { username, password } = await twoFactorUser();
    const res = await get(base, '/verify', {
      authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`,
    });
    expect(res.status).toBe(401);
  });

  it('recovery codes log in once each in place of a code', async () => {
    const { username, password } = await twoFactorUser();
    const res = await post(base, '/create_recovery_codes', { admin_token: ADMIN, username });
    expect(res.status).toBe(200);
    expect(res.body.codes).toHaveLength(10);
    expect(new Set(res.body.codes).size).toBe(10);
    const [a, b] = res.body.codes as string[];
    expect((await post(base, '/login', { username, password, totp: a })).status).toBe(200);
    expect((await post(base, '/login', { username, password, totp: a })).status).toBe(401);
    expect((await post(base, '/login', { username, password, totp: b.toLowerCase() })).status).toBe(200);
    const listed = (await post(base, '/get_user', { admin_token: ADMIN, username })).text;
    expect(listed).not.toContain(a);
  });
});

describe('password reset', () => {
  it('create_totp issues a code that password_reset accepts once', async () => {
    const u = await makeUser(base);
    const code = await post(base, '/create_totp', { admin_token: ADMIN, username: u.username });
    expect(code.status).toBe(200);
    expect(code.body.totp).toMatch(/^\d{6}$/);
    const reset = await post(base, '/password_reset', {
      username: u.username,
      totp: code.body.totp,
      password: 'brand-new-pw',
    });
    expect(reset.status).toBe(200);
    expect((await post(base, '/login', { username: u.username, password: u.password })).status).toBe(401);
    expect((await post(base, '/login', { username: u.username, password: 'brand-new-pw' })).status).toBe(200);
    // Tokens from before the reset are refused.
    expect((await get(base, '/verify', bearer(u.jwt))).status).toBe(401);
    const reuse = await post(base, '/password_reset', {
      username: u.username,
      totp: code.body.totp,
      password: 'another-pw',
    });
    expect(reuse.status).toBe(401);
  });

  it("refuses a wrong code, an expired code, and another user's code", async () => {
    const u = await makeUser(base);
    const other = await makeUser(base);
    const code = (await post(base, '/create_totp', { admin_token: ADMIN, username: u.username })).body.totp as string;
    // Another user's valid code must not work here: draw until it differs (1 in 10^6 it does not).
    let otherCode = code;
    while (otherCode === code)
      otherCode = (await post(base, '/create_totp', { admin_token: ADMIN, username: other.username })).body
        .totp as string;
    const wrong = code === '000000' ? '000001' : '000000';
    expect(
      (await post(base, '/password_reset', { username: u.username, totp: wrong, password: 'reset attempt 1' })).status,
    ).toBe(401);
    expect(
      (await post(base, '/password_reset', { username: u.username, totp: otherCode, password: 'reset attempt 2' }))
        .status,
    ).toBe(401);
    expect(
      (await post(base, '/password_reset', { username: 'nobody-here', totp: code, password: 'reset attempt 3' }))
        .status,
    ).toBe(401);
    now += 301_000;
    expect(
      (await post(base, '/password_reset', { username: u.username, totp: code, password: 'reset attempt 4' })).status,
    ).toBe(401);
    expect((await post(base, '/login', { username: u.username, password: u.password })).status).toBe(200);
  });

  it('a reset code dies after five wrong guesses', async () => {
    const u = await makeUser(base);
    const code = (await post(base, '/create_totp', { admin_token: ADMIN, username: u.username })).body.totp as string;
    const wrong = code === '999999' ? '999998' : '999999';
    for (let i = 0; i < 5; i++)
      expect(
        (await post(base, '/password_reset', { username: u.username, totp: wrong, password: 'reset attempt' })).status,
      ).toBe(401);
    expect(
      (await post(base, '/password_reset', { username: u.username, totp: code, password: 'finally a password' }))
        .status,
    ).toBe(401);
  });

  it('four wrong guesses leave the fifth to the right code', async () => {
    const u = await makeUser(base);
    const code = (await post(base, '/create_totp', { admin_token: ADMIN, username: u.username })).body.totp as string;
    const wrong = code === '999999' ? '999998' : '999999';
    for (let i = 0; i < 4; i++)
      expect(
        (await post(base, '/password_reset', { username: u.username, totp: wrong, password: 'reset attempt' })).status,
      ).toBe(401);
    expect(
      (await post(base, '/password_reset', { username: u.username, totp: code, password: 'the fifth guess' })).status,
    ).toBe(200);
  });

  it('holds its five guesses under a parallel burst: the right code 40th of 101 is refused', async () => {
    const u = await makeUser(base);
    const code = (await post(base, '/create_totp', { admin_token: ADMIN, username: u.username })).body.totp as string;
    const guesses = Array.from({ length: 101 }, (_, i) =>
      i === 39 ? code : String((Number(code) + 1 + i) % 1_000_000).padStart(6, '0'),
    );
    const answers = await Promise.all(
      guesses.map((totp) => post(base, '/password_reset', { username: u.username, totp, password: 'burst password' })),
    );
    expect(
      answers.map((a) => a.status).filter((s) => s !== 401),
      'only refusals',
    ).toEqual([]);
    const record = broker.services.storage.users.get(u.username) as { reset: { attempts: number } | null };
    expect(record.reset?.attempts).toBe(5);
    expect((await post(base, '/login', { username: u.username, password: u.password })).status).toBe(200);
  });
});

describe('password checker', () => {
  it('with --password_checker, a weak password → 400 with zxcvbn feedback; a strong one passes', async () => {
    const strict = await startBroker({ password_checker: true });
    try {
      const weak = await post(strict.url, '/create_user', {
        admin_token: ADMIN,
        username: 'weak',
        password: 'password1',
        tenant_name: 't',
      });
      expect(weak.status).toBe(400);
      expect(weak.body.error).toMatch(/too weak/);
      expect(weak.body.error.length).toBeGreaterThan('password is too weak'.length);
      const strong = await post(strict.url, '/create_user', {
        admin_token: ADMIN,
        username: 'strong',
        password: 'violet-Quarry-97-tundra!',
        tenant_name: 't',
      });
      expect(strong.status).toBe(200);
      // zxcvbn only reads the first 100 characters: a huge password answers quickly.
      const started = Date.now();
      const huge = await post(strict.url, '/create_user', {
        admin_token: ADMIN,
        username: 'huge',
        password: 'a'.repeat(50_000),
        tenant_name: 't',
      });
      expect(huge.status).toBe(400);
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      await strict.stop();
    }
  });
});
