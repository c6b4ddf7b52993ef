// The dashboard in real Chromium against a real broker: sign in with the admin token, create a user
// through the form, see its row, open Events for its tenant and see an event inserted through the API
// appear in the live region within 2 s; a wrong token shows an error and no page; signing out ends the
// session (the cookie no longer works). Every page is screenshotted (desktop, 360 px, dark) into
// test-results/dashboard/ and each shot is checked not to be blank.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gzippedSize, BUDGET } from '../../scripts/check-bundle.mjs';
import { ADMIN, startBroker, type TestBroker } from '../helpers/broker.js';
import { post, request } from '../helpers/http.js';
import { IN_CI } from '../tls/system-binary.js';

const CHROMIUM = process.env.BROKER_TEST_CHROMIUM ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const ROOT = resolve(import.meta.dirname, '../..');
const SHOTS = resolve(ROOT, 'test-results/dashboard');
const PAGES = ['Users', 'Events', 'Streams', 'Apps', 'Topics', 'Server'] as const;
const PASSWORD = 'correct horse battery staple';

/** A screenshot is not blank: it holds more than a handful of distinct colours. */
function distinctColours(png: Buffer): number {
  const image = PNG.sync.read(png);
  const seen = new Set<number>();
  for (let i = 0; i < image.data.length && seen.size < 1000; i += 4 * 7)
    seen.add((image.data[i] << 16) | (image.data[i + 1] << 8) | image.data[i + 2]);
  return seen.size;
}

async function shoot(page: Page, name: string): Promise<void> {
  const png = await page.screenshot({ fullPage: true, animations: 'disabled' });
  writeFileSync(resolve(SHOTS, `${name}.png`), png);
  expect(distinctColours(png), `${name}.png is blank`).toBeGreaterThan(8);
}

