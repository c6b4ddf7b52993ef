// Eight tabs of the example page in one Chromium profile, all signed in and live. A browser allows six
// HTTP/1.1 connections per host and each open stream holds one: before the fix, tabs 7 and 8 stayed
// "signed out" (their login request queued behind six streams, with no error). Now the tabs share one
// stream (the client's Web Lock leader relays it over a BroadcastChannel), and HTTPS speaks HTTP/2,
// which multiplexes everything over one connection anyway. Closing the leading tab hands the stream to
// another, which resumes from its last id: no tab misses an event or sees one twice.
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveExample } from '../../examples/static-server.mjs';
import { spawnBroker, tempDir, type ChildBroker } from '../helpers/broker.js';
import { httpsRequest } from '../tls/https-client.js';
import { IN_CI } from '../tls/system-binary.js';
import { issue, type Issued } from '../tls/x509.js';

const CHROMIUM = process.env.BROKER_TEST_CHROMIUM ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const PASSWORD = 'correct horse battery staple';
const ADMIN_TOKEN = 'many-tabs-admin-token-long-enough-for-secure-0123456789';
const JWT_SECRET = 'many-tabs-jwt-secret-long-enough-for-secure-0123456789';
const TABS = 8;
if (!HAVE_CHROMIUM && !IN_CI)
  console.warn(
    `browser test skipped: ${CHROMIUM} is not installed (apt-get install chromium); under CI (CI=true, CI=1, ` +
      `...) it fails instead`,
  );

interface PageState {
  received: number[];
  subscription?: { leading: boolean; sharing: string };
}

const stateOf = (page: Page) =>
  page.evaluate(() => {
    const s = (window as unknown as { brokerExample: PageState }).brokerExample;
    return { received: [...s.received], leading: s.subscription?.leading ?? false, sharing: s.subscription?.sharing };
  });

async function signIn(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.fill('#login input[name=username]', 'alice');
  await page.fill('#login input[name=password]', PASSWORD);
  await page.click('#login button[type=submit]');
  await page.waitForSelector('#status.live', { timeout: 15_000 });
}

async function post(base: string, path: string, body: unknown, ca?: string): Promise<{ status: number; body: any }> {
  if (ca) return httpsRequest(`${base}${path}`, { ca, body });
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
  return { status: res.status, body: await res.json() };
}