async function signIn(page: Page, base: string, token = ADMIN): Promise<void> {
  await page.goto(`${base}/_/`);
  await page.getByLabel('Admin token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

describe.skipIf(!HAVE_CHROMIUM && !IN_CI)('the dashboard in Chromium', () => {
  let broker: TestBroker;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    // The files under test are the ones built from this checkout's dashboard/ now.
    execFileSync('npm', ['run', '-s', 'build:dashboard'], { cwd: ROOT, stdio: 'pipe' });
    mkdirSync(SHOTS, { recursive: true });
    broker = await startBroker();
    base = broker.url;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking'],
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await broker?.stop();
  });

  const newContext = (options: Parameters<Browser['newContext']>[0] = {}): Promise<BrowserContext> =>
    browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });

  it('keeps the bundle within 150 KiB gzipped', () => {
    const size = gzippedSize(resolve(ROOT, 'dist/dashboard'));
    console.log(`dashboard bundle: ${(size / 1024).toFixed(1)} KiB gzipped`);
    expect(size).toBeGreaterThan(1024);
    expect(size).toBeLessThanOrEqual(BUDGET);
  });

  it('signs in, creates a user through the form, and sees its event arrive live in Events', async () => {
    const context = await newContext();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await signIn(page, base);
    await expect.poll(() => page.getByRole('link', { name: 'Users' }).count(), { timeout: 10_000 }).toBe(1);
    for (const name of PAGES) expect(await page.getByRole('link', { name, exact: true }).count()).toBe(1);
    // The token is nowhere in the browser: not in storage, not in a readable cookie.
    const kept = await page.evaluate(() => JSON.stringify({ ...localStorage, ...sessionStorage }) + document.cookie);
    expect(kept).not.toContain(ADMIN);
    expect(kept).not.toContain('broker_session');

    const username = `dash${process.pid}`;
    const tenant = `tenant-${process.pid}`;
    await page.getByRole('button', { name: 'New user' }).click();
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByLabel('Tenant').fill(tenant);
    await page.getByRole('button', { name: 'Create' }).click();
    const row = page.getByRole('row').filter({ hasText: username });
    await row.waitFor({ timeout: 10_000 });
    expect(await row.textContent()).toContain(tenant);
    // Edit, revoke and unrevoke, and the QR code as an image, from the row.
    await row.getByRole('button', { name: 'Edit' }).click();
    await page.getByLabel('Email').fill(`${username}@example.com`);
    await page.getByRole('button', { name: 'Save' }).click();
    await page
      .getByRole('row')
      .filter({ hasText: `${username}@example.com` })
      .waitFor({ timeout: 10_000 });
    await row.getByRole('button', { name: 'Revoke' }).click();
    await row.getByRole('button', { name: 'Unrevoke' }).waitFor({ timeout: 10_000 });
    expect(await row.textContent()).toContain('revoked');
    await row.getByRole('button', { name: 'Unrevoke' }).click();
    await row.getByRole('button', { name: 'Revoke' }).waitFor({ timeout: 10_000 });
    await row.getByRole('button', { name: 'QR' }).click();
    const qr = page.getByRole('img', { name: `TOTP QR code of ${username}` });
    await qr.waitFor({ timeout: 10_000 });
    expect(await qr.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0)).toBe(true);
    await shoot(page, 'users');
    await page.getByRole('button', { name: 'Close' }).click();

    await page.getByRole('link', { name: 'Events' }).click();
    await page.getByLabel('Tenant').fill(tenant);
    await page.getByLabel('Tenant').press('Enter');
    const log = page.getByRole('log');
    await log.waitFor({ timeout: 10_000 });
    await page.getByText('live', { exact: true }).waitFor({ timeout: 10_000 });

    const login = await post<{ jwt: string }>(base, '/login', { username, password: PASSWORD });
    expect(login.status).toBe(200);
    const marker = `m${Date.now()}`;
    const started = Date.now();
    const inserted = await post(
      base,
      '/insert',
      { event: 'dashboard-test', data: { marker } },
      { authorization: `Bearer ${login.body.jwt}` },
    );
    expect(inserted.status).toBe(200);
    await log.getByText(marker).waitFor({ timeout: 2000 });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await log.textContent()).toContain('dashboard-test');
    await shoot(page, 'events');

    for (const name of ['Streams', 'Apps', 'Topics', 'Server'] as const) {
      await page.getByRole('link', { name, exact: true }).click();
      await page.getByRole('heading', { name, level: 1 }).waitFor();
      await page.waitForLoadState('networkidle').catch(() => {});
      await shoot(page, name.toLowerCase());
    }
    // The Streams page lists the Events page's tail while it was open? It closed on navigation; the
    // Server page shows the version.
    expect(await page.locator('main').textContent()).toContain('Version');
    expect(errors).toEqual([]);
    await context.close();
  }, 60_000);

  it('shows an error and no page for a wrong token', async () => {
    const context = await newContext();
    const page = await context.newPage();
    await signIn(page, base, 'not-the-admin-token-but-long-enough');
    await page.getByRole('alert').waitFor({ timeout: 10_000 });
    expect(await page.getByRole('alert').textContent()).toMatch(/wrong admin token/i);
    expect(await page.getByRole('link', { name: 'Users' }).count()).toBe(0);
    expect(await page.getByRole('navigation').count()).toBe(0);
    expect((await context.cookies()).length).toBe(0);
    await context.close();
  }, 30_000);

  it('ends the session on sign-out: the cookie no longer works', async () => {
    const context = await newContext();
    const page = await context.newPage();
    await signIn(page, base);
    await page.getByRole('link', { name: 'Users' }).waitFor({ timeout: 10_000 });
    const [cookie] = await context.cookies();
    expect(cookie.name).toBe('broker_session');
    expect(cookie.httpOnly).toBe(true);
    expect(cookie.sameSite).toBe('Strict');
    expect(cookie.path).toBe('/_/');
    const header = { cookie: `${cookie.name}=${cookie.value}` };
    expect((await request(`${base}/_/api/users`, { headers: header })).status).toBe(200);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin token').waitFor({ timeout: 10_000 });
    expect((await request(`${base}/_/api/users`, { headers: header })).status).toBe(401);
    // A reload shows the sign-in form again, not a page.
    await page.reload();
    await page.getByLabel('Admin token').waitFor({ timeout: 10_000 });
    expect(await page.getByRole('navigation').count()).toBe(0);
    await context.close();
  }, 30_000);

  it('works at 360 px wide and in dark mode', async () => {
    for (const [name, options] of [
      ['narrow', { viewport: { width: 360, height: 740 } }],
      ['dark', { colorScheme: 'dark' as const }],
    ] as const) {
      const context = await newContext(options);
      const page = await context.newPage();
      await signIn(page, base);
      await page.getByRole('link', { name: 'Users' }).waitFor({ timeout: 10_000 });
      await page.getByRole('row').nth(1).waitFor({ timeout: 10_000 });
      await shoot(page, `users-${name}`);
      // Nothing is wider than the window: the table scrolls inside its own box.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow).toBeLessThanOrEqual(0);
      if (name === 'dark') {
        const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
        expect(bg).toBe('rgb(17, 19, 23)');
      }
      await context.close();
    }
  }, 60_000);
});