describe.skipIf(!HAVE_CHROMIUM && !IN_CI)('eight tabs of the example in one Chromium profile', () => {
  let dir: string;
  let cert: Issued;
  let browser: Browser;
  const cleanup: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    if (!HAVE_CHROMIUM) throw new Error(`CI=${process.env.CI} but ${CHROMIUM} is missing: install Debian's chromium`);
    dir = tempDir('broker-tabs-');
    cert = issue({ cn: '127.0.0.1', names: ['127.0.0.1', 'localhost'] });
    mkdirSync(join(dir, 'tls'));
    writeFileSync(join(dir, 'tls', 'cert.pem'), cert.certPem);
    writeFileSync(join(dir, 'tls', 'key.pem'), cert.keyPem, { mode: 0o600 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--headless',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-quic',
        '--ignore-certificate-errors',
        '--no-first-run',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  }, 60_000);

  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => {});
    await browser?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function run(secure: boolean): Promise<void> {
    let brokerUrl: string | undefined;
    const site = await serveExample({ brokerUrl: () => brokerUrl });
    cleanup.push(() => site.close());
    const db = join(dir, secure ? 'db-https' : 'db-http');
    const tls = [
      '--secure',
      '--auto_cert=false',
      '--cert_path',
      join(dir, 'tls', 'cert.pem'),
      '--key_path',
      join(dir, 'tls', 'key.pem'),
      '--https_port',
      '0',
      '--http_port',
      '0',
    ];
    const broker: ChildBroker = await spawnBroker([
      ...(secure ? tls : []),
      '--db',
      db,
      '--admin_token',
      ADMIN_TOKEN,
      '--jwt_secret',
      JWT_SECRET,
      '--log_level',
      'info',
      '--origin',
      site.url,
    ]);
    cleanup.push(() => broker.kill());
    brokerUrl = broker.url;
    const ca = secure ? cert.certPem : undefined;
    expect(
      (
        await post(
          broker.url,
          '/create_user',
          { admin_token: ADMIN_TOKEN, username: 'alice', password: PASSWORD, tenant_name: 'demo' },
          ca,
        )
      ).status,
    ).toBe(200);

    const context: BrowserContext = await browser.newContext({ ignoreHTTPSErrors: true });
    cleanup.push(() => context.close());
    const pageErrors: string[] = [];
    const protocols = new Set<string>();
    const pages: Page[] = [];
    for (let i = 0; i < TABS; i++) {
      const page = await context.newPage();
      page.on('pageerror', (err) => pageErrors.push(err.message));
      // Which protocol Chromium used for the broker's answers (CDP's Network domain says it as is).
      const cdp = await context.newCDPSession(page);
      await cdp.send('Network.enable');
      cdp.on('Network.responseReceived', (e) => {
        if (e.response.url.startsWith(broker.url)) protocols.add(e.response.protocol ?? '?');
      });
      pages.push(page);
    }
    for (const page of pages) await signIn(page, site.url);

    // Every tab is live: an insert from one appears in all eight.
    await pages[0].fill('#shared-form input[name=title]', `from tab 1 over ${secure ? 'https' : 'http'}`);
    for (const page of pages)
      await expect
        .poll(() => page.inputValue('#shared-form input[name=title]'), { timeout: 15_000 })
        .toBe(`from tab 1 over ${secure ? 'https' : 'http'}`);
    const states = await Promise.all(pages.map(stateOf));
    expect(states.every((s) => s.sharing === 'shared')).toBe(true);
    expect(states.filter((s) => s.leading)).toHaveLength(1);

    // The leading tab closes: another takes the stream over, and every remaining tab keeps every event.
    const leader = pages[states.findIndex((s) => s.leading)];
    // The edit goes in while no tab holds the stream yet: the new leader's resume must replay it.
    await leader.close();
    const rest = pages.filter((p) => p !== leader);
    await rest[rest.length - 1].fill('#shared-form textarea[name=notes]', 'after the handover');
    await expect
      .poll(async () => (await Promise.all(rest.map(stateOf))).filter((s) => s.leading).length, { timeout: 15_000 })
      .toBe(1);
    for (const page of rest)
      await expect
        .poll(() => page.inputValue('#shared-form textarea[name=notes]'), { timeout: 15_000 })
        .toBe('after the handover');
    await rest[0].selectOption('#shared-form select[name=status]', 'review');
    for (const page of rest)
      await expect.poll(() => page.inputValue('#shared-form select[name=status]'), { timeout: 15_000 }).toBe('review');

    // The tenant's history, from the broker: each tab received all of it, in order, none twice.
    const login = await post(broker.url, '/login', { username: 'alice', password: PASSWORD }, ca);
    const history = secure
      ? await httpsRequest(`${broker.url}/events?after=0&limit=1000`, {
          ca: ca!,
          headers: { authorization: `Bearer ${login.body.jwt}` },
        })
      : {
          body: await (
            await fetch(`${broker.url}/events?after=0&limit=1000`, {
              headers: { authorization: `Bearer ${login.body.jwt}` },
            })
          ).json(),
        };
    const allIds = (history.body as { events: Array<{ id: number }> }).events.map((e) => e.id);
    expect(allIds.length).toBeGreaterThanOrEqual(3);
    for (const page of rest)
      await expect.poll(async () => (await stateOf(page)).received, { timeout: 15_000 }).toEqual(allIds);

    if (secure) expect([...protocols]).toEqual(['h2']);
    else expect([...protocols]).toEqual(['http/1.1']);
    expect(pageErrors).toEqual([]);
  }

  it('over HTTP/1.1: all eight tabs sign in and stay live, across the leading tab closing', () => run(false), 120_000);

  it(
    'over HTTPS, with h2 negotiated: all eight tabs sign in and stay live, across the leading tab closing',
    () => run(true),
    120_000,
  );
});
